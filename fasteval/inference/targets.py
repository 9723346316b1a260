"""Which model(s) to evaluate: `--api-base` endpoints, or the servers `make serve` recorded; one
function (`resolve_targets`) for runs and `--dry-run` (which contacts nothing).

Replicas of one served model (several `--api-base` URLs, or several recorded servers with the same
served name) become one target whose endpoints share the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from fasteval.config import RunConfig
from fasteval.errors import FastevalError
from fasteval.inference.endpoints import KeyRefused, list_models, redact_url
from fasteval.inference.runner import Target
from fasteval.models.families import NO_FAMILY, RequestPlan, get_family, make_plan, parse_family_flag
from fasteval.models.registry import ModelEntry, RegistryError, all_models, get_model
from fasteval.models.servers import ServerState, default_state_dir, redact_argv, running_servers
from fasteval.resources import safe_name, shown, unsafe_name


class NoModel(FastevalError):
    """No server to evaluate was named or found."""


async def resolve_targets(cfg: RunConfig, *, contact: bool = True) -> list[Target]:
    """The models a run evaluates, for runs and dry runs alike.

    `--api-base` names the endpoint(s); its served name is `--model-name`, else asked of its
    `/v1/models`. Otherwise the servers `make serve` recorded. A dry run (`contact=False`) makes no
    network call and needs no running server: `--api-base` then needs `--model-name` (or `--model`),
    and `--model` names registry entries (with the engine of a recorded server, if one runs).
    """
    if cfg.api_base:
        return [await _endpoint_target(cfg, contact)]
    servers = running_servers(cfg.state_dir or default_state_dir(), role="vlm")
    if not contact:
        return _registry_targets(cfg, servers)
    return _server_targets(cfg, servers)


async def _endpoint_target(cfg: RunConfig, contact: bool) -> Target:
    """The one model behind the `--api-base` endpoint(s): family settings as `run_settings` resolves
    them (`--model-family`, else the registry entry named by `--model`, in full, else none)."""
    served = cfg.model_name
    if not served and not contact:
        served = cfg.model[0] if cfg.model else None
        if not served:
            raise NoModel("--dry-run with --api-base contacts nothing: name the model with --model-name")
    if not served:
        served = await _discover_served_name(list(cfg.api_base), cfg.api_key)
    names = list(cfg.model) or [safe_name(served)]
    if len(names) != 1:
        raise NoModel("--api-base serves one model: pass one --model (the output name) with it")
    settings = run_settings(cfg, names[0], None)
    return Target(
        rules=cfg.rules,
        name=names[0],
        served_name=served,
        endpoints=tuple(cfg.api_base),
        prompt_style=settings.prompt_style,
        origin={
            "api_base": [redact_url(u) for u in cfg.api_base],
            "request_settings": settings.summary(names[0]),
            **({} if cfg.model else _folder_from(served)),
        },
        plan=settings.plan,
    )


def _server_targets(cfg: RunConfig, servers: list[ServerState]) -> list[Target]:
    """The recorded servers `--model` names (or the only one running); replicas pool their endpoints."""
    if not servers:
        raise NoModel(
            "no model server is running: start one with `make serve MODEL=InternVL2-2B`, "
            "or evaluate any OpenAI-compatible endpoint with --api-base http://HOST:PORT/v1"
        )
    if cfg.model:
        by_name = {s.name: s for s in servers} | {s.served_name: s for s in servers}
        missing = [m for m in cfg.model if m not in by_name]
        if missing:
            raise NoModel(
                f"model {shown(missing)} is not running (running: {shown([s.name for s in servers])}): "
                + _serve_hint(missing[0])
            )
        chosen = [by_name[m] for m in cfg.model]
    elif len(servers) > 1:
        raise NoModel(
            f"several models are running ({shown([s.name for s in servers])}): pick one with --model"
        )
    else:
        chosen = servers
    by_base: dict[str, list[ServerState]] = {}
    for s in chosen:  # replicas of one model (same served name) pool their endpoints
        by_base.setdefault(s.served_name, []).append(s)
    origin = {
        served: {
            "engine": g[0].engine,
            "argv": list(redact_argv(g[0].argv)),
            "servers": [s.base_url for s in g],
            **_folder_from(g[0].name),
        }
        for served, g in by_base.items()
    }
    return [
        _registry_target(
            cfg, group[0].name, served, tuple(s.base_url for s in group), group[0].engine, origin[served]
        )
        for served, group in by_base.items()
    ]


def _registry_targets(cfg: RunConfig, servers: list[ServerState]) -> list[Target]:
    """A dry run's models: the registry entries `--model` names (or the one recorded server's),
    with the engine a recorded server runs, else the entry's; no endpoint is needed."""
    recorded = {s.name: s.engine for s in servers}
    if not cfg.model and len(recorded) != 1:
        raise NoModel("--dry-run needs --model NAME (an engines/models.toml entry) or --api-base")
    targets = []
    for name in cfg.model or tuple(recorded):
        entry = get_model(name)
        engine = recorded.get(name, entry.engine)
        targets.append(_registry_target(cfg, entry.name, entry.served, (), engine, {"engine": engine}))
    return targets


def _registry_target(
    cfg: RunConfig,
    name: str,
    served: str,
    endpoints: tuple[str, ...],
    engine: str | None,
    origin: dict[str, Any],
) -> Target:
    """A model `make serve` knows: its registry entry's prompt style, image limit and family settings."""
    settings = run_settings(cfg, name, engine)
    entry = _registered(name)
    return Target(
        rules=cfg.rules,
        name=safe_name(name),
        served_name=served,
        endpoints=endpoints,
        prompt_style=settings.prompt_style,
        origin={**origin, "request_settings": settings.summary(name)},
        plan=settings.plan,
        max_images=entry.images_per_prompt if entry else None,
    )


async def _discover_served_name(bases: list[str], api_key: str | None) -> str:
    async with aiohttp.ClientSession() as session:
        try:
            models = await list_models(session, bases[0], api_key)
        except KeyRefused:
            raise  # the server is up: the key is the problem, and the message says so
        except Exception as exc:  # any failure here is "cannot reach": say which URL and what to do
            raise NoModel(
                f"cannot list models at {redact_url(bases[0])}/models ({exc}): "
                "check the URL or pass --model-name"
            ) from None
    if len(models) == 1:
        return models[0]
    if not models:
        raise NoModel(f"{redact_url(bases[0])}/models lists no model: pass --model-name")
    raise NoModel(
        f"{redact_url(bases[0])} serves {len(models)} models ({shown(models)}): pick one with --model-name"
    )


def _folder_from(name: str) -> dict[str, str]:
    """issue 22: a name the server (or `--model-name`) chose names the output folder only in the form
    `safe_name` gives it, so every file stays under --work-dir; when that changed it, the origin records
    the name it came from (summary.json, and the CLI's one warning line)."""
    return {} if unsafe_name(name) is None else {"folder_from": name}


def _serve_hint(name: str) -> str:
    """`make serve` with a registered model name close to `name` (never the misspelling itself)."""
    import difflib

    try:
        get_model(name)
        return f"start it with `make serve MODEL={name}`"
    except RegistryError:
        pass
    names = [m.name for m in all_models()]
    close = [n for n in names if n.lower() == name.lower()] or difflib.get_close_matches(
        name, names, n=1, cutoff=0.5
    )
    if close:
        return f"did you mean {close[0]}? start it with `make serve MODEL={close[0]}`"
    return "start a model listed in engines/models.toml with `make serve MODEL=<name>`"


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Which settings one model's requests carry, resolved once for runs and dry runs alike."""

    plan: RequestPlan
    prompt_style: str
    engine: str | None  # the engine whose request form is used; None: a plain OpenAI endpoint
    source: str  # where the family came from, said in the line printed at start

    def line(self, name: str) -> str:
        """E.g. `InternVL3-8B: internvl3 family, tiles 6/12/18/24, max_tokens 4096, prompt style
        internvl2, engine vllm`."""
        engine = self.engine or "unknown (plain OpenAI fields only)"
        style = f"prompt style {self.prompt_style}"
        return f"{name}: {self.plan.describe()}, {style}, engine {engine}{self.source}"

    def summary(self, name: str) -> dict[str, object]:
        """As summary.json records it (model block)."""
        return {
            "family": self.plan.family,
            "engine_form": self.plan.wire,
            "family_max_tokens": self.plan.max_tokens,
            "prompt_style": self.prompt_style,
            "thinking": self.plan.thinking,
            "settings": self.line(name),
        }


def run_settings(cfg: RunConfig, name: str, engine: str | None) -> RunSettings:
    """The family settings, prompt style and request form of model `name` served by `engine` (None:
    an --api-base endpoint), from its registry entry, `--model-family` and `--prompt-style`.

    `--model-family FAMILY[:ENGINE]` beats the entry's family (and its prompt style the entry's);
    `--prompt-style` beats both. An --api-base model whose name is a registry entry with a family
    gets that family in full, in the form of the entry's engine: never the entry's prompt style
    without its tiles and limits (the line printed at start says so, and how to change it).
    """
    entry = _registered(name) if name else None
    family = entry.family if entry else None
    source = ""
    flag_style = None
    if cfg.model_family:
        family, flag_engine = parse_family_flag(cfg.model_family)
        engine = flag_engine or engine or (entry.engine if entry else None) or "vllm"
        fam = get_family(family)
        flag_style = fam.prompt_style if fam else None
        source = f" (--model-family {cfg.model_family})"
    elif entry is not None and family is not None and engine is None:
        engine = entry.engine
        source = (
            f" (engines/models.toml entry {entry.name}: the endpoint is taken to be {engine}; "
            "--model-family FAMILY:ENGINE or --model-family none changes it)"
        )
    plan = make_plan(
        family,
        engine,
        max_tokens_given=cfg.max_tokens_given,
        temperature_given=cfg.temperature_given,
        max_new_tokens=entry.max_new_tokens if entry and entry.family == family else None,
    )
    style = (
        cfg.prompt_style
        or flag_style
        or (entry.prompt_style if entry else None)
        or plan.prompt_style
        or "default"
    )
    return RunSettings(plan, style, engine if plan.family != NO_FAMILY or engine else None, source)


def request_plan(cfg: RunConfig, registry_name: str | None, engine: str | None) -> RequestPlan:
    """The plan `run_settings` resolves (for callers that need only the plan)."""
    return run_settings(cfg, registry_name or "", engine).plan


def _registered(name: str) -> ModelEntry | None:
    """The registry entry named `name`, or None (a model the registry does not know)."""
    try:
        return get_model(name)
    except RegistryError:
        return None
