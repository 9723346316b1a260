"""Generated TSVs: the kit's published-layout sources turned back into VLMEvalKit's TSV, byte for byte.

The kit ships a TSV per dataset; their sources (Video-MME's parquet, MVBench's `json/*.json`,
MVBench_MP4's `test.json`) are rebuilt here from those rows, and generating the TSV again must give
the kit's file byte for byte. The kit's MVBench tables interleave tasks, which VLMEvalKit's generator
never does (it walks the sources task by task), so for them the expected file is the kit's lines in
VLMEvalKit's task order, renumbered.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fasteval.data.tabular import read_table
from fasteval.data.video import tsv
from fasteval.data.video.plan import Sampler, VideoPreset
from fasteval.data.video.tsv import SnapshotError
from tests.fixtures import video_kit_dir, video_mme_parquet

KIT = video_kit_dir()
MANIFEST = json.loads((KIT / "manifest.json").read_text())["files"]
VIDEO_MME = VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8)
MVBENCH = VideoPreset("MVBench", Sampler.MVBENCH, nframe=8)
MVBENCH_MP4 = VideoPreset("MVBench_MP4", Sampler.MVBENCH_MP4, nframe=8)


def _kit_rows(rel: str) -> list[dict[str, Any]]:
    return read_table(KIT / rel).to_dicts()


def _in_task_order(rel: str, order: list[str]) -> bytes:
    """The kit's TSV lines grouped as VLMEvalKit's generator groups them, `index` (last) renumbered."""
    header, *lines = (KIT / rel).read_text(encoding="utf-8").splitlines()
    ranked = sorted(lines, key=lambda line: order.index(line.split("\t", 1)[0]))
    body = [line.rsplit("\t", 1)[0] + f"\t{i}" for i, line in enumerate(ranked)]
    return ("\n".join([header, *body]) + "\n").encode("utf-8")


def test_video_mme_parquet_gives_the_kits_tsv(tmp_path: Path) -> None:
    video_mme_parquet(tmp_path / tsv.VIDEO_MME_PARQUET)
    out = tsv.build_tsv(VIDEO_MME, tmp_path, expected_md5=MANIFEST["data/Video-MME/Video-MME.tsv"]["md5"])
    assert out.generated and out.warning is None
    assert out.path.read_bytes() == (KIT / "data/Video-MME/Video-MME.tsv").read_bytes()


def _mvbench_snapshot(tmp_path: Path) -> Path:
    (tmp_path / "video").symlink_to(KIT / "data/MVBench/video", target_is_directory=True)
    (tmp_path / "json").mkdir()
    rows = _kit_rows("data/MVBench/MVBench.tsv")
    for task in tsv.MVBENCH_TASKS:
        items = []
        for r in (r for r in rows if r["task_type"] == task.task):
            assert (r["prefix"], r["data_type"], r["bound"]) == (task.prefix, task.data_type, task.bound)
            item = {"video": r["video"], "question": r["question"], "answer": r["answer"]}
            if task.bound:
                item.update(start=r["start"], end=r["end"])
            items.append({**item, "candidates": ast.literal_eval(r["candidates"])})
        (tmp_path / "json" / task.json).write_text(json.dumps(items))
    return tmp_path


def test_mvbench_json_gives_the_kits_tsv_in_vlmevalkits_task_order(tmp_path: Path) -> None:
    snapshot = _mvbench_snapshot(tmp_path)
    out = tsv.build_tsv(MVBENCH, snapshot, expected_md5=None)
    order = [t.task for t in tsv.MVBENCH_TASKS]
    assert out.path.read_bytes() == _in_task_order("data/MVBench/MVBench.tsv", order)


def test_a_missing_mvbench_video_stops_generation_naming_it(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap"
    shutil.copytree(KIT / "data/MVBench/video", snapshot / "video")
    (snapshot / "video/ssv2_video/126959.webm").unlink()
    (tmp_path / "json-src").mkdir()
    _mvbench_snapshot(tmp_path / "json-src")
    shutil.copytree(tmp_path / "json-src/json", snapshot / "json")
    with pytest.raises(
        SnapshotError, match=r"1 MVBench video\(s\) missing .*first video/ssv2_video/126959\.webm"
    ):
        tsv.build_tsv(MVBENCH, snapshot, expected_md5=None)
    assert not tsv.tsv_path(MVBENCH, snapshot).exists()


def test_mvbench_mp4_test_json_gives_the_kits_tsv(tmp_path: Path) -> None:
    rows = _kit_rows("data/MVBench/MVBench_MP4.tsv")
    root: dict[str, str] = {}
    meta: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        root[r["task_type"]] = r["prefix"]
        meta.setdefault(r["task_type"], []).append(
            {k: r[k] for k in ("video", "question", "answer")}
            | {"candidates": ast.literal_eval(r["candidates"])}
        )
    (tmp_path / "test.json").write_text(json.dumps({"root": root, "meta": meta}))
    out = tsv.build_tsv(MVBENCH_MP4, tmp_path, expected_md5="5c8c6f8b7972c2de65a629590f7c42f5")
    assert out.path.read_bytes() == _in_task_order("data/MVBench/MVBench_MP4.tsv", list(root))
    # the kit's rows are not the published ones: VLMEvalKit's pinned MD5 differs, a warning names both
    assert out.warning is not None
    assert out.md5 in out.warning and "5c8c6f8b7972c2de65a629590f7c42f5" in out.warning


def test_a_present_tsv_is_used_as_is(tmp_path: Path) -> None:
    shutil.copy(KIT / "data/MMBench-Video/MMBench-Video.tsv", tmp_path)
    preset = VideoPreset("MMBench-Video", Sampler.UNIFORM, nframe=8)
    out = tsv.build_tsv(preset, tmp_path, expected_md5="98f7df3eb1007fc375ea6fe88a98e2ff")
    assert not out.generated and out.md5 == MANIFEST["data/MMBench-Video/MMBench-Video.tsv"]["md5"]
    assert out.warning is not None and "98f7df3eb1007fc375ea6fe88a98e2ff" in out.warning


def test_pandas_to_csv_formatting() -> None:
    text = tsv.to_csv(
        ["a", "b", "c", "d", "e"],
        [[1, 3, None, ["x", "it's"], "tab\there"], [2, 2.5, None, [], 'say "hi"']],
    )
    assert text == 'a\tb\tc\td\te\n1\t3.0\t\t"[\'x\', ""it\'s""]"\t"tab\there"\n2\t2.5\t\t[]\t"say ""hi"""\n'
