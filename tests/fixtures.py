"""Where the tests' data files live: the repository's own copies first, `shared/` only for unlicensed data.

A fresh clone must run every test alone, so everything redistributable sits under `tests/data/`:

    conformance_dir()               tests/data/conformance/public (the team's synthetic conformance kit)
    conformance_case("MMVet")       .../public/MMVet (input/, expected/, alt_*/); every case is present
    conformance_cases()             the names of all cases, e.g. for parametrize
    conformance_lmudata()           .../public/LMUData (point $LMUData here)
    conformance_lmudata("MME")      .../public/LMUData/MME.tsv
    judge_server_script()           the kit's scripted judge server (judge_server.py)
    refdata("vlmevalkit_vila/vila_8b/vila_8b_MME.xlsx")
                                    a licensed reference file, by its path under shared/refdata; large ones
                                    are stored gzipped and returned decompressed under their own name (in a
                                    per-process temp dir), so callers never see `.gz`

Data whose source states no licence (the MME official tool's files and anything derived from them, the
MMStar submission example) stays out of the repository. Tests that need it are the only ones that may
skip; they take it from `shared/refdata` and carry the marker:

    @needs_unlicensed_refdata
    def test_x() -> None:
        path = unlicensed_refdata("mme/LaVIN_MME_vlmevalkit_layout.tsv")

`shared/` is `$FASTEVAL_SHARED` when set, else `<this checkout>/../shared`; nothing else is searched, so a
clone elsewhere sees no shared data. The skip reason starts with `UNLICENSED_SKIP_REASON`; CI fails on
any other skip (`.ci/check_skips.py`).
"""

from __future__ import annotations

import atexit
import functools
import gzip
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
UNLICENSED_SKIP_REASON = "needs unlicensed reference data"


class MissingFixture(LookupError):
    """A test asked for a data file the repository does not hold (a typo, or a file never added)."""


def conformance_dir() -> Path:
    """The public conformance kit: LMUData/, one folder per case, manifest.json, EXPECTED.md."""
    return DATA / "conformance" / "public"


def conformance_cases() -> list[str]:
    """Every case of the kit, sorted (a case is a folder with an `input/`; LMUData is not one)."""
    return sorted(p.name for p in conformance_dir().iterdir() if (p / "input").is_dir())


def conformance_case(name: str) -> Path:
    """One case's folder, e.g. `conformance_case("TextVQA_VAL") / "expected" / "scores.json"`."""
    path = conformance_dir() / name
    if not (path / "input").is_dir():
        raise MissingFixture(f"no conformance case {name!r}; cases: {', '.join(conformance_cases())}")
    return path


def conformance_lmudata(dataset: str | None = None) -> Path:
    """The kit's $LMUData folder, or with `dataset` that dataset's TSV."""
    lmu = conformance_dir() / "LMUData"
    if dataset is None:
        return lmu
    path = lmu / f"{dataset}.tsv"
    if not path.is_file():
        raise MissingFixture(f"no conformance TSV for {dataset!r} in {lmu}")
    return path


def judge_server_script() -> Path:
    """The kit's deterministic scripted judge (see tests/data/conformance/README.md §8.10)."""
    return DATA / "conformance" / "judge_server.py"


def video_kit_dir() -> Path:
    """The public video conformance kit (videos, data/ in the published snapshot layouts, frames/,
    prompts/, one folder per case; its README says what each holds)."""
    return DATA / "conformance" / "video" / "public"


def video_kit_frames(generation: str = "expected") -> dict[str, Any]:
    """`frames/<generation>.json` of the video kit: VLMEvalKit's indices, hashes and file names."""
    path = video_kit_dir() / "frames" / f"{generation}.json"
    if not path.is_file():
        raise MissingFixture(f"no frames file for generation {generation!r} in {path.parent}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def video_kit_prompts(preset: str, generation: str = "expected") -> dict[str, Any]:
    """`prompts/<generation>/<preset>.json`: the messages VLMEvalKit's `build_prompt` returned per row."""
    path = video_kit_dir() / "prompts" / generation / f"{preset}.json"
    if not path.is_file():
        raise MissingFixture(f"no prompts for {preset!r} ({generation}) in {path.parent}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def video_mme_parquet(path: Path) -> Path:
    """Video-MME's published parquet (lmms-lab/Video-MME `videomme/test-00000-of-00001.parquet`: its
    columns, options as a list) holding the video kit's rows, written at `path`."""
    import ast

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fasteval.data.tabular import read_table

    rows = read_table(video_kit_dir() / "data" / "Video-MME" / "Video-MME.tsv").to_dicts()
    columns = {
        "video_id": [f"{r['index']:03d}" for r in rows],
        "duration": [r["duration"] for r in rows],
        "domain": [r["domain"] for r in rows],
        "sub_category": [r["sub_category"] for r in rows],
        "url": [f"https://example.invalid/{r['video']}" for r in rows],
        "videoID": [r["video"] for r in rows],
        "question_id": [f"{r['index']}-1" for r in rows],
        "task_type": [r["task_type"] for r in rows],
        "question": [r["question"] for r in rows],
        "options": [ast.literal_eval(r["candidates"]) for r in rows],
        "answer": [r["answer"] for r in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


@functools.cache
def video_frame_id() -> Callable[[Any], int]:
    """The kit's `frame_pattern.decode_frame_id`: the frame number drawn into a synthetic frame's pixels."""
    spec = importlib.util.spec_from_file_location("kit_frame_pattern", video_kit_dir() / "frame_pattern.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    decode: Callable[[Any], int] = module.decode_frame_id
    return decode


@functools.cache
def _unpack_dir() -> Path:
    """One temp dir per test process for decompressed files, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="fasteval-refdata-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def refdata(name: str) -> Path:
    """A licensed reference file by its path under refdata/ (as in shared/refdata); `.gz` is unpacked."""
    plain = DATA / "refdata" / name
    if plain.is_file():
        return plain
    packed = plain.with_name(plain.name + ".gz")
    if not packed.is_file():
        raise MissingFixture(f"no reference file {name!r} under {DATA / 'refdata'} (see its NOTICE.md)")
    out = _unpack_dir() / name
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        with gzip.open(packed, "rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(out)
    return out


def shared_dir() -> Path | None:
    """The team's shared folder: $FASTEVAL_SHARED, else <checkout>/../shared; None when neither exists."""
    configured = os.environ.get("FASTEVAL_SHARED")
    path = Path(configured) if configured else REPO.parent / "shared"
    return path if path.is_dir() else None


def _unlicensed_root() -> Path | None:
    shared = shared_dir()
    return shared / "refdata" if shared is not None and (shared / "refdata").is_dir() else None


needs_unlicensed_refdata = pytest.mark.skipif(
    _unlicensed_root() is None,
    reason=f"{UNLICENSED_SKIP_REASON} (shared/refdata: set FASTEVAL_SHARED)",
)


def unlicensed_refdata(name: str) -> Path:
    """A file of shared/refdata that may not be redistributed; skips (declared reason) when absent."""
    root = _unlicensed_root()
    path = root / name if root is not None else None
    if path is None or not path.exists():
        pytest.skip(f"{UNLICENSED_SKIP_REASON}: {name} (shared/refdata: set FASTEVAL_SHARED)")
    return path
