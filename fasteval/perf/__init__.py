"""Serving figures: vLLM-named metrics as pure functions, throughput sweeps and their plots."""
