"""The public conformance kit: VLMEvalKit's own outputs on synthetic predictions, number for number.

Each (dataset, VLMEvalKit version) pair is scored from both prediction flavours (.xlsx, .tsv) with
the rule set of that version; scores.json, the written CSV and every row's extracted answer must
equal VLMEvalKit's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fasteval.catalog import get_spec
from fasteval.data.tabular import as_vlmeval_str, read_table
from tests.conformance_kit import VERSIONS, score_prediction_file
from tests.fixtures import conformance_case, conformance_lmudata

DATASETS = ("MME", "POPE", "MMBench_DEV_EN", "SEEDBench_IMG", "MMStar")


def _flat(table) -> dict[str, float]:
    if "split" not in table.columns:
        return {c: table[c][0] for c in table.columns}
    return {
        f"split={row['split']}|{k}": v
        for row in table.iter_rows(named=True)
        for k, v in row.items()
        if k != "split"
    }


@pytest.mark.parametrize("ext", ["xlsx", "tsv"])
@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("dataset", DATASETS)
def test_case_matches_vlmevalkit(dataset: str, version: str, ext: str, tmp_path: Path) -> None:
    expected_dir = conformance_case(dataset) / version
    scored, paths = score_prediction_file(  # what `bench.py --mode eval --pred FILE` calls
        get_spec(dataset),
        conformance_lmudata(dataset),
        conformance_case(dataset) / "input" / f"KitModel_{dataset}.{ext}",
        model="KitModel",
        work_dir=tmp_path,
        rules=VERSIONS[version],
    )
    want = json.loads((expected_dir / "scores.json").read_text())["flat"]
    got = _flat(scored.result.table)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key

    written = paths["score"]
    reference = (expected_dir / written.name).read_text(encoding="utf-8").splitlines()
    mine = written.read_text(encoding="utf-8").splitlines()
    assert mine[0] == reference[0]
    if dataset == "POPE":  # VLMEvalKit orders POPE tracks by Python-set order; fasteval sorts them
        assert mine[1] == reference[1] and sorted(mine[2:]) == sorted(reference[2:])
    else:
        assert mine == reference

    per_row = read_table(expected_dir / "per_row.csv")
    want_rows = dict(zip(per_row["index"].to_list(), per_row["extracted"].to_list(), strict=True))
    rows = scored.result.rows
    got_rows = dict(zip(rows["index"].to_list(), rows["extracted"].to_list(), strict=True))
    assert got_rows == want_rows
    want_pred = dict(
        zip(per_row["index"].to_list(), map(as_vlmeval_str, per_row["prediction_as_read"]), strict=True)
    )
    assert dict(zip(rows["index"].to_list(), rows["prediction"].to_list(), strict=True)) == want_pred


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("dataset", DATASETS)
def test_the_eval_command_writes_vlmevalkit_csv(dataset: str, version: str, tmp_path: Path) -> None:
    """The command a user (or an independent checker) types: `bench.py --mode eval --pred FILE`."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    pred = conformance_case(dataset) / "input" / f"KitModel_{dataset}.xlsx"
    command = [sys.executable, str(repo / "bench.py"), "--mode", "eval", "--data", dataset]
    command += ["--model", "KitModel", "--pred", str(pred), "--work-dir", str(tmp_path / "out")]
    r = subprocess.run(
        [*command, "--rules", VERSIONS[version]],
        env={**os.environ, "LMUData": str(conformance_lmudata()), "FASTEVAL_CACHE": str(tmp_path / "cache")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    case = conformance_case(dataset) / version
    (expected,) = [*case.glob("*_score.csv"), *case.glob("*_acc.csv")]
    got = tmp_path / "out" / "KitModel" / expected.name
    lines, want_lines = got.read_text().splitlines(), expected.read_text().splitlines()
    if dataset == "POPE":  # VLMEvalKit orders POPE's category rows by Python set order
        assert lines[0] == want_lines[0] and sorted(lines) == sorted(want_lines)
    else:
        assert lines == want_lines
