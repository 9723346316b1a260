"""Configuration from the environment and `.env`, read once by the CLI and passed down as values.

VLMEvalKit reads `OPENAI_API_KEY`, `OPENAI_API_BASE`, `LOCAL_LLM`, `LMUData` and `PRED_FORMAT`
from the environment and a `.env` file; fasteval reads the same keys. One difference, on
purpose: a variable already set in the environment wins over `.env` (VLMEvalKit lets `.env`
overwrite it), so a one-off `OPENAI_API_BASE=... python bench.py` does what it says.

Keys are wrapped in `Secret` so that no repr, log line or result file can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from fasteval.resources import cache_dir


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


def merged_env(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    """`.env` values under the process environment (environment wins; empty values ignored)."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v})
    merged.update({k: v for k, v in environ.items() if v})
    return merged


def load_settings(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    env = merged_env(os.environ if environ is None else environ, (cwd or Path.cwd()) / ".env")
    key = env.get("OPENAI_API_KEY")
    lmu = env.get("LMUData")
    pred_format = env.get("PRED_FORMAT", "xlsx").lower()
    if pred_format not in ("xlsx", "tsv"):
        pred_format = "xlsx"
    return Settings(
        openai_api_key=Secret(key) if key else None,
        openai_api_base=env.get("OPENAI_API_BASE"),
        local_llm=env.get("LOCAL_LLM"),
        lmudata=Path(lmu).expanduser() if lmu else Path.home() / "LMUData",
        pred_format=pred_format,
        cache_dir=cache_dir(env),
    )
