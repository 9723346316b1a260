"""The judge-scored conformance cases (MathVista_MINI, MMVet), replayed against the kit's judge.

Each (case, VLMEvalKit version) gets a fresh scripted judge, a replay that follows VLMEvalKit's
call discipline (the `hello` probe, then row by row: 6 HTTP attempts per call, the benchmark's try
schedule), and the pure kind functions; then every cell of the expected score tables, every row's
outcome and the kit's `judge_calls.csv` (distinct prompts, temperatures, request and 500 counts,
max_tokens, replies) must equal VLMEvalKit's.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from fasteval.data.tabular import as_vlmeval_str, format_csv_quote_all, read_table
from fasteval.kinds import mathvista, mmvet
from fasteval.scoring import ScoreOptions
from fasteval.scoring.mathvista import score_mathvista
from fasteval.scoring.mmvet import score_mmvet
from tests.conformance_kit import VERSIONS
from tests.judge_kit import (
    HELLO,
    InProcessJudge,
    Recorder,
    Transport,
    find_kit,
    http_judge,
    load_server_module,
)

KIT = find_kit()


def _public() -> Path:
    return KIT / "public"


def _transport(kind: str, tmp: Path) -> AbstractContextManager[Transport]:
    if kind == "http":
        return http_judge(KIT, tmp)
    return nullcontext(InProcessJudge(load_server_module(KIT)))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _judge_calls(path: Path) -> list[dict[str, str]]:
    rows = _read_csv(path)
    return sorted(rows, key=lambda d: (d["kind"], d["prompt_sha256"], float(d["temperature"])))


def _kind_of() -> Callable[[str], str]:
    return load_server_module(KIT).kind_of  # type: ignore[no-any-return]


def _assert_table_file(table: pl.DataFrame, expected: Path) -> None:
    """Every cell: the CSV text fasteval would write equals VLMEvalKit's file line for line."""
    mine = format_csv_quote_all(table).splitlines()
    assert mine == expected.read_text(encoding="utf-8").splitlines()


def _rows(case: str) -> Iterator[dict[str, Any]]:
    yield from read_table(_public() / case / "input" / f"KitModel_{case}.xlsx").iter_rows(named=True)


# ---------------------------------------------------------------------------------------------
# MathVista
# ---------------------------------------------------------------------------------------------


def replay_mathvista(judge: Recorder, rules: str) -> pl.DataFrame:
    sched = mathvista.SCHEDULE
    judge.call(HELLO, 0.0, sched.max_tokens)
    out = []
    for r in _rows("MathVista_MINI"):
        row = mathvista.MathVistaRow.from_record(r)
        fetched = mathvista.prefetch(row, rules)
        if fetched is not None:
            outcome = mathvista.prefetched_outcome(fetched)
        else:
            prompt = mathvista.judge_prompt(as_vlmeval_str(r["question"]), row.prediction)
            replies: list[str] = []
            decided = None
            while decided is None:
                replies.append(judge.call(prompt, sched.temperatures[len(replies)], sched.max_tokens))
                decided = mathvista.fold_tries(row.prediction, replies)
            outcome = decided
        rec = mathvista.record(row, outcome, rules)
        out.append(
            {
                "index": r["index"],
                "task": r["task"],
                "skills": r["skills"],
                "res": rec.res,
                "log": rec.log,
                "prefetched": int(rec.prefetched),
                "hit": int(rec.hit),
            }
        )
    return pl.DataFrame(out)


@pytest.mark.parametrize("transport", ["inprocess", "http"])
@pytest.mark.parametrize("version", list(VERSIONS))
def test_mathvista_replay_matches_vlmevalkit(version: str, transport: str, tmp_path: Path) -> None:
    case = _public() / "MathVista_MINI"
    with _transport(transport, tmp_path) as t:
        judge = Recorder(t)
        rows = replay_mathvista(judge, VERSIONS[version])
    result = score_mathvista(rows, ScoreOptions())
    _assert_table_file(result.table, case / version / "KitModel_MathVista_MINI_gpt-4o-mini_score.csv")

    want = {int(r["index"]): r for r in _read_csv(case / version / "per_row.csv")}
    assert len(want) == rows.height
    for got in rows.iter_rows(named=True):
        exp = want[int(got["index"])]
        assert (got["prefetched"], got["hit"], got["log"]) == (
            int(exp["prefetched"]),
            int(exp["hit"]),
            exp["log"],
        ), got["index"]
        assert (got["res"] or "") == exp["res"], got["index"]

    assert judge.calls_table(_kind_of()) == _judge_calls(case / version / "judge_calls.csv")


# ---------------------------------------------------------------------------------------------
# MMVet
# ---------------------------------------------------------------------------------------------


def replay_mmvet(judge: Recorder, rules: str) -> pl.DataFrame:
    sched = mmvet.schedule(rules)
    judge.call(HELLO, 0.0, sched.max_tokens)
    out = []
    for r in _rows("MMVet"):
        prompt = mmvet.judge_prompt(
            as_vlmeval_str(r["question"]), as_vlmeval_str(r["answer"]), as_vlmeval_str(r["prediction"])
        )
        replies: list[str] = []
        decided = None
        while decided is None:
            replies.append(judge.call(prompt, sched.temperatures[len(replies)], sched.max_tokens))
            decided = mmvet.fold_tries(replies)
        out.append(
            {"index": r["index"], "category": r["category"], "score": decided.score, "log": decided.log}
        )
    return pl.DataFrame(out)


@pytest.mark.parametrize("transport", ["inprocess", "http"])
@pytest.mark.parametrize("version", list(VERSIONS))
def test_mmvet_replay_matches_vlmevalkit(version: str, transport: str, tmp_path: Path) -> None:
    case = _public() / "MMVet"
    with _transport(transport, tmp_path) as t:
        judge = Recorder(t)
        rows = replay_mmvet(judge, VERSIONS[version])
    result = score_mmvet(rows, ScoreOptions())
    _assert_table_file(result.table, case / version / "KitModel_MMVet_gpt-4-turbo_score.csv")
    _assert_table_file(
        result.extra_tables["score_fine"], case / version / "KitModel_MMVet_gpt-4-turbo_score_fine.csv"
    )

    want = {int(r["index"]): r for r in _read_csv(case / version / "per_row.csv")}
    assert len(want) == rows.height
    for got in rows.iter_rows(named=True):
        exp = want[int(got["index"])]
        assert got["score"] == float(exp["score"]), got["index"]
        assert got["log"] == exp["log"], got["index"]

    assert judge.calls_table(_kind_of()) == _judge_calls(case / version / "judge_calls.csv")
