"""The one reader of an OpenAI `GET /v1/models` reply, shared by targets, the judge and `make serve`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 8 << 20  # a 500-model list is ~50 KB: a body past this is not a model list (or never ends)


@dataclass(frozen=True, slots=True)
class ServedModel:
    id: str
    max_model_len: int | None = None  # vLLM adds it to each entry; other servers may not


def parse_model_list(payload: Any) -> list[ServedModel]:
    """The models a `/v1/models` JSON body lists; `ValueError` when it is not an OpenAI model list."""
    items = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise ValueError("not an OpenAI model list (no `data` array)")
    out = []
    for entry in items:
        if isinstance(entry, dict) and "id" in entry:
            mml = entry.get("max_model_len")
            out.append(ServedModel(str(entry["id"]), mml if isinstance(mml, int) else None))
    return out


def decode_model_list(raw: bytes) -> list[ServedModel]:
    """`parse_model_list` of a raw body, read with at most `MAX_BYTES + 1` bytes; `ValueError` for a
    body past `MAX_BYTES`, one that is not JSON, or JSON nested too deep to decode (RecursionError)."""
    if len(raw) > MAX_BYTES:
        raise ValueError(f"a model list of more than {MAX_BYTES >> 20} MiB")
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    return parse_model_list(payload)
