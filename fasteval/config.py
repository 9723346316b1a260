"""The run's configuration as the library receives it: typed, validated, one object.

Library code takes a `RunConfig`, never an `argparse.Namespace`, so a misspelt attribute fails
mypy; `fasteval.cli.config.build_config` checks every value before a dataset is read or a request
is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fasteval.errors import FastevalError
from fasteval.resources import cache_dir

Mode = Literal["all", "infer", "eval", "perf"]
Unparsed = Literal["seeded", "z"]


class ConfigError(FastevalError):
    """A flag value that cannot work (one line: the flag, the value, what is allowed)."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one `bench.py` run was asked to do, validated. Field names follow the flags."""

    mode: Mode
    data: tuple[str, ...]
    model: tuple[str, ...]
    work_dir: Path
    lmudata: Path
    dataset_cache: Path  # fasteval's own conversions and MD5s: never written into LMUData
    api_base: tuple[str, ...]
    model_name: str | None
    concurrency: tuple[int, ...]
    retry: int
    max_tokens: int
    temperature: float
    timeout: float
    limit: int | None
    prompt_style: str | None
    rules: str
    pred: Path | None
    no_download: bool
    state_dir: Path | None
    verbose: bool
    seed: int
    pred_format: str
    # judge
    judge: str | None
    judge_base_url: str | None
    judge_key: str | None = field(repr=False)
    judge_concurrency: int
    judge_fallback: Literal["error", "exact_matching"]
    judge_unparsed: Unparsed
    # throughput
    request_rate: tuple[float, ...]
    burstiness: float
    num_prompts: int | None
    warmup: int
    ignore_eos: bool
    goodput: tuple[str, ...]
    percentiles: tuple[float, ...]
    synthetic: str | None
    api_key: str | None = field(default=None, repr=False)  # --api-key, else FASTEVAL_API_KEY
    # issue 13: the model family's per-benchmark request settings (fasteval/models/families.py)
    model_family: str | None = None  # --model-family FAMILY[:ENGINE]; None: the registry entry's
    max_tokens_given: bool = True  # --max-tokens was on the command line: it beats the family's limit
    temperature_given: bool = True  # --temperature was on the command line: it beats the family's decoding
    dry_run: int | None = None  # --dry-run N: print the first N request bodies per benchmark, send nothing
    frame_cache: Path | None = None  # video frames fasteval extracts; None: beside dataset_cache


class Secret:
    """A string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    openai_api_key: Secret | None
    openai_api_base: str | None  # judge endpoint, VLMEvalKit style (may end in /chat/completions)
    local_llm: str | None  # judge model id served locally (VLMEvalKit's LOCAL_LLM)
    lmudata: Path
    pred_format: str  # "xlsx" (VLMEvalKit's default) or "tsv"
    # fasteval's own cache: dataset conversions and MD5s ($FASTEVAL_CACHE, default ~/.cache/fasteval)
    cache_dir: Path = field(default_factory=cache_dir)
