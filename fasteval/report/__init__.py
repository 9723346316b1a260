"""Reports written: VLMEvalKit-layout score files, summaries."""
