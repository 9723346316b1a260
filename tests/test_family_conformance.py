"""fasteval's request bodies for the new families against VLMEvalKit's own model-class code.

tests/data/family_cases/cases.json is made by scripts/make_family_cases.py from VLMEvalKit's
`InternVLChat.build_prompt` / `set_max_num`, `Qwen2VLChat` / `Qwen3VLChat._prepare_content`, their
config entries, `split_thinking` (inference.py) and `mpo_post_processing` (internvl/utils.py), for
the first rows of every benchmark in the conformance kit's LMUData. Each case's text, tile limit,
pixel bounds, generation limit, sampling and system prompt must be what fasteval sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fasteval.catalog import get_spec
from fasteval.data.datasets import Dataset, load, locate
from fasteval.data.tabular import as_vlmeval_str
from fasteval.inference.runner import Target, request_body
from fasteval.models.families import get_family, make_plan, mpo_answer, split_thinking
from fasteval.types import GenParams, Sample
from tests.fixtures import conformance_lmudata

CASES = json.loads((Path(__file__).parent / "data" / "family_cases" / "cases.json").read_text())


@cache
def _dataset(name: str, cache_dir: Path) -> Dataset:
    spec = get_spec(name)
    return load(
        spec, locate(spec, conformance_lmudata(), download=False, progress=False, cache_dir=cache_dir)
    )


def _sample(name: str, index: str, cache_dir: Path) -> Sample:
    samples: Iterator[Sample] = _dataset(name, cache_dir).iter_samples()
    return next(s for s in samples if as_vlmeval_str(s.index) == index)


def _sent(case: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    family = get_family(case["family"])
    assert family is not None
    target = Target(
        "M", "M", (), family.prompt_style, plan=make_plan(family.name, "vllm", max_tokens_given=False)
    )
    sample = _sample(case["dataset"], case["index"], cache_dir)
    return dict(json.loads(request_body(target, get_spec(case["dataset"]), sample, GenParams())))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _id(case: dict[str, Any]) -> str:
    return f"{case['family']}-{case['dataset']}-{case['index']}"


@pytest.mark.parametrize("case", [c for c in CASES["cases"] if "text" in c], ids=_id)
def test_internvl_requests_are_vlmevalkits(case: dict[str, Any], cache_dir: Path) -> None:
    body = _sent(case, cache_dir)
    messages = body["messages"]
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    user = messages[-1]["content"]
    text = "\n".join(p["text"] for p in user if p["type"] == "text")
    assert text == case["text"]
    assert sum(p["type"] == "image_url" for p in user) == case["images"]
    assert body["mm_processor_kwargs"] == {"max_dynamic_patch": case["max_dynamic_patch"]}
    assert body["max_tokens"] == case["max_tokens"] and system == case["system"]
    assert body["temperature"] == case["temperature"] and body.get("top_p") == case["top_p"]


@pytest.mark.parametrize("case", [c for c in CASES["cases"] if "pixels" in c], ids=_id)
def test_qwen_requests_are_vlmevalkits(case: dict[str, Any], cache_dir: Path) -> None:
    body = _sent(case, cache_dir)
    assert body.get("mm_processor_kwargs", {}) == case["pixels"]
    assert body["max_tokens"] == case["max_tokens"]
    assert {k: body[k] for k in case["sampling"]} == case["sampling"]


@pytest.mark.parametrize("reply", CASES["replies"], ids=lambda r: r["reply"][:20])
def test_reply_post_processing_is_vlmevalkits(reply: dict[str, Any]) -> None:
    answer, thinking = split_thinking(reply["reply"])
    assert [answer, thinking or ""] == reply["split_thinking"]
    assert mpo_answer(reply["reply"]) == reply["mpo_yorn"]


def test_every_new_family_and_kit_benchmark_is_covered() -> None:
    families = {c["family"] for c in CASES["cases"]}
    assert families == {"internvl2.5", "internvl3", "internvl3.5", "internvl2.5-mpo", "internvl3.5-thinking",
                        "qwen2.5-vl", "qwen3-vl", "qwen3-vl-thinking"}  # fmt: skip
    kit = {p.stem for p in conformance_lmudata().glob("*.tsv")}
    assert {c["dataset"] for c in CASES["cases"]} == kit
