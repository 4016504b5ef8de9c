"""srtod.analysis."""
