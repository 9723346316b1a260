"""The model registry: `engines/models.toml` read into frozen `ModelEntry` records.

The TOML file is the user's to edit (as VLMEvalKit's `vlmeval/config.py` is); this module only reads it,
applies the per-run path overrides, and names close matches when a model is unknown.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast, get_args

from fasteval.errors import FastevalError
from fasteval.models.families import VLLM_REQUEST_KWARGS_FLAG, FamilyError, get_family
from fasteval.resources import cache_dir, data_dir

Engine = Literal["vllm", "lmdeploy", "vllm-cpu"]
PromptStyle = Literal["internvl2", "qwen2vl", "default"]
Role = Literal["vlm", "judge"]

ENGINES: tuple[str, ...] = get_args(Engine)
DEFAULT_PORTS: dict[str, int] = {"vlm": 8000, "judge": 23333}


class RegistryError(FastevalError):
    """A model name or a registry entry that fasteval cannot use."""


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One served model: everything needed to launch it and to prompt it like VLMEvalKit does."""

    name: str
    path: str  # hub id or local folder, `${FASTEVAL_CACHE}` already expanded
    engine: Engine = "vllm"
    served_name: str = ""  # "" means `name`; see `served`
    tp: int = 1
    trust_remote_code: bool = False
    max_model_len: int | None = None
    images_per_prompt: int = 1
    chat_template: str | None = None
    lmdeploy_chat_template: str | None = None
    lmdeploy_backend: Literal["turbomind", "pytorch"] = "turbomind"
    cache_max_entry_count: float | None = None
    prompt_style: PromptStyle = "default"
    role: Role = "vlm"
    port: int | None = None
    vllm_args: tuple[str, ...] = ()
    lmdeploy_args: tuple[str, ...] = ()
    builder: str | None = None  # engines/-relative script that builds the model offline at `path`
    family: str | None = None  # fasteval.models.families key: per-benchmark tiles, pixels, token limit
    max_new_tokens: int | None = None  # its own generation limit, beating the family's (VLMEvalKit config)

    @property
    def served(self) -> str:
        """The name the server lists in /v1/models and requests must use."""
        return self.served_name or self.name

    @property
    def default_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.role]

    @property
    def builder_path(self) -> Path | None:
        return data_dir("engines") / self.builder if self.builder else None


@dataclass(frozen=True, slots=True)
class EngineDefaults:
    """Flags and environment every launch of one engine gets (the `[engines.*]` tables)."""

    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None


def path_env_var(name: str) -> str:
    """The environment variable that overrides one model's path: FASTEVAL_MODEL_PATH_<NAME>."""
    return "FASTEVAL_MODEL_PATH_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def registry_file() -> Path:
    return data_dir("engines") / "models.toml"


@cache
def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RegistryError(f"cannot read the model registry {path}: {e}; fix the file") from e


_FIELDS = frozenset(ModelEntry.__dataclass_fields__) - {"name"}


def _entry(name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> ModelEntry:
    unknown = set(raw) - _FIELDS
    if unknown:
        raise RegistryError(
            f"model {name!r} in models.toml has unknown field(s) {sorted(unknown)}; fix the entry"
        )
    if "path" not in raw:
        raise RegistryError(f"model {name!r} in models.toml has no `path`; add the hub id or local folder")
    fields = dict(raw)
    for key in ("vllm_args", "lmdeploy_args"):
        fields[key] = tuple(str(a) for a in fields.get(key, ()))
    fields["path"] = str(fields["path"]).replace("${FASTEVAL_CACHE}", str(cache_dir(env)))
    entry = ModelEntry(name=name, **fields)
    if entry.engine not in ENGINES:
        raise RegistryError(f"model {name!r} has engine {entry.engine!r}; use one of {', '.join(ENGINES)}")
    if entry.family is not None:
        try:
            family = get_family(entry.family)
        except FamilyError as e:
            raise RegistryError(f"model {name!r} in models.toml: {e}") from None
        # vLLM refuses per-request processor kwargs unless the server allows them
        if family and family.per_request_kwargs and VLLM_REQUEST_KWARGS_FLAG not in entry.vllm_args:
            entry = replace(entry, vllm_args=(*entry.vllm_args, VLLM_REQUEST_KWARGS_FLAG))
    return entry


def all_models(env: Mapping[str, str] | None = None) -> list[ModelEntry]:
    """Every registered model, in file order, with environment path overrides applied."""
    env = os.environ if env is None else env
    models = cast(dict[str, Any], _load(registry_file()).get("models", {}))
    return [_with_env_path(_entry(n, raw, env), env) for n, raw in models.items()]


def _with_env_path(entry: ModelEntry, env: Mapping[str, str]) -> ModelEntry:
    override = env.get(path_env_var(entry.name))
    return replace(entry, path=override) if override else entry


def get_model(name: str, *, path: str | None = None, env: Mapping[str, str] | None = None) -> ModelEntry:
    """The entry for `name`; `path` (MODEL_PATH=) beats FASTEVAL_MODEL_PATH_<NAME>, which beats the file."""
    env = os.environ if env is None else env
    models = cast(dict[str, Any], _load(registry_file()).get("models", {}))
    if name not in models:
        close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(models)}"
        raise RegistryError(f"unknown model {name!r}: {hint} (add it to {registry_file()})")
    entry = _with_env_path(_entry(name, models[name], env), env)
    return replace(entry, path=path) if path else entry


def engine_defaults(engine: str) -> EngineDefaults:
    """The `[engines.<engine>]` table: default flags and environment for every launch."""
    raw = cast(dict[str, Any], _load(registry_file()).get("engines", {})).get(engine, {})
    return EngineDefaults(
        args=tuple(str(a) for a in raw.get("args", ())),
        env={str(k): str(v) for k, v in raw.get("env", {}).items()},
    )
