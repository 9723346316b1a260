"""The LLM judge: which judge, its health, its cached calls, try policies and the pipeline stage."""
