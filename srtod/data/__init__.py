"""srtod.data."""
