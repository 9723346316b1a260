"""Configuration from the environment and `.env`, read once by the CLI and passed down as values.

VLMEvalKit reads `OPENAI_API_KEY`, `OPENAI_API_BASE`, `LOCAL_LLM`, `LMUData` and `PRED_FORMAT`
from the environment and a `.env` file; fasteval reads the same keys. One difference, on
purpose: a variable already set in the environment wins over `.env` (VLMEvalKit lets `.env`
overwrite it), so a one-off `OPENAI_API_BASE=... python bench.py` does what it says.

Keys are wrapped in `Secret` (`fasteval.config`) so that no repr, log line or result file can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from fasteval.config import ConfigError, Secret, Settings
from fasteval.resources import cache_dir


def merged_env(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    """`.env` values under the process environment (environment wins; empty values ignored)."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        try:
            values = dotenv_values(dotenv_path)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{dotenv_path} is not UTF-8 text ({exc.reason}): fix or remove it") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {dotenv_path}: {exc.strerror}: fix or remove it") from None
        for key, value in values.items():
            if value and "\x00" in value:  # a path or a key with a NUL byte can be neither
                raise ConfigError(f"{dotenv_path}: {key} holds a NUL byte: fix or remove the line")
        merged.update({k: v for k, v in values.items() if v})
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
