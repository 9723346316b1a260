"""The video kit's scoring cases through the user's command: `bench.py --mode eval --data PRESET --pred
<case>/input/KitModel_PRESET.xlsx --rules R` must write the `_rating.json` VLMEvalKit's `evaluate()`
wrote, byte for byte, under each rule generation; each row's score must be VLMEvalKit's (`per_row.csv`);
judge cases ask the kit's scripted judge (`judge_server_video.py`, a fresh one per case and rule set,
configured through the environment as VLMEvalKit reads it) exactly what VLMEvalKit asked it
(`judge_calls.csv`: per distinct prompt and temperature, requests, HTTP 500s, max_tokens).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from fasteval.data.tabular import read_table
from tests.conformance_kit import VERSIONS
from tests.fixtures import video_kit_dir
from tests.judge_kit import judge_server

REPO = Path(__file__).resolve().parents[1]
KIT = video_kit_dir()

# case -> (preset, the rating file VLMEvalKit wrote, judged, per_row.csv's score column)
CASES = {
    "Video-MME_8frame": ("Video-MME_8frame", "KitModel_Video-MME_8frame_rating.json", False, "score"),
    "Video-MME_8frame__judge": ("Video-MME_8frame", "KitModel_Video-MME_8frame_rating.json", True, "score"),
    "MVBench_8frame": ("MVBench_8frame", "KitModel_MVBench_8frame_rating.json", False, "score_cell"),
    "MVBench_8frame__judge": ("MVBench_8frame", "KitModel_MVBench_8frame_rating.json", True, "score_cell"),
    "MVBench_MP4_8frame": (
        "MVBench_MP4_8frame",
        "KitModel_MVBench_MP4_8frame_rating.json",
        False,
        "score_cell",
    ),
    "MMBench_Video_8frame_nopack": (
        "MMBench_Video_8frame_nopack",
        "KitModel_MMBench_Video_8frame_nopack_gpt-4-turbo_rating.json",
        True,
        "score",
    ),
}
# The kit's TSV of each preset (its data/ folders are the datasets' published snapshot layouts)
TSV = {
    "Video-MME_8frame": KIT / "data" / "Video-MME" / "Video-MME.tsv",
    "MVBench_8frame": KIT / "data" / "MVBench" / "MVBench.tsv",
    "MVBench_MP4_8frame": KIT / "data" / "MVBench" / "MVBench_MP4.tsv",
    "MMBench_Video_8frame_nopack": KIT / "data" / "MMBench-Video" / "MMBench-Video.tsv",
}


def lmudata(root: Path) -> Path:
    """An $LMUData holding the kit's snapshot folders under their dataset names and, beside them, each
    preset's TSV under the preset's name, so the dataset is found either way it is looked up."""
    lmu = root / "LMUData"
    lmu.mkdir()
    for name, folder in (
        ("Video-MME", "Video-MME"),
        ("MVBench", "MVBench"),
        ("MVBench_MP4", "MVBench"),
        ("MMBench-Video", "MMBench-Video"),
    ):
        (lmu / name).symlink_to(KIT / "data" / folder, target_is_directory=True)
    for preset, tsv in TSV.items():
        (lmu / f"{preset}.tsv").symlink_to(tsv)
    return lmu


@contextmanager
def kit_judge(log: Path) -> Iterator[str]:
    """A fresh judge_server_video.py (fresh HTTP-500 counters) logging every request; yields its URL."""
    with judge_server(KIT / "judge_server_video.py", log.with_suffix(".port"), log) as base:
        yield f"{base}/v1/chat/completions"


def bench(case: str, rules: str, work: Path, judge_url: str | None) -> subprocess.CompletedProcess[str]:
    preset = CASES[case][0]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM")}
    env.update(LMUData=str(work / "LMUData"), FASTEVAL_CACHE=str(work / "cache"))
    if judge_url is not None:  # as VLMEvalKit reads its judge from .env / the environment
        env.update(OPENAI_API_BASE=judge_url, OPENAI_API_KEY="sk-kit-judge", LOCAL_LLM="kit-judge")
    pred = KIT / case / "input" / f"KitModel_{preset}.xlsx"
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), "--mode", "eval", "--data", preset, "--model", "KitModel",
         "--pred", str(pred), "--work-dir", str(work / "out"), "--rules", rules, "--no-download"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def calls_table(log: Path) -> list[tuple[str, ...]]:
    """The server's request log folded like judge_calls.csv; the health probe (VLMEvalKit: a `hello`
    chat, fasteval: GET /v1/models) left out."""
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == "other":
            continue
        entry = rows.setdefault((r["kind"], r["prompt_sha256"], _t(r["temperature"])), {"n": 0, "e": 0})
        entry["n"] = int(entry["n"]) + 1  # type: ignore[call-overload]
        entry["e"] = int(entry["e"]) + int(r["status"] == 500)  # type: ignore[call-overload]
        entry["max_tokens"] = str(r["max_tokens"])
    return sorted(
        (k, sha, t, str(v["n"]), str(v["e"]), str(v["max_tokens"])) for (k, sha, t), v in rows.items()
    )


def expected_calls(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] != "other"]
    keys = ("kind", "prompt_sha256", "temperature", "requests", "http_500", "max_tokens")
    return sorted(tuple(_t(r[k]) if k == "temperature" else r[k] for k in keys) for r in rows)


def _t(text: str) -> str:
    return repr(round(float(text), 6))


def _cell(value: object) -> float | None:
    """A score cell: None for NaN / empty."""
    if value is None or value == "":
        return None
    number = float(str(value))
    return None if math.isnan(number) else number


def _scores(frame: pl.DataFrame) -> dict[str, float | None]:
    return {str(i): _cell(s) for i, s in zip(frame["index"].to_list(), frame["score"].to_list(), strict=True)}


@pytest.mark.parametrize("generation", list(VERSIONS))
@pytest.mark.parametrize("case", list(CASES))
def test_video_case_through_bench_py_matches_vlmevalkit(case: str, generation: str, tmp_path: Path) -> None:
    preset, rating, judged, score_column = CASES[case]
    expected = KIT / case / generation
    lmudata(tmp_path)
    log = tmp_path / "judge.log"
    if judged:
        with kit_judge(log) as url:
            done = bench(case, VERSIONS[generation], tmp_path, url)
            first = calls_table(log)
            again = bench(case, VERSIONS[generation], tmp_path, url)  # every call is on record
            assert again.returncode == done.returncode, again.stderr
            assert calls_table(log) == first
    else:
        done = bench(case, VERSIONS[generation], tmp_path, None)
    assert done.returncode in (0, 3), done.stderr
    assert "Traceback" not in done.stderr
    out = tmp_path / "out" / "KitModel"
    assert (out / rating).read_text(encoding="utf-8") == (expected / rating).read_text(encoding="utf-8")

    with (expected / "per_row.csv").open(newline="", encoding="utf-8") as f:
        want = {r["index"]: _cell(r[score_column]) for r in csv.DictReader(f)}
    assert _scores(pl.read_parquet(out / f"KitModel_{preset}_samples.parquet")) == want
    # beside the rating, the per-row scores in VLMEvalKit's `_score.xlsx`, read back as VLMEvalKit reads it
    assert _scores(read_table(out / rating.replace("_rating.json", "_score.xlsx"))) == want

    if judged:
        assert calls_table(log) == expected_calls(expected / "judge_calls.csv")


def test_mmbench_video_without_a_judge_stops_before_scoring(tmp_path: Path) -> None:
    """VLMEvalKit asserts a working judge for MMBench-Video: no judge is one line, no score file."""
    lmudata(tmp_path)
    done = bench("MMBench_Video_8frame_nopack", "vlmevalkit-2025.08", tmp_path, None)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "fasteval: error:" in done.stderr and "judge" in done.stderr
    assert not list((tmp_path / "out").rglob("*_rating.json"))
