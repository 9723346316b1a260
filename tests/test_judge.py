"""The judge's semantics against a scripted judge server: which rows are asked, how often, at which
temperature, with which prompt, what each reply becomes, and that a rerun asks nothing.

Expected values are worked out here from VLMEvalKit's rules (research/vlmevalkit.md §4.2-4.4),
not by re-running fasteval's code.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from fasteval.config import Secret, Settings
from fasteval.judge.cache import JudgeCache
from fasteval.judge.calls import JobJudge, Judge
from fasteval.judge.resolve import (
    MODEL_ALIASES,
    JudgeEndpoint,
    JudgeUnavailable,
    normalise_base,
    resolve_judge,
)
from fasteval.judge.stage import JudgeRun, RowSource, judge_table
from fasteval.kinds.mcq import judge_prompt as mcq_prompt
from fasteval.kinds.yorn import judge_prompt as yorn_prompt
from fasteval.types import BenchmarkSpec, Method
from tests.scripted_judge import Call, ScriptedJudge, answer_in

MCQ = BenchmarkSpec(name="T_MCQ", kind="mcq", url=None, md5=None, scorer="mcq")
CIRC = BenchmarkSpec(name="T_CIRC", kind="mcq", url=None, md5=None, scorer="mcq", circular=True)
YORN = BenchmarkSpec(name="T_YN", kind="yorn", url=None, md5=None, scorer="yorn")
RULES = "vlmevalkit-2026.06"


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "openai_api_key": None,
        "openai_api_base": None,
        "local_llm": None,
        "lmudata": Path("/nonexistent"),
        "pred_format": "tsv",
    }
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


def mcq_table(n: int, answers: str = "") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "index": list(range(n)),
            "question": [f"Which shape is number {i}" for i in range(n)],
            "A": ["circle"] * n,
            "B": ["square"] * n,
            "C": ["triangle"] * n,
            "D": ["star"] * n,
            "answer": list(answers or "A" * n),
        }
    )


def rows(spec: BenchmarkSpec, table: pl.DataFrame, preds: dict[str, str]) -> RowSource:
    """The rows of `table` named in `preds`, answered with those predictions, as the judge sees them."""
    keys = [str(i) for i in table["index"].to_list()]
    answered = table.with_columns(pl.Series("__k", keys)).filter(pl.col("__k").is_in(list(preds)))
    answered = answered.with_columns(prediction=pl.col("__k").replace_strict(preds)).drop("__k")
    return RowSource(spec, answered, table, RULES)


def exact(source: RowSource) -> list[str | None]:
    return [source.answered(key)[1].answer for key in source.items]


async def run_items(judge_url: str, tmp: Path, source: RowSource, **kw: object) -> tuple:
    endpoint = JudgeEndpoint(judge_url, "judge-model", None, "test")
    async with Judge(endpoint, concurrency=4, attempts=1) as judge:
        jj = JobJudge(judge, JudgeCache(tmp, kw.pop("run_id", "r1")), rules=RULES, **kw)  # type: ignore[arg-type]
        verdicts = await judge_table(jj, source)
    return verdicts, jj.stats


# ---------------------------------------------------------------------------------------------
# Prompts, verbatim
# ---------------------------------------------------------------------------------------------


def test_mcq_prompt_is_vlmevalkits_text_with_a_question_mark_and_the_stripped_answer() -> None:
    expected = (
        "You are an AI assistant who will help me to match an answer with several options of a "
        "single-choice question. You are provided with a question, several options, and an answer, "
        "and you need to find which option is most similar to the answer. If the meaning of all options "
        "are significantly different from the answer, output Z. Your should output a single uppercase "
        "character in A, B, C, D (if they are valid options), and Z. \n"
        "Example 1: \nQuestion: What is the main object in image?\n"
        "Options: A. teddy bear B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\n"
        "Example 2: \nQuestion: What is the main object in image?\n"
        "Options: A. teddy bear B. rabbit C. cat D. dog\nAnswer: Spider\nYour output: Z\n"
        "Example 3: \nQuestion: What color?\n"
        "Options: There are several options: \nA. red\nB. blue\n\n"
        "Answer: it is red\nYour output: "
    )
    assert mcq_prompt("What color", {"A": "red", "B": "blue"}, "  it is red \n") == expected


def test_cjk_question_selects_the_chinese_template() -> None:
    prompt = mcq_prompt("图中是什么颜色", {"A": "红", "B": "蓝"}, "红色")
    assert prompt.startswith("你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。")
    assert prompt.endswith(
        "例 3: \n问题: 图中是什么颜色?\n选项: There are several options: \nA. 红\nB. 蓝\n\n答案: 红色\n输出: "
    )
    assert mcq_prompt("What is 图", {"A": "x"}, "y").startswith("你是")  # any CJK character counts


def test_yorn_prompt_keeps_the_prediction_as_stored() -> None:
    prompt = yorn_prompt("Is it a cat? Please answer yes or no.", " maybe ")
    assert prompt.startswith(
        "You are an AI assistant who will help me to match an answer with two options of a question. "
        "The options are only Yes / No. "
    )
    assert prompt.endswith(
        "Example 3: \nQuestion: Is it a cat? Please answer yes or no.?\nAnswer:  maybe \nYour output: "
    )


# ---------------------------------------------------------------------------------------------
# MCQ
# ---------------------------------------------------------------------------------------------


async def test_only_unresolved_mcq_rows_are_judged_and_replies_are_read_by_the_matcher(tmp_path: Path):
    # row 0 "B" and row 1 "the square" resolve by exact matching (letter; unique option text);
    # rows 2-4 name no option, so they go to the judge.
    preds = {"0": "B", "1": "the square", "2": "no idea", "3": "hmm", "4": "cannot say"}

    def reply(call: Call) -> str:
        said = answer_in(call.prompt)
        if said == "no idea":
            return "The answer is C."  # can_infer: one letter token... 'C' among the last 4 tokens
        if said == "hmm":
            return ["I am not sure", "D"][min(call.nth, 1)]  # first try unparseable, second 'D'
        return "nothing useful here"  # never parseable: 3 tries, then the seeded fallback

    source = rows(MCQ, mcq_table(5), preds)
    assert exact(source) == ["B", "B", None, None, None]
    async with ScriptedJudge(reply) as server:
        verdicts, stats = await run_items(server.url, tmp_path, source, seed=7)
    assert sorted(verdicts) == ["2", "3", "4"]
    assert {answer_in(c.prompt) for c in server.calls} == {"no idea", "hmm", "cannot say"}
    assert server.n_calls == 1 + 2 + 3 == stats.calls
    assert all(c.temperature == 0.0 for c in server.calls)
    assert (verdicts["2"].answer, verdicts["2"].method, verdicts["2"].tries) == ("C", Method.JUDGE, 1)
    assert verdicts["2"].reply == "The answer is C."
    assert (verdicts["3"].answer, verdicts["3"].tries) == ("D", 2)
    expected = random.Random("7:4").choice(["A", "B", "C", "D", "Z"])  # options + Z, keyed by seed:row
    assert (verdicts["4"].answer, verdicts["4"].method, verdicts["4"].tries) == (expected, Method.FALLBACK, 3)
    assert verdicts["4"].reply == "nothing useful here"


async def test_unparsed_z_policy_and_failed_calls_are_recorded_tries(tmp_path: Path):
    source = rows(MCQ, mcq_table(1), {"0": "no idea"})
    async with ScriptedJudge(lambda call: None) as server:  # every call is an HTTP 500
        verdicts, stats = await run_items(server.url, tmp_path, source, unparsed="z")
    v = verdicts["0"]
    assert (v.answer, v.method, v.tries) == ("Z", Method.FALLBACK, 3)
    assert v.reply is not None and v.reply.startswith("[judge call failed]")
    assert server.n_calls == 3 and stats.failed_calls == 3


async def test_the_seeded_fallback_is_the_same_on_every_run_and_differs_by_seed(tmp_path: Path):
    source = rows(MCQ, mcq_table(40), {str(i): "no idea" for i in range(40)})
    async with ScriptedJudge(lambda call: "???") as server:
        a, _ = await run_items(server.url, tmp_path / "a", source, seed=1)
        b, _ = await run_items(server.url, tmp_path / "b", source, seed=1)
        c, _ = await run_items(server.url, tmp_path / "c", source, seed=2)
    pick = {k: v.answer for k, v in a.items()}
    assert pick == {k: v.answer for k, v in b.items()}
    assert pick != {k: v.answer for k, v in c.items()}
    assert pick == {str(i): random.Random(f"1:{i}").choice("ABCDZ") for i in range(40)}


# ---------------------------------------------------------------------------------------------
# Circular MCQ
# ---------------------------------------------------------------------------------------------


async def test_circular_groups_fail_early_and_stop_at_the_first_wrong_judgement(tmp_path: Path):
    g = 1_000_000
    table = pl.DataFrame(
        {
            "index": [0, g, 2 * g, 1, g + 1, 2 * g + 1, 2, g + 2, 2 * g + 2, g + 3],
            "question": ["q0", "q0", "q0", "q1", "q1", "q1", "q2", "q2", "q2", "q3"],
            "A": ["circle"] * 10,
            "B": ["square"] * 10,
            "C": ["triangle"] * 10,
            "answer": list("ABCABCABCA"),
        }
    )
    preds = {
        "0": "hmm", str(g): "C", str(2 * g): "hmm",          # exact 'C' but truth 'B': fails, no call
        "1": "A", str(g + 1): "pass", str(2 * g + 1): "pass",  # judge says C for q1: rotation 1 wrong
        "2": "pass", str(g + 2): "pass", str(2 * g + 2): "pass",  # judge echoes the truth: all asked
        str(g + 3): "pass",                                   # no main row: not scored, not asked
    }  # fmt: skip
    truth = dict(zip(map(str, table["index"]), table["answer"], strict=True))
    order: list[str] = []

    def reply(call: Call) -> str:
        if "Question: q1?" in call.prompt:
            return "C"
        # q2: the judge answers each rotation's truth; rows are identified by call order
        key = ["2", str(g + 2), str(2 * g + 2)][len(order)]
        order.append(key)
        return truth[key]

    async with ScriptedJudge(reply) as server:
        verdicts, stats = await run_items(server.url, tmp_path, rows(CIRC, table, preds))
    assert sorted(verdicts) == sorted([str(g + 1), "2", str(g + 2), str(2 * g + 2)])
    assert verdicts[str(g + 1)].answer == "C"  # wrong (truth B): rotation 2 of group 1 never asked
    assert {k: verdicts[k].answer for k in order} == {k: truth[k] for k in order}
    assert server.n_calls == stats.calls == 1 + 3


# ---------------------------------------------------------------------------------------------
# Y/N
# ---------------------------------------------------------------------------------------------


async def test_yorn_tries_five_temperatures_and_takes_the_first_yes_or_no(tmp_path: Path):
    table = pl.DataFrame(
        {"index": [0, 1, 2, 3], "question": ["Is it red"] * 4, "answer": ["Yes", "No", "Yes", "No"]}
    )
    preds = {"0": "Yes, it is.", "1": "perhaps", "2": "hard to tell", "3": "unclear"}

    def reply(call: Call) -> str:
        said = answer_in(call.prompt)
        if said == "perhaps":
            return "No"
        if said == "hard to tell":
            return ["Unknown", "Unknown", "yes."][min(call.nth, 2)]
        return "Unknown"

    async with ScriptedJudge(reply) as server:
        verdicts, _ = await run_items(server.url, tmp_path, rows(YORN, table, preds))
    assert sorted(verdicts) == ["1", "2", "3"]  # row 0 says yes: exact matching decides it
    assert (verdicts["1"].answer, verdicts["1"].tries) == ("No", 1)
    assert (verdicts["2"].answer, verdicts["2"].tries) == ("Yes", 3)
    assert (verdicts["3"].answer, verdicts["3"].tries, verdicts["3"].method) == ("Unknown", 5, Method.JUDGE)
    temps = {p: [c.temperature for c in server.calls if answer_in(c.prompt) == p] for p in preds.values()}
    assert temps == {
        "Yes, it is.": [],
        "perhaps": [0.0],
        "hard to tell": [0.0, 0.5, 1.0],
        "unclear": [0.0, 0.5, 1.0, 1.5, 2.0],
    }


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------


async def test_a_rerun_asks_nothing_and_a_new_judge_model_is_asked_afresh(tmp_path: Path):
    source = rows(MCQ, mcq_table(3), {str(i): "no idea" for i in range(3)})
    async with ScriptedJudge(lambda call: ["?", "B"][min(call.nth, 1)], reported_model="served/x") as server:
        first, s1 = await run_items(server.url, tmp_path, source, run_id="r1")
        again, s2 = await run_items(server.url, tmp_path, source, run_id="r2")
        assert server.n_calls == 3 * 2 and s1.calls == 6
        assert s2.calls == 0 and s2.cached == 6 and first == again
        assert {v.reported_model for v in first.values()} == {"served/x"}
        assert (tmp_path / "judge-r1.arrow").is_file() and not (tmp_path / "judge-r2.arrow").exists()
        server.model = "judge-model-2"
        endpoint = JudgeEndpoint(server.url, "judge-model-2", None, "test")
        async with Judge(endpoint, attempts=1) as judge:
            jj = JobJudge(judge, JudgeCache(tmp_path, "r3"), rules=RULES)
            await judge_table(jj, source)
        # a different judge model shares no cached reply (the script, past its first ask, says B at once)
        assert (jj.stats.cached, jj.stats.calls) == (0, 3)


# ---------------------------------------------------------------------------------------------
# Configuration and health
# ---------------------------------------------------------------------------------------------


def test_judge_configuration_precedence() -> None:
    class Server:
        name, served_name, base_url = "tiny-judge", "tiny-judge", "http://127.0.0.1:23333/v1"

    env = settings(
        openai_api_base="http://h:1/v1/chat/completions", local_llm="internlm", openai_api_key=Secret("sk-x")
    )
    plan = resolve_judge(judge=None, base_url=None, key=None, settings=env, judge_servers=[Server()])
    assert plan.endpoint is not None
    assert (plan.endpoint.base_url, plan.endpoint.model, plan.endpoint.host) == (
        "http://h:1/v1",
        "internlm",
        "h:1",
    )
    flags = resolve_judge(judge="m2", base_url="http://f:2/v1/", key="sk-f", settings=env)
    assert flags.endpoint is not None and (flags.endpoint.base_url, flags.endpoint.model) == (
        "http://f:2/v1",
        "m2",
    )
    made = resolve_judge(judge=None, base_url=None, key=None, settings=settings(), judge_servers=[Server()])
    assert made.endpoint is not None and made.endpoint.model == "tiny-judge" and "make judge" in made.reason
    mapped = resolve_judge(judge=None, base_url="http://h/v1", key=None, settings=settings())
    assert mapped.endpoint is not None and mapped.endpoint.model == MODEL_ALIASES["gpt-4o-mini"]
    assert (
        resolve_judge(judge="exact_matching", base_url="http://h/v1", key=None, settings=env).endpoint is None
    )
    nothing = resolve_judge(
        judge=None, base_url=None, key=None, settings=settings(openai_api_key=Secret("k"))
    )
    assert nothing.endpoint is None and "no judge configured" in nothing.reason
    assert "sk-x" not in repr(plan) and "sk-f" not in repr(flags)
    assert normalise_base("http://h:23333/v1/chat/completions/") == "http://h:23333/v1"


def test_benchmark_policy_and_official_rules_mean_exact_matching() -> None:
    plan = resolve_judge(judge=None, base_url="http://h/v1", key=None, settings=settings())
    demo = BenchmarkSpec(name="D", kind="yorn", url=None, md5=None, scorer="mme", judge="exact_matching")
    assert plan.for_spec(demo, RULES)[0] is None and "exact_matching" in plan.for_spec(demo, RULES)[1]
    mme = BenchmarkSpec(name="M", kind="yorn", url=None, md5=None, scorer="mme", official_rule="mme")
    assert plan.for_spec(mme, "official")[0] is None
    assert plan.for_spec(mme, RULES)[0] is not None
    asked = resolve_judge(judge="m2", base_url="http://h/v1", key=None, settings=settings())
    assert asked.for_spec(demo, RULES)[0] is not None  # an explicit --judge MODEL overrides the default


async def test_a_dead_or_misnamed_judge_fails_its_probe_with_the_url_and_the_fix(free_port: int):
    dead = resolve_judge(
        judge="m", base_url=f"http://127.0.0.1:{free_port}/v1", key=None, settings=settings()
    )
    run = JudgeRun(dead, rules=RULES)
    with pytest.raises(JudgeUnavailable) as err:
        await run.start([MCQ])
    assert f"127.0.0.1:{free_port}" in str(err.value) and "make judge" in str(err.value)
    assert "\n" not in str(err.value)
    lenient = JudgeRun(dead, rules=RULES, fallback="exact_matching")
    await lenient.start([MCQ])
    assert lenient.plan.endpoint is None and "health probe" in lenient.plan.reason
    async with ScriptedJudge(lambda call: "A", model="served-id") as server:
        wrong = resolve_judge(judge="other", base_url=server.url, key=None, settings=settings())
        with pytest.raises(JudgeUnavailable, match=r"served-id.*LOCAL_LLM"):
            await JudgeRun(wrong, rules=RULES).start([MCQ])
        assert server.n_calls == 0


async def test_a_small_context_judge_gets_max_tokens_that_fit(tmp_path: Path):
    async with ScriptedJudge(lambda call: "B", max_model_len=2048) as server:
        run = JudgeRun(
            resolve_judge(judge="judge-model", base_url=server.url, key=None, settings=settings()),
            rules=RULES,
        )
        await run.start([MCQ])
        try:
            jj = run.job_judge(tmp_path)
            assert jj is not None
            await judge_table(jj, rows(MCQ, mcq_table(1), {"0": "no idea"}))
        finally:
            await run.close()
    assert [c.max_tokens for c in server.calls] == [1024]
