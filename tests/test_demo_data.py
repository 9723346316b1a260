"""The bundled demo benchmarks: VLMEvalKit's TSV layout, real images, deterministic bytes."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from fasteval.data.demo import ROTATION, demo_mcq_rows, demo_yn_rows, write_demo_benchmarks


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("LMUData")
    assert write_demo_benchmarks(root) == ["DEMO_YN", "DEMO_MCQ", "DEMO_VQA", "DEMO_MI", "DEMO_VIDEO"]
    return root


def _read(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / f"{name}.tsv", sep="\t")  # as VLMEvalKit's load() reads it


def _image(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, lmudata: Path) -> None:
    write_demo_benchmarks(tmp_path)
    for name in ("DEMO_YN", "DEMO_MCQ"):
        assert (tmp_path / f"{name}.tsv").read_bytes() == (lmudata / f"{name}.tsv").read_bytes()
    digest = hashlib.md5((lmudata / "DEMO_YN.tsv").read_bytes()).hexdigest()
    write_demo_benchmarks(tmp_path, seed=1)
    assert hashlib.md5((tmp_path / "DEMO_YN.tsv").read_bytes()).hexdigest() != digest


def test_yn_is_mme_shaped_two_questions_per_image_one_yes_one_no(lmudata: Path) -> None:
    df = _read(lmudata, "DEMO_YN")
    assert list(df.columns) == ["index", "category", "image_path", "question", "answer", "image"]
    assert 40 <= len(df) <= 100 and df["index"].tolist() == list(range(len(df)))
    assert set(df["category"]) == {"existence", "count", "position", "color"}  # four MME subtasks
    for _, pair in df.groupby("image_path"):
        assert sorted(pair["answer"]) == ["No", "Yes"]
        assert pair["image"].nunique() == 1
        assert pair["category"].nunique() == 1
    assert df["question"].str.endswith("Please answer yes or no.").all()


def test_yn_images_are_real_pngs(lmudata: Path) -> None:
    df = _read(lmudata, "DEMO_YN")
    img = _image(df["image"][0])
    assert img.format == "PNG" and img.size == (96, 96)
    assert len(img.convert("RGB").getcolors(maxcolors=10_000) or []) > 1  # shapes on the white background


def test_mcq_is_mmbench_shaped(lmudata: Path) -> None:
    df = _read(lmudata, "DEMO_MCQ")
    mmbench = [
        "index",
        "question",
        "hint",
        "A",
        "B",
        "C",
        "D",
        "answer",
        "category",
        "image",
        "l2-category",
        "split",
    ]
    assert list(df.columns) == mmbench
    assert 40 <= len(df) <= 100
    assert set(df["split"]) == {"dev"}
    assert set(df["category"]) == {
        "attribute_recognition",
        "object_localization",
        "spatial_relationship",
        "attribute_comparison",
    }
    assert df["hint"].notna().any() and df["hint"].isna().any()  # hints on some rows only, NaN elsewhere
    assert df["C"].isna().any() and df["D"].isna().any()  # 2- and 3-option questions too
    for _, row in df.iterrows():
        assert pd.notna(row[row["answer"]])  # the answer letter names a present option


def test_mcq_rotations_reference_the_main_row_and_keep_the_right_answer(lmudata: Path) -> None:
    df = _read(lmudata, "DEMO_MCQ")
    main = df[df["index"] < ROTATION].set_index("index")
    rotated = df[df["index"] >= ROTATION]
    assert len(rotated) > 0 and main.index.tolist() == list(range(len(main)))
    assert (main["image"].str.len() > 64).all()
    for _, row in rotated.iterrows():
        q = row["index"] % ROTATION
        assert row["image"] == str(q)  # VLMEvalKit resolves an image cell of <= 64 chars as a row index
        assert row[row["answer"]] == main.loc[q, main.loc[q, "answer"]]  # same right option text
        assert row["question"] == main.loc[q, "question"]
    group_sizes = df.groupby(df["index"] % ROTATION).size()
    options = main[["A", "B", "C", "D"]].notna().sum(axis=1)
    assert (group_sizes == options).all()  # one row per option position: a full circular group


def test_mcq_answers_spread_over_letters() -> None:
    answers = [r["answer"] for r in demo_mcq_rows() if int(r["index"]) < ROTATION]
    assert len(set(answers)) >= 3


def test_mcq_images_are_real_jpegs() -> None:
    first = demo_mcq_rows()[0]
    assert _image(first["image"]).format == "JPEG"


def test_yn_rows_default_size() -> None:
    assert len(demo_yn_rows()) == 48
