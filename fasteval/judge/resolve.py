"""Which judge a run uses: flags, then `.env`/environment as VLMEvalKit reads them, then `make judge`.

A benchmark's TOML names VLMEvalKit's default judge key for it (`judge = "gpt-4o-mini"`, MMVet's
`gpt-4-turbo`): that key names the judge's files, and picks the model id sent when nothing else
(`--judge`, `LOCAL_LLM`, the `make judge` server) does.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fasteval.config import Secret, Settings
from fasteval.errors import FastevalError
from fasteval.kinds.extract import OFFICIAL, effective_rules
from fasteval.types import BenchmarkSpec

EXACT_MATCHING = "exact_matching"
# build_judge's key -> model version map (used only when no LOCAL_LLM names the judge)
MODEL_ALIASES: Mapping[str, str] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-05-13",
    "gpt-4-turbo": "gpt-4-1106-preview",
    "chatgpt-0125": "gpt-3.5-turbo-0125",
}


class JudgeUnavailable(FastevalError):
    """The configured judge failed its health probe (one line: the URL and the fix)."""


def normalise_base(url: str) -> str:
    """An OpenAI base (`.../v1`) from what VLMEvalKit accepts (often the full chat URL)."""
    base = url.strip().rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        base = base.removesuffix(suffix)
    return base.rstrip("/")


@dataclass(frozen=True, slots=True)
class JudgeEndpoint:
    base_url: str
    model: str  # the `model` field of every judge request
    api_key: Secret | None = field(repr=False, compare=False)
    source: str  # where the judge came from, for the summary

    @property
    def host(self) -> str:
        """host:port only (never credentials or paths), for records."""
        parts = urllib.parse.urlsplit(self.base_url)
        host = parts.hostname or self.base_url
        return f"{host}:{parts.port}" if parts.port else host


@dataclass(frozen=True, slots=True)
class JudgePlan:
    """The run's judge (or None) and why; `for_spec` applies each benchmark's own policy."""

    endpoint: JudgeEndpoint | None
    reason: str
    explicit: bool = False  # `--judge MODEL` given: it overrides a benchmark's exact-matching default
    keyed: bool = False  # nothing named the model: each benchmark's judge key names it, as in VLMEvalKit

    def for_spec(self, spec: BenchmarkSpec, rules: str) -> tuple[JudgeEndpoint | None, str]:
        if self.endpoint is None:
            return None, self.reason
        if spec.judge == EXACT_MATCHING and not self.explicit:
            return None, f"benchmark {spec.name} sets judge = {EXACT_MATCHING!r} (--judge MODEL overrides it)"
        if effective_rules(rules, spec.official_rule).startswith(OFFICIAL + ":"):
            return None, f"--rules {OFFICIAL}: the benchmark's own scorer has no judge"
        if self.keyed and spec.judge != EXACT_MATCHING:
            model = MODEL_ALIASES.get(spec.judge, spec.judge)
            return replace(
                self.endpoint, model=model
            ), f"{self.reason}; model {model} ({spec.name}'s judge key)"
        return self.endpoint, self.reason

    def without_judge(self, reason: str) -> JudgePlan:
        return JudgePlan(None, reason, self.explicit, self.keyed)


def resolve_judge(
    *,
    judge: str | None,
    base_url: str | None,
    key: str | None,
    settings: Settings,
    judge_servers: Sequence[Any] = (),
    default_key: str = "gpt-4o-mini",
) -> JudgePlan:
    """Flags, then `.env`/environment (VLMEvalKit's OPENAI_API_BASE / LOCAL_LLM / OPENAI_API_KEY),
    then the server `make judge` started; nothing configured means exact matching.

    `judge_servers` are `serve.ServerState`s of role judge (only read when nothing else names a base).
    """
    if judge == EXACT_MATCHING:
        return JudgePlan(None, f"--judge {EXACT_MATCHING}")
    secret = Secret(key) if key else settings.openai_api_key
    model = MODEL_ALIASES.get(judge, judge) if judge else settings.local_llm
    if base_url:
        base, source = normalise_base(base_url), "--judge-base-url"
    elif settings.openai_api_base:
        base, source = normalise_base(settings.openai_api_base), "OPENAI_API_BASE"
    elif judge_servers:
        server = judge_servers[-1]  # the newest
        base, source = server.base_url, f"make judge ({server.name})"
        model = model or server.served_name
    else:
        hint = (
            " (OPENAI_API_KEY alone is not enough: "
            "set OPENAI_API_BASE=https://api.openai.com/v1 to use OpenAI)"
            if secret is not None
            else ""
        )
        return JudgePlan(
            None,
            "no judge configured (no --judge-base-url, OPENAI_API_BASE or `make judge` server): "
            f"answers exact matching cannot extract are misses{hint}",
        )
    keyed = not model
    model = model or MODEL_ALIASES.get(default_key, default_key)
    via = "--judge" if judge else "LOCAL_LLM" if settings.local_llm else source
    return JudgePlan(
        JudgeEndpoint(base, model, secret, source),
        f"judge {model} ({via}) at {base} ({source})",
        explicit=judge is not None,
        keyed=keyed,
    )
