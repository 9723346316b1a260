"""VLMEvalKit-format tables read without pandas must hold exactly what pandas would (pandas is the oracle)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from fasteval.data.tabular import (
    TableError,
    as_vlmeval_str,
    format_csv_quote_all,
    read_table,
    warn_duplicate_index,
    write_csv_quote_all,
    write_tsv,
    write_xlsx,
)
from tests.fixtures import DATA

# every VLMEvalKit-written or -read table in the repository's test data (kit inputs, VLMEvalKit's outputs)
SMALL_TABLES = sorted(
    p for p in DATA.rglob("*") if p.suffix in (".tsv", ".xlsx") and p.stat().st_size < 250_000
)


def _pandas(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t") if path.suffix == ".tsv" else pd.read_excel(path)


def assert_same_as_pandas(path: Path, skip: tuple[str, ...] = ("image",)) -> None:
    mine, ref = read_table(path, raw_columns=skip), _pandas(path)
    assert mine.columns == list(ref.columns)
    assert mine.height == len(ref)
    for col in ref.columns:
        if col in skip:
            continue
        assert [as_vlmeval_str(v) for v in mine[col].to_list()] == [str(v) for v in ref[col].tolist()], col


@pytest.mark.parametrize("path", SMALL_TABLES, ids=lambda p: str(p.relative_to(DATA)))
def test_fixture_tables_read_like_pandas(path: Path) -> None:
    assert_same_as_pandas(path)


ADVERSARIAL = (
    "index\tquestion\tA\tB\tC\tanswer\tscore\tflag\n"
    '1\tsay "hi"\t1\tNone\t2.5\tA\t3\tTrue\n'
    '2\t"quoted\ttab and ""quote"""\tNA\t7\t\tB\t\tfalse\n'
    '3\t"ab"cd\tnan\t8\tN/A\tC\t4\tTRUE\n'
    "\n"
    "4\tünïcödé 答案\tnull\t9\t-1e3\tNA\t5\tFalse\n"
)


def test_adversarial_tsv_reads_like_pandas(tmp_path: Path) -> None:
    path = tmp_path / "adv.tsv"
    path.write_text(ADVERSARIAL, encoding="utf-8")
    assert_same_as_pandas(path, skip=())
    frame = read_table(path)
    assert frame.schema["index"] == pl.Int64  # all ints
    assert frame.schema["score"] == pl.Float64  # ints with a missing cell
    assert frame.schema["B"] == pl.Float64  # numeric option column with a 'None' cell
    assert as_vlmeval_str(frame["B"][1]) == "7.0"
    assert as_vlmeval_str(frame["A"][0]) == "1.0" and frame["answer"][3] is None  # "1" with NA cells: a float


def test_random_tables_read_like_pandas(tmp_path: Path) -> None:
    rng = random.Random(7)
    pool = [
        "",
        "NA",
        "None",
        "nan",
        "N/A",
        "#N/A",
        "<NA>",
        "null",
        "0",
        "12",
        "-3",
        "4.5",
        "1e3",
        "x",
        'q"q',
        "A B",
        "ü",
    ]
    for trial in range(20):
        cols = [f"c{j}" for j in range(5)]
        rows = [[rng.choice(pool[: 8 + trial % 10]) for _ in cols] for _ in range(rng.randint(1, 12))]
        path = tmp_path / f"t{trial}.tsv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows(
                [cols, *rows]
            )
        assert_same_as_pandas(path, skip=())


def test_raw_and_dropped_columns_are_never_converted(tmp_path: Path) -> None:
    path = tmp_path / "img.tsv"
    path.write_text("index\timage\tpath\n1\t12\tNA\n2\tNone\tx\n", encoding="utf-8")
    frame = read_table(path, raw_columns=("image",), drop_columns=("path",))
    assert frame.columns == ["index", "image"]
    assert frame["image"].to_list() == ["12", "None"]


def test_xlsx_written_here_reads_back_like_pandas(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "index": [1, 2, 3],
            "A": ["x", None, "=1+1"],
            "n": [1.5, None, 3.0],
            "prediction": ["4", "http://a", "NA"],
        }
    )
    path = write_xlsx(df, tmp_path / "p.xlsx")
    assert_same_as_pandas(path, skip=())
    assert read_table(path)["A"].to_list() == ["x", None, "=1+1"]


def test_csv_and_tsv_writers_match_pandas_quote_all(tmp_path: Path) -> None:
    df = pl.DataFrame({"split": ["none", 'a"b'], "Overall": [0.5833333333333334, None], "n": [910.0, 1e-5]})
    ref = df.to_pandas().to_csv(index=False, quoting=csv.QUOTE_ALL)
    assert format_csv_quote_all(df) == ref
    assert write_csv_quote_all(df, tmp_path / "a.csv").read_text() == ref
    tsv = df.to_pandas().to_csv(index=False, quoting=csv.QUOTE_ALL, sep="\t")
    assert write_tsv(df, tmp_path / "a.tsv").read_text() == tsv


def test_as_vlmeval_str_is_python_str_of_the_pandas_value() -> None:
    assert [as_vlmeval_str(v) for v in (None, float("nan"), 3.0, 7, True, "x")] == [
        "nan",
        "nan",
        "3.0",
        "7",
        "True",
        "x",
    ]


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="not found"):
        read_table(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(TableError, match="unsupported extension"):
        read_table(bad)


def test_broken_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.xlsx"
    write_xlsx(pl.DataFrame({"index": [1, 2], "prediction": ["A", "B"]}), good)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[:200])
    header_only = tmp_path / "header.tsv"
    header_only.write_text("index\tprediction\n")
    short = tmp_path / "short.tsv"
    short.write_text("index\tprediction\n1\tA\n2\n")
    cases = {cut: "truncated or corrupt", header_only: "header but no rows", short: "line 3 has 1 fields"}
    for path, why in cases.items():
        with pytest.raises(TableError, match=why) as err:
            read_table(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    dup = tmp_path / "dup.tsv"
    dup.write_text("index\tprediction\n1\tA\n1\tB\n2\tC\n")
    warn_duplicate_index(read_table(dup), dup)
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and "1 duplicate row(s) repeat 1 index value(s) (e.g. 1)" in err_text
    assert "the last row of each index wins" in err_text


def test_writes_replace_whole_files_and_fail_as_one_line(tmp_path: Path) -> None:
    frame = pl.DataFrame({"index": [1], "prediction": ["A"]})
    for write, name in ((write_xlsx, "p.xlsx"), (write_tsv, "p.tsv"), (write_csv_quote_all, "s.csv")):
        write(frame, tmp_path / name)
        assert read_table(tmp_path / name).height == 1
        with pytest.raises(TableError, match=r"cannot write .*--work-dir") as err:
            write(frame, tmp_path / "missing" / name)
        assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tsv", "p.xlsx", "s.csv"]  # no temp left


def test_a_tsv_written_row_by_row_is_the_text_of_the_whole_frame(tmp_path: Path) -> None:
    """write_tsv streams its rows (issue 22: memory), byte for byte what the one-string form gives."""
    df = pl.DataFrame(
        {
            "index": [1, 2, 3],
            "question": ['say "hi"\tthen', "two\nlines", None],
            "score": [0.1 + 0.2, None, 3.0],
            "prediction": ["ü ✓", "", "\\t"],
        }
    )
    path = write_tsv(df, tmp_path / "p.tsv")
    assert path.read_bytes() == format_csv_quote_all(df, sep="\t").encode("utf-8")
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
