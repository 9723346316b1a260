"""Engines: the model registry and the vLLM/LMDeploy server lifecycle behind `make serve`."""
