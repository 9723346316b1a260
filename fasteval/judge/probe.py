"""Is the judge there? `GET /models` must list it; servers without `/models` get one tiny chat call."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from fasteval.inference.client import Client, build_body
from fasteval.inference.endpoints import EndpointPool, redact_url
from fasteval.judge.resolve import JudgeEndpoint
from fasteval.models.model_list import MAX_BYTES as MODEL_LIST_BYTES
from fasteval.models.model_list import ServedModel, decode_model_list
from fasteval.resources import shown as shown_names
from fasteval.types import GenParams, Prompt, TextPart


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    message: str  # one line: what was seen and the fix
    max_model_len: int | None = None
    reported_model: str | None = None


_FIX = (
    "start one with `make judge`, or point OPENAI_API_BASE / --judge-base-url at a running judge "
    "(or pass --judge exact_matching, or --judge-fallback exact_matching to score without it)"
)


async def probe_judge(
    session: aiohttp.ClientSession, endpoint: JudgeEndpoint, timeout_s: float = 10.0
) -> Health:
    """GET /models must list the judge model; servers without /models get one tiny chat call instead."""
    key = endpoint.api_key.reveal() if endpoint.api_key else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = f"{endpoint.base_url}/models"
    listed: list[ServedModel] | None = None
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status == 200:
                listed = decode_model_list(await resp.content.read(MODEL_LIST_BYTES + 1))
    except (aiohttp.ClientError, TimeoutError, ValueError):
        listed = None
    if listed is not None:
        entry = next((m for m in listed if m.id == endpoint.model), None)
        if entry is None:
            return Health(
                False,
                f"judge at {redact_url(endpoint.base_url)} serves "
                f"{shown_names([m.id for m in listed]) or 'no model'}, "  # a server may list hundreds
                f"not {endpoint.model!r}: set LOCAL_LLM (or --judge) to the served id",
            )
        return Health(True, "ok", entry.max_model_len, endpoint.model)
    body = build_body(
        endpoint.model,
        Prompt((TextPart("hello"),)),
        GenParams(max_tokens=1, timeout_s=timeout_s),
        stream=False,
    )
    client = Client(EndpointPool([endpoint.base_url], key), concurrency=1, retry=0, api_key=key)
    async with client:
        completion = await client.complete(body, GenParams(max_tokens=1, timeout_s=timeout_s))
    if completion.ok:
        return Health(True, "ok", None, completion.model)
    shown = redact_url(endpoint.base_url)
    return Health(False, f"judge at {shown} does not answer ({completion.error}): {_FIX}")
