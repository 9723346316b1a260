"""VLMEvalKit's dataset TSV of a video benchmark, generated from its published snapshot.

VLMEvalKit does not download these TSVs: each dataset class writes one into the snapshot folder from
the published files, then pins its MD5 (`check_integrity`):

* Video-MME: `videomme/test-00000-of-00001.parquet` with an `index`, `video = videoID`,
  `video_path = ./video/<id>.mp4`, `subtitle_path = ./subtitle/<id>.srt`, `candidates = options`
  (`videomme.py` L137-153; MD5 `85bdd91f...` at L43);
* MVBench: `json/<task>.json` for the 20 tasks in the order of its `type_data_list` (`mvbench.py` L42-83),
  with `prefix`, `data_type` and `bound` from that table; a row whose video is missing raises
  (L124-158; MD5 `fd21d365...` at L32);
* MVBench_MP4: `test.json`, `{'root': {task: prefix}, 'meta': {task: [rows]}}` (L478-498; MD5 at L441);
* MMBench-Video publishes its TSV (`mmbench_video.py` L79-103).

The rows are written as `pandas.DataFrame(rows).to_csv(path, sep='\\t', index=False)` writes them: a
list cell as its Python `repr`, a missing value as an empty field, a float column's numbers as Python
floats (`3` becomes `3.0` once a value of the column is missing or fractional), CSV quoting only where
a field holds a tab, a quote or a line break. With identical published files the bytes, and so the
MD5, are VLMEvalKit's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasteval.data.download import file_md5
from fasteval.data.video.cache import write_atomic
from fasteval.data.video.plan import Sampler, VideoPreset
from fasteval.errors import FastevalError

VIDEO_MME_PARQUET = "videomme/test-00000-of-00001.parquet"
VIDEO_MME_COLUMNS = (
    "index",
    "video",
    "video_path",
    "duration",
    "domain",
    "candidates",
    "sub_category",
    "task_type",
    "subtitle_path",
    "question",
    "answer",
)


@dataclass(frozen=True, slots=True)
class MVBenchTask:
    """One row of MVBench's `type_data_list`: its json file, video folder, storage and bound flag."""

    task: str
    json: str
    prefix: str  # 'your_data_path/...' with 'your_data_path' replaced by 'video' (mvbench.py L134)
    data_type: str  # 'video' or 'frame'
    bound: bool  # the rows carry start / end seconds


# `mvbench.py` L42-83, in its dict order (which is the TSV's row order).
MVBENCH_TASKS: tuple[MVBenchTask, ...] = tuple(
    MVBenchTask(*t)
    for t in (
        ("Action Sequence", "action_sequence.json", "video/star/Charades_v1_480/", "video", True),
        ("Action Prediction", "action_prediction.json", "video/star/Charades_v1_480/", "video", True),
        ("Action Antonym", "action_antonym.json", "video/ssv2_video/", "video", False),
        (
            "Fine-grained Action",
            "fine_grained_action.json",
            "video/Moments_in_Time_Raw/videos/",
            "video",
            False,
        ),
        ("Unexpected Action", "unexpected_action.json", "video/FunQA_test/test/", "video", False),
        ("Object Existence", "object_existence.json", "video/clevrer/video_validation/", "video", False),
        ("Object Interaction", "object_interaction.json", "video/star/Charades_v1_480/", "video", True),
        ("Object Shuffle", "object_shuffle.json", "video/perception/videos/", "video", False),
        ("Moving Direction", "moving_direction.json", "video/clevrer/video_validation/", "video", False),
        ("Action Localization", "action_localization.json", "video/sta/sta_video/", "video", True),
        ("Scene Transition", "scene_transition.json", "video/scene_qa/video/", "video", False),
        ("Action Count", "action_count.json", "video/perception/videos/", "video", False),
        ("Moving Count", "moving_count.json", "video/clevrer/video_validation/", "video", False),
        ("Moving Attribute", "moving_attribute.json", "video/clevrer/video_validation/", "video", False),
        ("State Change", "state_change.json", "video/perception/videos/", "video", False),
        ("Fine-grained Pose", "fine_grained_pose.json", "video/nturgbd/", "video", False),
        ("Character Order", "character_order.json", "video/perception/videos/", "video", False),
        ("Egocentric Navigation", "egocentric_navigation.json", "video/vlnqa/", "video", False),
        ("Episodic Reasoning", "episodic_reasoning.json", "video/tvqa/frames_fps3_hq/", "frame", True),
        (
            "Counterfactual Inference",
            "counterfactual_inference.json",
            "video/clevrer/video_validation/",
            "video",
            False,
        ),
    )
)


class SnapshotError(FastevalError):
    """A dataset snapshot that lacks the files VLMEvalKit builds its TSV from."""


@dataclass(frozen=True, slots=True)
class DatasetTsv:
    """The TSV a video benchmark reads, with its MD5 and the one VLMEvalKit pins."""

    path: Path
    md5: str
    expected_md5: str | None
    generated: bool  # written now from the snapshot's published files

    @property
    def warning(self) -> str | None:
        """One line when the TSV is not VLMEvalKit's (as for image TSVs, it is used anyway)."""
        if self.expected_md5 is None or self.md5 == self.expected_md5.lower():
            return None
        return (
            f"{self.path} has MD5 {self.md5}, VLMEvalKit pins {self.expected_md5}: using it as is "
            "(the published files differ from the ones VLMEvalKit's MD5 was taken from)"
        )


def tsv_path(preset: VideoPreset, snapshot: Path) -> Path:
    """`<snapshot>/<dataset>.tsv`, where VLMEvalKit's class writes and reads it."""
    return snapshot / f"{preset.dataset}.tsv"


def build_tsv(preset: VideoPreset, snapshot: Path, *, expected_md5: str | None) -> DatasetTsv:
    """The snapshot's TSV: kept when present (any MD5, with a warning), else generated as VLMEvalKit does."""
    path = tsv_path(preset, snapshot)
    if path.is_file():
        return DatasetTsv(path, file_md5(path), expected_md5, generated=False)
    if preset.sampler is Sampler.MVBENCH:
        columns, rows = mvbench_rows(snapshot)
    elif preset.sampler is Sampler.MVBENCH_MP4:
        columns, rows = mvbench_mp4_rows(snapshot)
    elif (snapshot / VIDEO_MME_PARQUET).is_file():
        columns, rows = video_mme_rows(snapshot)
    else:
        raise SnapshotError(
            f"{snapshot} has neither {path.name} nor {VIDEO_MME_PARQUET}; download the dataset again "
            "(it is incomplete), or place the published files there"
        )
    write_atomic(path, to_csv(columns, rows).encode("utf-8"))
    return DatasetTsv(path, file_md5(path), expected_md5, generated=True)


def video_mme_rows(snapshot: Path) -> tuple[list[str], list[list[Any]]]:
    """Video-MME's rows from its parquet (`videomme.py` L143-151)."""
    import pyarrow.parquet as pq

    table = pq.read_table(snapshot / VIDEO_MME_PARQUET).to_pylist()
    rows = []
    for i, rec in enumerate(table):
        vid = rec["videoID"]
        row = {
            **rec,
            "index": i,
            "video": vid,
            "video_path": f"./video/{vid}.mp4",
            "subtitle_path": f"./subtitle/{vid}.srt",
            "candidates": list(rec["options"]),
        }
        rows.append([row[c] for c in VIDEO_MME_COLUMNS])
    return list(VIDEO_MME_COLUMNS), rows


def mvbench_rows(snapshot: Path) -> tuple[list[str], list[list[Any]]]:
    """MVBench's rows from `json/*.json` in VLMEvalKit's task order; every video must exist (L124-158)."""
    columns = ["task_type", "prefix", "data_type", "bound", "start", "end", "video", "question", "answer"]
    columns += ["candidates", "index"]
    rows: list[list[Any]] = []
    missing: list[str] = []
    for task in MVBENCH_TASKS:
        for item in _load_json(snapshot / "json" / task.json):
            if not (snapshot / task.prefix / item["video"]).exists():
                missing.append(task.prefix + item["video"])
                continue
            start, end = item.get("start"), item.get("end")
            rows.append([task.task, task.prefix, task.data_type, task.bound, start, end, item["video"]])
            rows[-1] += [item["question"], item["answer"], item["candidates"], len(rows) - 1]
    if missing:
        raise SnapshotError(
            f"{len(missing)} MVBench video(s) missing under {snapshot}, first {missing[0]}: VLMEvalKit stops "
            "here too; download the dataset's video/*.zip again (NTURGB-D is not redistributed: obtain it "
            "from its authors) and unpack them"
        )
    return columns, rows


def mvbench_mp4_rows(snapshot: Path) -> tuple[list[str], list[list[Any]]]:
    """MVBench_MP4's rows from `test.json` (`mvbench.py` L482-497)."""
    data = _load_json(snapshot / "test.json")
    if not isinstance(data, Mapping) or "root" not in data or "meta" not in data:
        raise SnapshotError(
            f"{snapshot / 'test.json'} is not MVBench's video-revision index; download it again"
        )
    rows: list[list[Any]] = []
    for task, items in data["meta"].items():
        for item in items:
            rows.append([task, data["root"][task], item["video"], item["question"], item["answer"]])
            rows[-1] += [item["candidates"], len(rows) - 1]
    return ["task_type", "prefix", "video", "question", "answer", "candidates", "index"], rows


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(
            f"{path} not found; download the dataset again (its snapshot is incomplete)"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path} is not valid JSON ({exc}); download it again") from None


# ---------------------------------------------------------------------------------------------
# pandas' to_csv(sep='\t', index=False)
# ---------------------------------------------------------------------------------------------


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The text `pd.DataFrame(rows, columns=columns).to_csv(sep='\\t', index=False)` writes."""
    cells = [_column_cells([r[j] for r in rows]) for j in range(len(columns))]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for i in range(len(rows)):
        writer.writerow([col[i] for col in cells])
    return buf.getvalue()


def _column_cells(values: list[Any]) -> list[str]:
    """One column as pandas infers and prints it: numbers with a missing or fractional value are float64."""
    present = [v for v in values if v is not None]
    numeric = present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    as_float = numeric and (len(present) < len(values) or any(isinstance(v, float) for v in present))
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            out.append("")
        elif as_float:
            out.append(repr(float(v)))
        else:
            out.append(str(v))  # a list prints as its repr, a bool as True / False
    return out
