"""Model families: VLMEvalKit's per-benchmark settings as data, put where each engine reads them.

The tables are checked against research/next_benchmarks.md §3; the wire forms against vLLM 0.32's
`ChatCompletionRequest.mm_processor_kwargs` and LMDeploy's InternVL preprocessor (`max_dynamic_patch`
from each image item). `--dry-run` is checked end to end through bench.py, contacting nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fasteval.data.demo import write_demo_benchmarks
from fasteval.inference.client import build_body
from fasteval.inference.dry_run import shorten_images
from fasteval.inference.runner import Target, fingerprint, request_body
from fasteval.models.families import (
    FAMILIES,
    INTERNVL_TILES,
    NO_PLAN,
    FamilyError,
    ImageSettings,
    get_family,
    internvl_tiles,
    make_plan,
    parse_family_flag,
    settings_for,
    wire_fields,
)
from fasteval.models.registry import all_models, get_model
from fasteval.serving.serve import build_argv
from fasteval.types import (
    NO_EXTRAS,
    BenchmarkSpec,
    Extras,
    GenParams,
    ImagePart,
    ImageRef,
    Prompt,
    Sample,
    TextPart,
)

REPO = Path(__file__).resolve().parents[1]

# research/next_benchmarks.md §3 "Tile counts", plus the default-6 benchmarks the issue names
EXPECTED_TILES = {
    "MME": 6, "MMBench_DEV_EN": 6, "MMBench_DEV_EN_V11": 6, "SEEDBench_IMG": 6, "MMStar": 6,
    "HallusionBench": 6, "TextVQA_VAL": 6, "MathVista_MINI": 6, "MMVet": 6, "MMT-Bench_VAL": 6,
    "ChartQA_TEST": 12, "MMMU_DEV_VAL": 12, "MMMU_TEST": 12, "MME-RealWorld": 12, "MME-RealWorld-CN": 12,
    "OCRVQA_TEST": 12, "DocVQA_VAL": 18, "DocVQA_TEST": 18, "DUDE": 18, "MMLongBench_DOC": 18,
    "SLIDEVQA": 18, "InfoVQA_VAL": 24, "InfoVQA_TEST": 24, "OCRBench": 24, "HRBench4K": 24, "HRBench8K": 24,
}  # fmt: skip

IMG = ImageRef("aGVsbG8=", "image/png")  # b"hello"


def _sample(n_images: int = 1) -> Sample:
    return Sample("X", 7, "Is it red?", (IMG,) * n_images, {}, None)


def _spec(name: str) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, kind="yorn", url=None, md5=None, scorer="yorn")


@pytest.mark.parametrize(("dataset", "tiles"), sorted(EXPECTED_TILES.items()))
def test_internvl_tile_limit_per_benchmark(dataset: str, tiles: int) -> None:
    assert INTERNVL_TILES.max_tiles(dataset, 1) == tiles


@pytest.mark.parametrize(
    ("images", "tiles"), [(1, 24), (2, 24), (3, 21), (4, 16), (10, 6), (64, 1), (100, 1)]
)
def test_several_images_share_64_tiles(images: int, tiles: int) -> None:
    assert INTERNVL_TILES.max_tiles("OCRBench", images) == tiles  # max(1, min(24, 64 // images))


def test_mme_images_share_tiles_too() -> None:
    assert [INTERNVL_TILES.max_tiles("MME", n) for n in (1, 10, 11, 12)] == [6, 6, 5, 5]


def test_qwen2_vl_pixels_are_vlmevalkits() -> None:
    s = settings_for(get_family("qwen2-vl"), "MME", 1)
    assert (s.min_pixels, s.max_pixels, s.max_dynamic_patch) == (1280 * 28 * 28, 16384 * 28 * 28, None)


def test_no_family_no_images_no_settings() -> None:
    assert settings_for(None, "OCRBench", 1) == ImageSettings()
    assert settings_for(get_family("internvl2"), "OCRBench", 0) == ImageSettings()
    assert settings_for(get_family("internvl-v1"), "OCRBench", 1) == ImageSettings()


def test_wire_forms_per_engine() -> None:
    tiles = ImageSettings(max_dynamic_patch=24)
    pixels = ImageSettings(min_pixels=4, max_pixels=9)
    assert wire_fields(tiles, "vllm") == Extras(body={"mm_processor_kwargs": {"max_dynamic_patch": 24}})
    assert wire_fields(tiles, "lmdeploy") == Extras(image_url={"max_dynamic_patch": 24})
    assert wire_fields(tiles, "openai") == NO_EXTRAS
    assert wire_fields(pixels, "vllm") == Extras(
        body={"mm_processor_kwargs": {"min_pixels": 4, "max_pixels": 9}}
    )
    assert wire_fields(pixels, "lmdeploy") == NO_EXTRAS  # LMDeploy has no per-request pixel range


def _body(plan_family: str | None, engine: str | None, dataset: str, n_images: int = 1) -> dict[str, Any]:
    plan = make_plan(plan_family, engine, max_tokens_given=False)
    target = Target("M", "M", (), "internvl2", plan=plan)
    body: dict[str, Any] = json.loads(request_body(target, _spec(dataset), _sample(n_images), GenParams()))
    return body


def test_vllm_body_carries_mm_processor_kwargs() -> None:
    body = _body("internvl2", "vllm", "DocVQA_VAL")
    assert body["mm_processor_kwargs"] == {"max_dynamic_patch": 18}
    assert body["messages"][0]["content"][0]["image_url"] == {"url": "data:image/png;base64,aGVsbG8="}
    assert _body("internvl2", "vllm-cpu", "DocVQA_VAL", 4)["mm_processor_kwargs"] == {"max_dynamic_patch": 16}


def test_lmdeploy_body_carries_max_dynamic_patch_in_each_image_item() -> None:
    body = _body("internvl2", "lmdeploy", "InfoVQA_VAL", 3)
    items = [p["image_url"] for p in body["messages"][0]["content"] if p["type"] == "image_url"]
    assert items == [{"url": "data:image/png;base64,aGVsbG8=", "max_dynamic_patch": 21}] * 3
    assert "mm_processor_kwargs" not in body


def test_plain_endpoint_body_is_unchanged() -> None:
    prompt = Prompt((ImagePart(IMG), TextPart("Is it red?")))
    target = Target("M", "M", (), "default")
    sent = request_body(target, _spec("MME"), _sample(), GenParams())
    assert sent == build_body("M", Prompt(prompt.parts), GenParams())


def test_family_token_limit_applies_unless_max_tokens_was_given() -> None:
    assert make_plan("internvl2", "vllm", max_tokens_given=False).max_tokens == 1024
    assert make_plan("internvl2", "vllm", max_tokens_given=True).max_tokens is None
    target = Target("M", "M", (), "internvl2", plan=make_plan("internvl2", "vllm", max_tokens_given=False))
    body = json.loads(request_body(target, _spec("MME"), _sample(), GenParams(max_tokens=7)))
    assert body["max_tokens"] == 1024


def test_fingerprint_changes_with_the_plan_and_not_without_one() -> None:
    plain = Target("M", "M", (), "internvl2")
    vllm = Target("M", "M", (), "internvl2", plan=make_plan("internvl2", "vllm", max_tokens_given=True))
    lmd = Target("M", "M", (), "internvl2", plan=make_plan("internvl2", "lmdeploy", max_tokens_given=True))
    fps = {fingerprint(t, _spec("MME"), "md5", GenParams()) for t in (plain, vllm, lmd)}
    assert len(fps) == 3
    assert plain.plan == NO_PLAN


def test_family_flag() -> None:
    assert parse_family_flag("internvl2") == ("internvl2", None)
    assert parse_family_flag("internvl2:lmdeploy") == ("internvl2", "lmdeploy")
    assert parse_family_flag("none") == ("none", None)
    with pytest.raises(FamilyError, match="unknown model family"):
        parse_family_flag("internvl9")
    with pytest.raises(FamilyError, match="unknown engine"):
        parse_family_flag("internvl2:sglang")


@pytest.mark.parametrize(
    ("w", "h", "limit", "tiles"),
    [
        (448, 448, 24, 1),  # one tile: no thumbnail
        (1000, 700, 6, 7),  # 3x2 + thumbnail
        (1920, 1080, 6, 3),  # 2x1 + thumbnail
        (1920, 1080, 12, 9),  # 4x2 + thumbnail
        (1920, 1080, 24, 16),  # 5x3 + thumbnail
        (800, 1600, 6, 3),  # 1x2 + thumbnail
        (3000, 500, 6, 7),  # 6x1 + thumbnail
        (100, 100, 6, 1),  # a small square stays one tile
        (1344, 1344, 12, 10),  # 3x3 + thumbnail: the larger square wins the tie when the image covers it
    ],
)
def test_internvl_tiles(w: int, h: int, limit: int, tiles: int) -> None:
    assert internvl_tiles(w, h, limit) == tiles


def test_registry_families() -> None:
    fams = {m.name: m.family for m in all_models()}
    assert (
        fams["InternVL2-2B"]
        == fams["InternVL-Chat-V1-5"]
        == fams["Mini-InternVL-Chat-4B-V1-5"]
        == "internvl2"
    )
    assert fams["InternVL-Chat-V1-1"] == "internvl-v1"
    assert fams["Qwen2-VL-7B-Instruct"] == "qwen2-vl"
    assert fams["tiny-vlm"] is None and fams["tiny-internvl2"] == "internvl2"
    assert all(f is None or f in FAMILIES for f in fams.values())


def test_vllm_launch_of_a_family_with_request_kwargs_trusts_them() -> None:
    argv = build_argv(get_model("InternVL2-2B"), engine="vllm", host="127.0.0.1", port=8000)
    assert "--trust-request-mm-kwargs" in argv
    assert "--trust-request-mm-kwargs" not in build_argv(
        get_model("InternVL-Chat-V1-1"), engine="vllm", host="127.0.0.1", port=8000
    )


def test_shorten_images_keeps_everything_else() -> None:
    image = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,aGVsbG8=", "max_dynamic_patch": 6},
    }
    body = {
        "messages": [{"role": "user", "content": [image, {"type": "text", "text": "q"}]}],
        "max_tokens": 3,
    }
    short = shorten_images(body)
    assert short["messages"][0]["content"][0]["image_url"] == {
        "url": "data:image/png;base64,<5 bytes>",
        "max_dynamic_patch": 6,
    }
    assert short["messages"][0]["content"][1] == {"type": "text", "text": "q"} and short["max_tokens"] == 3


def _bench(*args: str, lmudata: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LMUData=str(lmudata), FASTEVAL_CACHE=str(tmp / "cache"))
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), *args, "--no-download", "--state-dir", str(tmp / "servers")],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def mme_like(tmp_path: Path) -> Path:
    """DEMO_YN (MME's layout) saved as MME.tsv: the dry run needs MME's name, not its data."""
    lmu = tmp_path / "LMUData"
    write_demo_benchmarks(lmu)
    shutil.copy(lmu / "DEMO_YN.tsv", lmu / "MME.tsv")
    return lmu


def test_dry_run_prints_registry_entry_bodies_without_a_server(mme_like: Path, tmp_path: Path) -> None:
    r = _bench("--data", "MME", "--model", "InternVL2-2B", "--dry-run", "2", lmudata=mme_like, tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    bodies = [json.loads(line) for line in lines]
    for body in bodies:
        assert body["model"] == "InternVL2-2B" and body["max_tokens"] == 1024 and body["stream"] is True
        assert body["mm_processor_kwargs"] == {"max_dynamic_patch": 6}
        url = body["messages"][0]["content"][0]["image_url"]["url"]
        assert url.startswith("data:image/") and url.endswith(" bytes>")
        assert body["messages"][0]["content"][1]["text"].endswith(
            " Answer the question using a single word or phrase."
        )
    assert "family internvl2, engine form vllm" in r.stderr


def test_dry_run_api_base_sends_no_family_settings_unless_named(mme_like: Path, tmp_path: Path) -> None:
    base = ["--data", "MME", "--api-base", "http://127.0.0.1:9/v1", "--model-name", "M", "--dry-run", "1"]
    plain = json.loads(_bench(*base, lmudata=mme_like, tmp=tmp_path).stdout)
    assert "mm_processor_kwargs" not in plain and "max_dynamic_patch" not in json.dumps(plain)
    r = _bench(
        *base, "--model-family", "internvl2:lmdeploy", "--max-tokens", "9", lmudata=mme_like, tmp=tmp_path
    )
    named = json.loads(r.stdout)
    assert named["messages"][0]["content"][0]["image_url"]["max_dynamic_patch"] == 6
    assert named["max_tokens"] == 9  # --max-tokens beats the family's 1024


def test_perf_mode_sends_the_same_family_settings() -> None:
    """--mode perf measures the requests an eval run sends: the family's fields are in its bodies too."""
    from fasteval.perf.mode import _bodies, synthetic_source

    target = Target("M", "M", (), "internvl2", plan=make_plan("internvl2", "lmdeploy", max_tokens_given=True))
    (body, n_images), *_ = list(_bodies(synthetic_source(2, 64, 64), 2, target, GenParams(max_tokens=3)))
    sent = json.loads(body)
    assert n_images == 1 and sent["max_tokens"] == 3
    assert sent["messages"][0]["content"][0]["image_url"]["max_dynamic_patch"] == 6  # synthetic: the default
