"""The one reader of an OpenAI `GET /v1/models` reply, shared by targets, the judge and `make serve`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
