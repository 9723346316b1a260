"""`python bench.py` with a judge, end to end: the fault server is the model, a scripted server the judge.

The fault server's replies are an answer word (Yes/No/A-D) and filler words, so which rows exact
matching leaves unresolved follows from the rules; the judge's script is chosen per prediction, so
every judge call, extracted answer and score below is worked out here from VLMEvalKit's rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from fasteval.catalog import resolve_spec
from fasteval.data.tabular import as_vlmeval_str, read_table
from fasteval.inference.store import RunStore
from fasteval.kinds.extract import extract_mcq
from fasteval.scoring.evaluate import read_dataset, score_predictions
from tests.scripted_judge import Call, ScriptedJudge, answer_in
from tests.test_bench_e2e import CONFORMANCE_LMU, REPO, Server

MCQ_HEAD = "You are an AI assistant who will help me to match an answer with several options"
YORN_HEAD = "You are an AI assistant who will help me to match an answer with two options"
RULES = "vlmevalkit-2026.06"


@pytest.fixture
def lmudata(tmp_path: Path) -> Path:
    d = tmp_path / "LMUData"
    d.mkdir()
    for name in ("MME", "MMBench_DEV_EN"):
        (d / f"{name}.tsv").write_bytes((CONFORMANCE_LMU / f"{name}.tsv").read_bytes())
    return d


@pytest.fixture
def model() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


async def bench(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """bench.py in a subprocess while this event loop keeps serving the in-process judge."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM", "LMUData")
    }
    full_env.update({"PRED_FORMAT": "tsv", **(env or {})})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "bench.py"), *args, cwd=cwd, env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def yorn_script(call: Call) -> str:
    """Predictions starting A -> Yes; B -> No; C -> Unknown every time; D -> Unknown at temperature 0,
    'no' above it (a script by temperature, not by ask count: two rows can share a prompt)."""
    first = answer_in(call.prompt).split()[0]
    return {"A": "Yes", "B": "No", "C": "Unknown", "D": "Unknown" if call.temperature == 0 else "It is no."}[
        first
    ]


def mcq_script(call: Call) -> str:
    """Predictions starting Yes -> 'B'; anything else -> an unparseable reply (3 tries, then fallback)."""
    return "B" if answer_in(call.prompt).startswith("Yes") else "I cannot tell."


def script(call: Call) -> str:
    return mcq_script(call) if call.prompt.startswith(MCQ_HEAD) else yorn_script(call)


def expected_yorn(preds: pl.DataFrame) -> tuple[dict[str, str], int]:
    """YOrN_Extraction resolves Yes/No words; the fillers hold neither, so A-D predictions go to the
    judge: the first non-Unknown reply of up to 5 tries wins."""
    answers, calls = {}, 0
    for key, pred in zip(preds["index"].cast(pl.String), preds["prediction"], strict=True):
        first = pred.split()[0]
        if first in ("Yes", "No"):
            continue
        answers[key], n = {"A": ("Yes", 1), "B": ("No", 1), "C": ("Unknown", 5), "D": ("No", 2)}[first]
        calls += n
    return answers, calls


def expected_circular(preds: pl.DataFrame, data: pl.DataFrame) -> tuple[dict[str, str], int, float]:
    """eval_circular_group: exact-match every row; a wrong one fails the group with no call; else
    judge unresolved rows in index order, stopping at the first wrong answer."""
    letters = [c for c in "ABCDEFGHI" if c in data.columns]
    truth = {as_vlmeval_str(i): a for i, a in zip(data["index"], data["answer"], strict=True)}
    options = {
        as_vlmeval_str(r["index"]): {c: str(r[c]) for c in letters if r[c] is not None}
        for r in data.iter_rows(named=True)
    }
    pred = dict(zip(preds["index"].cast(pl.String), preds["prediction"], strict=True))
    groups: dict[int, list[str]] = {}
    for key in sorted(pred, key=int):
        groups.setdefault(int(key) % 1_000_000, []).append(key)
    judged, calls, hits = {}, 0, []
    for g, keys in groups.items():
        if str(g) not in pred:
            continue  # no main row: not scored
        exact = {k: extract_mcq(pred[k], options[k], RULES) for k in keys}
        final = dict(exact)
        if not any(e is not None and e != truth[k] for k, e in exact.items()):
            for k in keys:
                if exact[k] is not None:
                    continue
                if pred[k].startswith("Yes"):
                    judged[k], calls = "B", calls + 1
                else:
                    choices = [*options[k], "Z"]
                    judged[k], calls = random.Random(f"0:{k}").choice(choices), calls + 3
                final[k] = judged[k]
                if judged[k] != truth[k]:
                    break
        hits.append(all(final[k] == truth[k] for k in keys))
    return judged, calls, sum(hits) / len(hits)


async def test_judge_resolves_only_unresolved_rows_scores_them_and_a_rerun_asks_nothing(
    model: Server, lmudata: Path, tmp_path: Path
):
    args = ("--data", "MME", "MMBench_DEV_EN", "--api-base", model.url, "--lmudata", str(lmudata),
            "--work-dir", "out")  # fmt: skip
    async with ScriptedJudge(script, model="judge-model", reported_model="judge-model-q4") as judge:
        env = {"OPENAI_API_BASE": f"{judge.url}/chat/completions", "LOCAL_LLM": "judge-model"}
        code, _, err = await bench(*args, cwd=tmp_path, env=env)
        assert code == 0, err
        first_calls = list(judge.calls)
        out = tmp_path / "out" / "fake-vlm"
        samples = {
            d: pl.read_parquet(out / f"fake-vlm_{d}_samples.parquet") for d in ("MME", "MMBench_DEV_EN")
        }
        code, _, err = await bench(*args, cwd=tmp_path, env=env)
        assert code == 0, err
        assert judge.n_calls == len(first_calls)  # the rerun asked the judge nothing
        for d, frame in samples.items():
            assert pl.read_parquet(out / f"fake-vlm_{d}_samples.parquet").equals(frame)

    # Y/N: only rows exact matching left Unknown were asked, as often as the rules say
    mme_preds = read_table(out / "fake-vlm_MME.tsv")
    yorn_answers, yorn_calls = expected_yorn(mme_preds)
    yorn_asked = [c for c in first_calls if c.prompt.startswith(YORN_HEAD)]
    assert len(yorn_asked) == yorn_calls and 0 < len(yorn_answers) < mme_preds.height
    mme = samples["MME"].with_columns(pl.col("index").cast(pl.String))
    judged = mme.filter(pl.col("method") != "exact")
    assert dict(zip(judged["index"], judged["extracted"], strict=True)) == yorn_answers
    assert set(judged["method"]) == {"judge"} and set(judged["judge_reported_model"]) == {"judge-model-q4"}
    assert mme.filter(pl.col("method") == "exact")["judge_reply"].null_count() == mme.height - judged.height
    # a judged row scores as a row that had answered the judge's word outright
    keys = [str(i) for i in mme_preds["index"]]
    words = [yorn_answers.get(k, p) for k, p in zip(keys, mme_preds["prediction"], strict=True)]
    as_words = mme_preds.with_columns(prediction=pl.Series(words))
    oracle = score_predictions(resolve_spec("MME", lmudata), as_words).result.table
    written = pl.read_csv(out / "fake-vlm_MME_score.csv")
    assert written["perception"][0] == pytest.approx(oracle["perception"][0])

    # circular MCQ: groups with an exact mismatch cost nothing; judging stops at the first wrong row
    mmb_preds = read_table(out / "fake-vlm_MMBench_DEV_EN.tsv")
    data = read_dataset(lmudata / "MMBench_DEV_EN.tsv")
    mcq_answers, mcq_calls, overall = expected_circular(mmb_preds, data)
    assert len([c for c in first_calls if c.prompt.startswith(MCQ_HEAD)]) == mcq_calls > 0
    mmb = samples["MMBench_DEV_EN"].with_columns(pl.col("index").cast(pl.String))
    decided = mmb.filter(pl.col("method").is_in(["judge", "fallback"]))
    assert dict(zip(decided["index"], decided["extracted"], strict=True)) == mcq_answers
    assert set(decided.filter(pl.col("judge_reply") == "B")["method"]) <= {"judge"}
    assert pl.read_csv(out / "fake-vlm_MMBench_DEV_EN_acc.csv")["Overall"][0] == pytest.approx(overall)

    summary = json.loads((out / "summary.json").read_text())["datasets"]
    j = summary["MMBench_DEV_EN"]["judge"]
    assert (j["mode"], j["model"], j["source"]) == ("judge", "judge-model", "OPENAI_API_BASE")
    assert j["host"] == judge.url.split("/")[2] and set(j["reported_models"]) == {"judge-model-q4"}
    mmb_text = dict(zip(mmb_preds["index"].cast(pl.String), mmb_preds["prediction"], strict=True))
    n_fallback = sum(1 for k in mcq_answers if not mmb_text[k].startswith("Yes"))
    assert summary["MMBench_DEV_EN"]["extraction"]["fallback"] == j["fallback_rows"] == n_fallback
    assert summary["MME"]["extraction"]["judge"] == len(yorn_answers)
    assert summary["MME"]["judge"]["calls"] == 0  # the summary describes the last run: all cached
    assert summary["MME"]["judge"]["cached_replies"] == yorn_calls


async def test_a_dead_judge_stops_the_run_before_generation(
    model: Server, lmudata: Path, tmp_path: Path, free_port: int
):
    dead = f"http://127.0.0.1:{free_port}/v1"
    args = ("--data", "MME", "--api-base", model.url, "--lmudata", str(lmudata), "--work-dir", "out",
            "--judge-base-url", dead, "--judge", "some-judge")  # fmt: skip
    code, _, err = await bench(*args, cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1
    assert dead in err and "make judge" in err and "--judge-fallback exact_matching" in err
    assert model.stats()["requests"] == 0  # stopped before generation

    code, _, err = await bench(*args, "--judge-fallback", "exact_matching", cwd=tmp_path)
    assert code == 0, err
    said = [line for line in err.splitlines() if "--judge-fallback exact_matching" in line]
    assert len(said) == 1 and said[0].startswith("fasteval: warning: judge failed its health probe")
    j = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())["datasets"]["MME"]["judge"]
    assert j["mode"] == "exact_matching" and "health probe" in j["reason"] and dead in j["reason"]


async def test_judging_overlaps_generation(lmudata: Path, tmp_path: Path):
    slow = Server("--token-delay", "0.02", "--tokens", "6")
    try:
        async with ScriptedJudge(script, model="judge-model") as judge:
            code, _, err = await bench(
                "--data", "MME", "--api-base", slow.url, "--lmudata", str(lmudata), "--work-dir", "out",
                "--concurrency", "4", "--judge-base-url", judge.url, "--judge", "judge-model", cwd=tmp_path,
            )  # fmt: skip
            assert code == 0, err
            first_judge_call = min(c.t for c in judge.calls)
    finally:
        slow.close()
    stored = RunStore.for_run(tmp_path / "out", "fake-vlm", "MME").read_all()
    # judging began while most answers were still to come (counted in rows, not seconds: a busy
    # machine stretches both stages alike)
    assert (stored["t_stored"] > first_judge_call).sum() > stored.height // 2


async def test_eval_of_a_prediction_file_uses_the_judge_and_a_new_judge_is_asked_afresh(
    lmudata: Path, tmp_path: Path
):
    preds = read_table(lmudata / "MME.tsv", drop_columns=("image",))
    texts = ["perhaps" if i < 4 else "Yes" for i in range(preds.height)]  # 4 rows exact matching cannot read
    pred_file = tmp_path / "preds.tsv"
    preds.with_columns(prediction=pl.Series(texts)).write_csv(pred_file, separator="\t")
    args = ("--mode", "eval", "--data", "MME", "--model", "m", "--pred", str(pred_file),
            "--lmudata", str(lmudata), "--work-dir", "out")  # fmt: skip
    async with (
        ScriptedJudge(lambda call: "No", model="j1") as j1,
        ScriptedJudge(lambda c: "Yes", model="j2") as j2,
    ):
        for judge, expected_calls in ((j1, 4), (j1, 4), (j2, 4)):  # j1 twice: the second time from cache
            code, _, err = await bench(
                *args, "--judge-base-url", judge.url, "--judge", judge.model, cwd=tmp_path
            )
            assert code == 0, err
            assert judge.n_calls == expected_calls
    samples = pl.read_parquet(tmp_path / "out" / "m" / "m_MME_samples.parquet")
    judged = samples.filter(pl.col("method") == "judge")
    assert judged.height == 4 and set(judged["extracted"]) == {"Yes"} and set(judged["judge_model"]) == {"j2"}


async def test_judge_calls_failing_for_good_keep_the_fallback_but_exit_3_and_say_how_many(
    model: Server, lmudata: Path, tmp_path: Path
):
    args = ("--data", "MMBench_DEV_EN", "--api-base", model.url, "--lmudata", str(lmudata),
            "--work-dir", "out", "--retry", "0")  # fmt: skip
    async with ScriptedJudge(lambda call: None, model="judge-model") as judge:  # every chat call: HTTP 500
        env = {"OPENAI_API_BASE": f"{judge.url}/chat/completions", "LOCAL_LLM": "judge-model"}
        code, out, err = await bench(*args, cwd=tmp_path, env=env)
        asked = judge.n_calls
    assert code == 3, err
    assert "Traceback" not in out + err
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())["datasets"]
    j = summary["MMBench_DEV_EN"]["judge"]
    n = j["judge_failed_rows"]
    assert n > 0 and n == j["fallback_rows"] == summary["MMBench_DEV_EN"]["extraction"]["fallback"]
    assert asked == j["failed_calls"] == 3 * n  # three tries per row, each one request (--retry 0)
    assert f"the judge failed for good on {n} rows" in " ".join(out.split())
    samples = pl.read_parquet(tmp_path / "out" / "fake-vlm" / "fake-vlm_MMBench_DEV_EN_samples.parquet")
    assert (
        samples.filter(pl.col("method") == "fallback")["judge_reply"]
        .str.starts_with("[judge call failed]")
        .all()
    )
