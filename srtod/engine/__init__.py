"""srtod.engine."""
