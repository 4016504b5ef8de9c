"""SR-TOD: reconstruction head, difference map, DGFE, data preprocessor, detector integration."""
