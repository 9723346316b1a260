"""fasteval: evaluate vision-language models at the speed of the serving engine, scoring like VLMEvalKit."""

__version__ = "0.1.0"
