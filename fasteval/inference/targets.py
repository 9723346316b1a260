"""Which model(s) to evaluate: `--api-base` endpoints, or the servers `make serve` recorded.

Replicas of one served model (several `--api-base` URLs, or several recorded servers with the same
served name) become one target whose endpoints share the load.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from fasteval.config import RunConfig
from fasteval.errors import FastevalError
from fasteval.inference.endpoints import KeyRefused, list_models, redact_url
from fasteval.inference.runner import Target
from fasteval.models.families import RequestPlan, make_plan, parse_family_flag
from fasteval.models.registry import RegistryError, all_models, get_model
from fasteval.models.servers import default_state_dir, redact_argv, running_servers
from fasteval.resources import safe_name, shown, unsafe_name


class NoModel(FastevalError):
    """No server to evaluate was named or found."""


async def resolve_targets(cfg: RunConfig) -> list[Target]:
    """`--api-base` names the endpoint(s); otherwise the servers `make serve` recorded."""
    if cfg.api_base:
        served = cfg.model_name or await _discover_served_name(list(cfg.api_base), cfg.api_key)
        names = list(cfg.model) or [safe_name(served)]
        if len(names) != 1:
            raise NoModel("--api-base serves one model: pass one --model (the output name) with it")
        plan = request_plan(cfg, None, None)
        return [
            Target(
                rules=cfg.rules,
                name=names[0],
                served_name=served,
                endpoints=tuple(cfg.api_base),
                prompt_style=cfg.prompt_style or _registry_style(names[0]) or plan.prompt_style or "default",
                origin={
                    "api_base": [redact_url(u) for u in cfg.api_base],
                    "request_settings": _summary(plan),
                    **({} if cfg.model else _folder_from(served)),
                },
                plan=plan,
            )
        ]

    servers = running_servers(cfg.state_dir or default_state_dir(), role="vlm")
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
    by_base: dict[str, list[Any]] = {}
    for s in chosen:  # replicas of one model (same served name) pool their endpoints
        by_base.setdefault(s.served_name, []).append(s)
    plans = {served: request_plan(cfg, group[0].name, group[0].engine) for served, group in by_base.items()}
    return [
        Target(
            rules=cfg.rules,
            name=safe_name(group[0].name),
            served_name=served,
            endpoints=tuple(s.base_url for s in group),
            prompt_style=cfg.prompt_style or _registry_style(group[0].name) or "default",
            origin={
                "engine": group[0].engine,
                "argv": list(redact_argv(group[0].argv)),
                "servers": [s.base_url for s in group],
                "request_settings": _summary(plans[served]),
                **_folder_from(group[0].name),
            },
            plan=plans[served],
            max_images=_registry_images(group[0].name),
        )
        for served, group in by_base.items()
    ]


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


def request_plan(cfg: RunConfig, registry_name: str | None, engine: str | None) -> RequestPlan:
    """The model family's request settings: `--model-family FAMILY[:ENGINE]` beats the registry entry's
    `family`; an --api-base endpoint gets none unless the flag names one (its form: ENGINE, default vLLM)."""
    family = _registry_family(registry_name) if registry_name else None
    if cfg.model_family:
        family, flag_engine = parse_family_flag(cfg.model_family)
        engine = flag_engine or engine or "vllm"
    return make_plan(family, engine, max_tokens_given=cfg.max_tokens_given)


def _summary(plan: RequestPlan) -> dict[str, object]:
    """The plan as summary.json records it (model block): which family settings went in which form."""
    return {"family": plan.family, "engine_form": plan.wire, "family_max_tokens": plan.max_tokens}


def _registry_family(name: str) -> str | None:

    try:
        return get_model(name).family
    except RegistryError:
        return None


def _registry_style(name: str) -> str | None:

    try:
        return get_model(name).prompt_style
    except RegistryError:
        return None


def _registry_images(name: str) -> int | None:
    """The images one prompt may carry, as the registry entry launched the engine (None: unknown)."""

    try:
        return get_model(name).images_per_prompt
    except RegistryError:
        return None
