"""srtod.evaluation."""
