"""Datasets: VLMEvalKit's TSV reading, image references, the Parquet cache, MD5 handling, laziness."""

from __future__ import annotations

import base64
import csv
import gc
import hashlib
import io
import os
import string
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from fasteval.data import datasets
from fasteval.data.datasets import CACHE_DIR, DatasetError, load, locate
from fasteval.types import BenchmarkSpec
from tests.fixtures import conformance_lmudata
from tests.http_server import serve

KIT_BENCHMARKS = ("MME", "POPE", "MMBench_DEV_EN", "SEEDBench_IMG", "MMStar")


def _spec(name: str = "Toy", *, url: str | None = None, md5: str | None = None) -> BenchmarkSpec:
    return BenchmarkSpec(name=name, kind="mcq", url=url, md5=md5, scorer="mcq")


def _image(fmt: str, color: tuple[int, int, int] = (200, 30, 30)) -> str:
    """A small image whose base64 is longer than 64 characters (shorter cells are references)."""
    img = Image.new("RGB", (16, 16), color)
    img.putpixel((3, 5), (1, 2, 3))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def _pil_mime(b64: str) -> str:
    return Image.open(io.BytesIO(base64.b64decode(b64))).get_format_mimetype()  # type: ignore[attr-defined]


PNG, JPEG = _image("PNG"), _image("JPEG", (0, 90, 200))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows([[str(v) for v in r] for r in rows])
    return path


def _load(tmp_path: Path, header: list[str], rows: list[list[object]], name: str = "Toy") -> datasets.Dataset:
    _write(tmp_path / f"{name}.tsv", header, rows)
    spec = _spec(name)
    return load(spec, locate(spec, tmp_path, download=False))


# ---------------------------------------------------------------------------------------------
# Reading as VLMEvalKit reads
# ---------------------------------------------------------------------------------------------


def _vlmevalkit_samples(tsv: Path) -> dict[str, dict[str, object]]:
    """ImageBaseDataset's reading, redone with pandas: skip_noimg, str index, image refs, list cells."""
    data = pd.read_csv(tsv, sep="\t")
    data = data[~pd.isna(data["image"])]
    keys = [str(x) for x in data["index"]]
    image_map = dict(zip(keys, data["image"], strict=True))
    for k, v in list(image_map.items()):
        if len(v) <= 64:
            assert len(image_map[v]) > 64
            image_map[k] = image_map[v]
    out: dict[str, dict[str, object]] = {}
    for key, (_, line) in zip(keys, data.iterrows(), strict=True):
        cell = image_map[key]
        out[key] = {
            "images": [str(x) for x in eval(cell)] if cell.startswith("[") else [cell],
            "question": str(line["question"]),
            "options": {
                c: str(line[c]) for c in string.ascii_uppercase if c in line and not pd.isna(line[c])
            },
            "hint": None if "hint" not in line or pd.isna(line["hint"]) else str(line["hint"]),
            "answer": str(line["answer"]),
        }
    return out


@pytest.mark.parametrize("name", KIT_BENCHMARKS)
def test_conformance_tsvs_give_the_samples_vlmevalkit_builds(name: str, tmp_path: Path) -> None:
    (tmp_path / f"{name}.tsv").write_bytes(conformance_lmudata(name).read_bytes())
    spec = _spec(name)
    ds = load(spec, locate(spec, tmp_path, download=False))
    expected = _vlmevalkit_samples(tmp_path / f"{name}.tsv")

    samples = {str(s.index): s for s in ds.iter_samples()}
    assert samples.keys() == expected.keys() and len(ds) == len(expected)
    for key, s in samples.items():
        want = expected[key]
        assert [i.b64 for i in s.images] == want["images"], key
        assert [i.mime for i in s.images] == [_pil_mime(b64) for b64 in want["images"]], key
        assert (s.question, s.options, s.hint, s.answer) == (
            want["question"],
            want["options"],
            want["hint"],
            want["answer"],
        ), key
    assert "image" not in ds.meta.columns and ds.meta.height == len(expected)


def test_references_resolve_to_their_target_in_either_direction(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "ROW_GROUP_BYTES", 200)  # one row group per image: refs cross groups
    header = ["index", "question", "answer", "image"]
    rows = [
        [1000001, "copy before its target", "A", "1"],
        [1, "target", "A", PNG],
        [2, "other", "B", JPEG],
        [1000002, "copy after its target", "B", "2"],
        [2000001, "second copy", "A", "1"],
    ]
    ds = _load(tmp_path, header, rows)
    got = {s.index: s.images[0].b64 for s in ds.iter_samples()}
    assert got == {1000001: PNG, 1: PNG, 2: JPEG, 1000002: JPEG, 2000001: PNG}
    assert len(list(ds.iter_samples())) == 5  # each row exactly once


def test_a_multi_image_list_cell_gives_several_images_with_their_own_mime(tmp_path: Path) -> None:
    ds = _load(tmp_path, ["index", "question", "answer", "image"], [[0, "q", "A", repr([PNG, JPEG])]])
    (sample,) = ds.iter_samples()
    assert [(i.b64, i.mime) for i in sample.images] == [(PNG, "image/png"), (JPEG, "image/jpeg")]


def test_mime_is_sniffed_for_every_supported_format(tmp_path: Path) -> None:
    fmts = {
        "PNG": "image/png",
        "JPEG": "image/jpeg",
        "GIF": "image/gif",
        "WEBP": "image/webp",
        "BMP": "image/bmp",
    }
    rows = [[i, "q", "A", _image(fmt)] for i, fmt in enumerate(fmts)]
    ds = _load(tmp_path, ["index", "question", "answer", "image"], rows)
    assert [s.images[0].mime for s in ds.iter_samples()] == list(fmts.values())
    assert [_pil_mime(s.images[0].b64) for s in ds.iter_samples()] == list(fmts.values())


def test_na_like_options_disappear_and_text_reads_as_pandas_shows_it(tmp_path: Path) -> None:
    header = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image"]
    rows = [
        [0, "Which?", "", "red", "None", "NA", "3", "A", "color", PNG],
        [1, "Which?", "Look closely", "1", "2", "", "None", "B", "count", PNG],
    ]
    s0, s1 = _load(tmp_path, header, rows).iter_samples()
    assert s0.options == {"A": "red", "D": "3.0"}  # D is a float column in pandas (one value missing)
    assert s1.options == {"A": "1", "B": "2.0"}  # B too: its other value is None
    assert (s0.hint, s1.hint) == (None, "Look closely")
    assert (s0.index, s0.answer, s0.meta) == (0, "A", {"category": "color"})


def test_rows_without_an_image_are_dropped(tmp_path: Path) -> None:
    rows = [[0, "q", "A", PNG], [1, "q", "A", ""], [2, "q", "A", "nan"], [3, "q", "B", JPEG]]
    ds = _load(tmp_path, ["index", "question", "answer", "image"], rows)
    assert [s.index for s in ds.iter_samples()] == [0, 3]
    assert ds.meta["index"].to_list() == [0, 3]


def test_a_tsv_without_image_column_is_meta_only(tmp_path: Path) -> None:
    ds = _load(
        tmp_path, ["index", "question", "answer", "category"], [[0, "q", "Yes", "x"], [1, "q", "No", "y"]]
    )
    assert not ds.has_images and len(ds) == 2
    assert ds.meta["answer"].to_list() == ["Yes", "No"]
    assert list(ds.iter_samples()) == []


def test_skip_leaves_out_done_rows_but_still_serves_their_images_to_copies(tmp_path: Path) -> None:
    rows = [[1, "q", "A", PNG], [2, "q", "A", JPEG], [1000001, "q", "A", "1"]]
    ds = _load(tmp_path, ["index", "question", "answer", "image"], rows)
    left = list(ds.iter_samples(skip={"1", "2"}))
    assert [(s.index, s.images[0].b64) for s in left] == [(1000001, PNG)]
    assert list(ds.iter_samples(skip={"1", "2", "1000001"})) == []


def test_string_indices_stay_strings(tmp_path: Path) -> None:
    ds = _load(tmp_path, ["index", "question", "answer", "image"], [["chart_0_1", "q", "Yes", PNG]])
    assert [s.index for s in ds.iter_samples()] == ["chart_0_1"]


# ---------------------------------------------------------------------------------------------
# One-line errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["index", "answer", "image"], [[0, "A", PNG]], r"lacks required column\(s\) question"),
        (["index", "question", "answer", "image"], [[7, "q", "A", "%%%" + "A" * 100]], r"row 7: .*not"),
        (
            ["index", "question", "answer", "image"],
            [[7, "q", "A", "A" * 101]],
            r"row 7: image cell is not valid base64",
        ),
        (["index", "question", "answer", "image"], [[8, "q", "A", "QUFB" * 30]], r"row 8: image is not JPEG"),
        (
            ["index", "question", "answer", "image"],
            [[0, "q", "A", PNG, "extra"]],
            r"line 2 has 5 fields, the header 4",
        ),
        (["index", "question", "answer", "image"], [[5, "q", "A", "99"]], r"row 5's image refers to row 99"),
        (
            ["index", "question", "answer", "image"],
            [[5, "q", "A", "6"], [6, "q", "A", "5"]],
            r"itself a reference",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_cause(tmp_path: Path, header, rows, message) -> None:
    with pytest.raises(DatasetError, match=message) as exc:
        _load(tmp_path, header, rows)
    assert "\n" not in str(exc.value)
    assert not list((tmp_path / CACHE_DIR).glob("Toy-*-v1"))  # nothing half-written is kept


# ---------------------------------------------------------------------------------------------
# Locating, MD5 and the cache
# ---------------------------------------------------------------------------------------------


def test_a_local_file_with_another_md5_is_used_with_a_warning(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "Toy.tsv", ["index", "question", "answer", "image"], [[0, "q", "A", PNG]])
    before = tsv.read_bytes()
    actual = hashlib.md5(before).hexdigest()
    spec = _spec(url="http://127.0.0.1:9/never-contacted", md5="0" * 32)
    found = locate(spec, tmp_path)
    assert not found.md5_ok and found.md5 == actual and not found.downloaded
    assert found.warning is not None and actual in found.warning and "0" * 32 in found.warning
    assert tsv.read_bytes() == before
    assert locate(_spec(md5=actual), tmp_path).warning is None


def test_md5_is_computed_once_per_size_and_mtime(tmp_path: Path, monkeypatch) -> None:
    tsv = _write(tmp_path / "Toy.tsv", ["index", "question", "answer", "image"], [[0, "q", "A", PNG]])
    calls: list[Path] = []
    real = datasets.file_md5
    monkeypatch.setattr(datasets, "file_md5", lambda p: calls.append(p) or real(p))
    first = locate(_spec(), tmp_path).md5
    assert locate(_spec(), tmp_path).md5 == first and len(calls) == 1
    _write(tsv, ["index", "question", "answer", "image"], [[0, "q", "B", PNG]])
    os.utime(tsv, ns=(1, 1))
    assert locate(_spec(), tmp_path).md5 != first and len(calls) == 2


def test_an_absent_file_is_downloaded_into_lmudata(tmp_path: Path) -> None:
    body = _write(
        tmp_path / "src.tsv", ["index", "question", "answer", "image"], [[0, "q", "A", PNG]]
    ).read_bytes()
    lmudata = tmp_path / "LMUData"
    with serve({"Toy.tsv": body}) as srv:
        spec = _spec(url=srv.url("Toy.tsv"), md5=hashlib.md5(body).hexdigest())
        found = locate(spec, lmudata)
    assert found.downloaded and found.md5_ok and found.path == lmudata / "Toy.tsv"
    assert [s.index for s in load(spec, found).iter_samples()] == [0]


def test_an_absent_file_without_url_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{tmp_path / 'Toy.tsv'} not found .* place its TSV there"):
        locate(_spec(), tmp_path)
    with pytest.raises(DatasetError, match="place the VLMEvalKit TSV there"):
        locate(_spec(url="http://127.0.0.1:9/x"), tmp_path, download=False)


def test_second_load_reads_the_parquet_cache_not_the_tsv(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "Toy.tsv", ["index", "question", "answer", "image"], [[0, "q", "A", PNG]])
    found = locate(_spec(), tmp_path)
    first = load(_spec(), found)
    assert (tmp_path / CACHE_DIR / f"Toy-{found.md5}-v1" / "meta.parquet").is_file()
    tsv.unlink()
    again = load(_spec(), found)
    assert again.meta.equals(first.meta) and again.md5 == found.md5
    assert [s.images for s in again.iter_samples()] == [s.images for s in first.iter_samples()]


# ---------------------------------------------------------------------------------------------
# Laziness
# ---------------------------------------------------------------------------------------------


def _big(tmp_path: Path, rows: int) -> datasets.Dataset:
    png_head = base64.b64decode(PNG)[:16]
    body = [
        [i, f"q{i}", "A", base64.b64encode(png_head + os.urandom(30_000)).decode() if i % 4 else str(i + 1)]
        for i in range(rows)
    ]
    folder = tmp_path / str(rows)
    folder.mkdir()
    return _load(folder, ["index", "question", "answer", "image"], body)


def _iteration_peak(ds: datasets.Dataset) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        n = sum(len(s.images[0].b64) > 0 for s in ds.iter_samples())
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_iterating_keeps_python_memory_flat_as_the_file_grows(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "ROW_GROUP_BYTES", 1 << 20)
    small, large = _big(tmp_path, 60), _big(tmp_path, 600)
    n_small, peak_small = _iteration_peak(small)
    n_large, peak_large = _iteration_peak(large)
    image_bytes_large = 600 * 3 // 4 * 40_000
    assert (n_small, n_large) == (60, 600)
    assert peak_large < image_bytes_large / 100, (peak_small, peak_large)
    assert peak_large < 2 * peak_small + (256 << 10), (peak_small, peak_large)


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "Toy.tsv", ["index", "question", "answer", "image"], [[3, "q", "A", PNG]])
    tsv.write_bytes(b"\xef\xbb\xbf" + tsv.read_bytes())  # pandas strips a UTF-8 BOM, and so must we
    ds = load(_spec(), locate(_spec(), tmp_path))
    assert [s.index for s in ds.iter_samples()] == [3]
