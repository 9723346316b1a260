"""Data in: benchmark specs, dataset files (download, MD5, Parquet cache), VLMEvalKit-faithful tables."""
