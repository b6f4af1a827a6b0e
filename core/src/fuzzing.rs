//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test.
