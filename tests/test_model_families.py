"""The families people evaluate now (InternVL2.5 / 3 / 3.5, Qwen2.5-VL, Qwen3-VL, thinking variants):
VLMEvalKit's settings as data, one resolution of what a run sends, thinking replies, and `--dry-run N`
showing exactly the bodies `--limit N` sends.

The expected values are VLMEvalKit's (e8e78f05), cited where the family defines them
(fasteval/models/families.py); end-to-end checks run bench.py against tests/fault_server.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fasteval.cli.args import build_parser
from fasteval.cli.config import build_config
from fasteval.config import RunConfig, Settings
from fasteval.data.tabular import read_table
from fasteval.inference.dry_run import shorten_images
from fasteval.inference.runner import Target, answer_of, request_body
from fasteval.inference.store import RunStore
from fasteval.inference.targets import run_settings
from fasteval.models.families import (
    FAMILIES,
    R1_SYSTEM_PROMPT,
    get_family,
    make_plan,
    settings_for,
    split_thinking,
)
from fasteval.models.registry import all_models, get_model
from fasteval.serving.serve import build_argv
from fasteval.types import BenchmarkSpec, Completion, ErrorKind, GenParams, ImageRef, Sample, Status
from tests.fixtures import conformance_lmudata

REPO = Path(__file__).resolve().parents[1]
IMG = ImageRef("aGVsbG8=", "image/png")
V2 = ("internvl2.5", "internvl2.5-mpo", "internvl3", "internvl3.5", "internvl3.5-thinking")


def _spec(name: str, kind: str = "yorn") -> BenchmarkSpec:
    return BenchmarkSpec(name=name, kind=kind, url=None, md5=None, scorer="yorn")


MME = BenchmarkSpec(name="MME", kind="yorn", url=None, md5=None, scorer="mme")


def _body(plan_family: str, engine: str, dataset: str = "MME", **plan: Any) -> dict[str, Any]:
    plan.setdefault("max_tokens_given", False)
    target = Target("M", "M", (), "default", plan=make_plan(plan_family, engine, **plan))
    sample = Sample("X", 7, "Is it red?", (IMG,), {}, None)
    return dict(json.loads(request_body(target, _spec(dataset), sample, GenParams(max_tokens=5))))


# -- the families' data ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", V2)
@pytest.mark.parametrize(
    ("dataset", "tiles"),
    [("MME", 6), ("MMBench_DEV_EN", 6), ("MMMU_DEV_VAL", 12), ("BMMR", 12), ("ChartQA_TEST", 12),
     ("DocVQA_VAL", 18), ("InfoVQA_VAL", 24), ("OCRBench", 24), ("HRBench8K", 24)],
)  # fmt: skip
def test_internvl_v2_tiles_per_benchmark(family: str, dataset: str, tiles: int) -> None:
    assert settings_for(get_family(family), dataset, 1).max_dynamic_patch == tiles
    assert settings_for(get_family(family), dataset, 4).max_dynamic_patch == min(tiles, 16)  # 64 shared


def test_internvl2_keeps_its_own_table_without_bmmr() -> None:
    assert settings_for(get_family("internvl2"), "BMMR", 1).max_dynamic_patch == 6


@pytest.mark.parametrize(
    ("family", "tokens"),
    [("internvl2.5", 4096), ("internvl3", 4096), ("internvl3.5", 4096), ("internvl3.5-thinking", 65536),
     ("qwen2.5-vl", 2048), ("qwen3-vl", 16384), ("qwen3-vl-thinking", 40960)],
)  # fmt: skip
def test_generation_limits_are_vlmevalkits(family: str, tokens: int) -> None:
    assert _body(family, "vllm", max_tokens_given=False)["max_tokens"] == tokens
    assert _body(family, "vllm", max_tokens_given=True)["max_tokens"] == 5  # --max-tokens beats it


def test_a_registry_entry_limit_beats_its_familys() -> None:
    entry = get_model("InternVL3_5-241B-A28B")
    plan = make_plan(entry.family, "vllm", max_tokens_given=False, max_new_tokens=entry.max_new_tokens)
    assert plan.max_tokens == 16384


def test_qwen25_vl_pixels_and_its_ocrbench_minimum() -> None:
    assert _body("qwen2.5-vl", "vllm")["mm_processor_kwargs"] == {
        "min_pixels": 1280 * 28 * 28,
        "max_pixels": 16384 * 28 * 28,
    }
    assert _body("qwen2.5-vl", "vllm", "OCRBench")["mm_processor_kwargs"] == {
        "min_pixels": 10 * 10 * 28 * 28,
        "max_pixels": 16384 * 28 * 28,
    }


def test_qwen3_vl_sends_pixels_only_on_ocrbench() -> None:
    assert "mm_processor_kwargs" not in _body("qwen3-vl", "vllm", "MME")
    assert _body("qwen3-vl", "vllm", "OCRBench")["mm_processor_kwargs"] == {"min_pixels": 10 * 10 * 32 * 32}


def test_qwen3_vl_decodes_as_vlmevalkit_configures_it() -> None:
    body = _body("qwen3-vl", "vllm", max_tokens_given=False)
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.7, 0.8, 20)
    assert (body["presence_penalty"], body["repetition_penalty"]) == (1.5, 1.0)
    thinking = _body("qwen3-vl-thinking", "vllm")
    assert (thinking["temperature"], thinking["top_p"], thinking["presence_penalty"]) == (1.0, 0.95, 0.0)


def test_a_plain_endpoint_gets_only_openai_sampling_fields() -> None:
    body = _body("qwen3-vl", "openai")
    assert body["temperature"] == 0.7 and body["top_p"] == 0.8
    assert "top_k" not in body and "presence_penalty" not in body


def test_temperature_on_the_command_line_beats_the_familys_decoding() -> None:
    body = _body("qwen3-vl", "vllm", max_tokens_given=True, temperature_given=True)
    assert body["temperature"] == 0.0 and "top_k" not in body and "top_p" not in body


def test_internvl35_thinking_sends_the_r1_system_prompt_and_samples() -> None:
    body = _body("internvl3.5-thinking", "lmdeploy")
    assert body["messages"][0] == {"role": "system", "content": R1_SYSTEM_PROMPT}
    assert (body["temperature"], body["top_p"]) == (0.6, 0.95)
    assert body["messages"][1]["content"][0]["image_url"]["max_dynamic_patch"] == 6
    assert "<think> and </think> tags" in R1_SYSTEM_PROMPT and R1_SYSTEM_PROMPT.endswith("section.")


def test_registry_entries_for_the_sizes_people_serve() -> None:
    fams = {m.name: m for m in all_models()}
    for name, family in [
        ("InternVL2_5-1B", "internvl2.5"), ("InternVL2_5-78B", "internvl2.5"), ("InternVL3-8B", "internvl3"),
        ("InternVL3-78B", "internvl3"), ("InternVL3_5-30B-A3B", "internvl3.5"),
        ("InternVL3_5-241B-A28B", "internvl3.5"), ("InternVL3_5-8B-Thinking", "internvl3.5-thinking"),
        ("Qwen2.5-VL-3B-Instruct", "qwen2.5-vl"), ("Qwen2.5-VL-72B-Instruct", "qwen2.5-vl"),
        ("Qwen3-VL-2B-Instruct", "qwen3-vl"), ("Qwen3-VL-30B-A3B-Instruct", "qwen3-vl"),
        ("Qwen3-VL-235B-A22B-Thinking", "qwen3-vl-thinking"),
    ]:  # fmt: skip
        assert fams[name].family == family, name
    assert all(m.family is None or m.family in FAMILIES for m in fams.values())


def test_engine_flags_of_the_new_entries() -> None:
    def argv(name: str, engine: str = "vllm") -> list[str]:
        return build_argv(get_model(name), engine=engine, host="127.0.0.1", port=8000)

    thinking = argv("Qwen3-VL-235B-A22B-Thinking")
    assert thinking[thinking.index("--reasoning-parser") + 1] == "qwen3"
    assert "--enable-expert-parallel" in thinking and "--trust-request-mm-kwargs" in thinking
    assert "--enable-expert-parallel" not in argv("Qwen3-VL-8B-Instruct")
    assert "--reasoning-parser" not in argv("Qwen3-VL-8B-Instruct")
    internvl = argv("InternVL3-78B")
    assert internvl[internvl.index("--tensor-parallel-size") + 1] == "4"
    assert get_model("InternVL3_5-8B-Thinking").engine == "lmdeploy"  # as VLMEvalKit runs it
    assert "65536" in argv("InternVL3_5-8B-Thinking", "lmdeploy")


def _mmstar_sample() -> Sample:
    return Sample("MMStar", 3, "Which is red?", (IMG,), {"A": "the cup", "B": "the sky"}, "A")


def test_mpo_models_get_the_mpo_prompt_on_its_datasets_only() -> None:
    target = Target(
        "M", "M", (), "internvl2", plan=make_plan("internvl2.5-mpo", "vllm", max_tokens_given=False)
    )
    mmstar = BenchmarkSpec(name="MMStar", kind="mcq", url=None, md5=None, scorer="mcq")
    body = json.loads(request_body(target, mmstar, _mmstar_sample(), GenParams()))
    assert body["messages"][0]["content"][1]["text"] == (
        "Your task is to answer the question below. Give step by step reasoning before you answer, and "
        'when you\'re ready to answer, please use the format "Final answer: .."\n\nQuestion:\n\n'
        "Which is red?\nA. the cup\nB. the sky"
    )
    other = BenchmarkSpec(name="MMStar_MINI", kind="mcq", url=None, md5=None, scorer="mcq")  # exact names
    assert "Final answer" not in json.dumps(
        json.loads(request_body(target, other, _mmstar_sample(), GenParams()))
    )
    reply = Completion(Status.OK, "The cup is red.\nFinal answer: A \nmore", finish_reason="stop")
    assert answer_of(target, mmstar, reply).text == "A"
    ocr = BenchmarkSpec(name="OCRBench", kind="vqa", url=None, md5=None, scorer="ocrbench")
    assert answer_of(target, ocr, reply).text == reply.text  # VQA answers are kept whole


def test_mpo_registry_entries() -> None:
    assert get_model("InternVL2_5-8B-MPO").family == get_model("InternVL2-8B-MPO").family == "internvl2.5-mpo"


# -- thinking replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "thinking"),
    [
        ("<think>\nsee the red</think>\n\nYes", "Yes", "see the red"),
        ("see the red\n</think>\n\nYes", "Yes", "see the red\n</think>"),  # the template opened it
        ("a</think>b</think> C ", "C", "a</think>b</think>"),  # several ends: after the last
        ("Yes", "Yes", None),
    ],
)
def test_split_thinking_is_vlmevalkits_split_think(text: str, answer: str, thinking: str | None) -> None:
    assert split_thinking(text) == (answer, thinking)


def _thinking_target(family: str = "qwen3-vl-thinking") -> Target:
    return Target("M", "M", (), "default", plan=make_plan(family, "vllm", max_tokens_given=False))


def test_the_answer_after_the_thinking_is_what_is_stored() -> None:
    done = answer_of(
        _thinking_target(), MME, Completion(Status.OK, "hm\n</think>\n\nB", finish_reason="stop")
    )
    assert done.ok and done.text == "B" and done.reasoning == "hm\n</think>"
    parsed = Completion(Status.OK, "B", finish_reason="stop", reasoning="hm")
    assert answer_of(_thinking_target(), MME, parsed).text == "B"


def test_a_reply_cut_inside_its_thinking_is_a_failure_of_its_own_kind() -> None:
    for reply in (
        Completion(Status.OK, "still thinking", finish_reason="length", n_out=9),  # template-opened block
        Completion(Status.OK, "", finish_reason="length", reasoning="still thinking"),  # a reasoning parser
    ):
        cut = answer_of(_thinking_target(), MME, reply)
        assert cut.status is Status.FAILED and cut.error_kind is ErrorKind.THINKING_CUT
        assert cut.text is None and cut.reasoning == "still thinking"
    opened = Completion(Status.OK, "<think>still", finish_reason="length")
    assert (
        answer_of(_thinking_target("internvl3.5-thinking"), MME, opened).error_kind is ErrorKind.THINKING_CUT
    )
    # InternVL3.5 writes its own <think>: a long reply that never opened one is an answer, as upstream
    plain = Completion(Status.OK, "B is the answer", finish_reason="length")
    assert answer_of(_thinking_target("internvl3.5-thinking"), MME, plain).text == "B is the answer"


# -- bench.py end to end ---------------------------------------------------------------------------------


class _Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "fault_server.py"),
                "--port",
                "0",
                "--model",
                "fake",
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LMUData", "OPENAI_API_BASE")}
    env.update(LMUData=str(conformance_lmudata()), FASTEVAL_CACHE=str(cwd / "cache"))
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), *args, "--no-download", "--state-dir", str(cwd / "servers")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_registry_name_at_an_api_base_gets_its_family_in_full(tmp_path: Path) -> None:
    """`--api-base URL --model InternVL2-2B`: InternVL2's prompts *and* tiles and limit, said at start."""
    with _Server("--record-bodies") as server:
        r = _bench(
            "--api-base", server.url, "--model", "InternVL2-2B", "--model-name", "fake",
            "--data", "MME", "--limit", "2", "--mode", "infer", cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        bodies = server.stats()["bodies"]
    first_line = next(line for line in r.stdout.splitlines() if line.startswith("InternVL2-2B: "))
    assert first_line.startswith("InternVL2-2B: internvl2 family, tiles 6/12/18/24, max_tokens 1024")
    assert r.stdout.index(first_line) < r.stdout.index("MME")  # before the results
    assert "prompt style internvl2, engine vllm" in first_line and "--model-family none" in first_line
    assert [b["mm_processor_kwargs"] for b in bodies] == [{"max_dynamic_patch": 6}] * 2
    assert all(b["max_tokens"] == 1024 for b in bodies)
    summary = json.loads((tmp_path / "outputs" / "InternVL2-2B" / "summary.json").read_text())
    settings = summary["datasets"]["MME"]["model"]["request_settings"]
    assert settings["family"] == "internvl2" and settings["settings"] == first_line


def _config(*argv: str) -> RunConfig:
    args = build_parser().parse_args(["--data", "MME", *argv])
    settings = Settings(
        openai_api_key=None, openai_api_base=None, local_llm=None, lmudata=Path("."), pred_format="tsv"
    )
    return build_config(args, settings, {})


def test_model_family_none_sends_no_family_settings_and_says_so() -> None:
    cfg = _config("--api-base", "http://h/v1", "--model", "InternVL2-2B", "--model-family", "none")
    chosen = run_settings(cfg, "InternVL2-2B", None)
    assert chosen.plan.family == "none" and "no family settings" in chosen.line("InternVL2-2B")
    assert chosen.prompt_style == "internvl2"  # the flag drops the settings, not the entry's prompt style


def test_the_family_flag_beats_the_entry_and_prompt_style_beats_both() -> None:
    flagged = run_settings(_config("--model-family", "qwen3-vl"), "InternVL2-2B", "vllm")
    assert (flagged.plan.family, flagged.prompt_style) == ("qwen3-vl", "default")
    styled = run_settings(_config("--prompt-style", "qwen2vl"), "InternVL3-8B", "vllm")
    assert (styled.plan.family, styled.prompt_style) == ("internvl3", "qwen2vl")
    line = run_settings(_config(), "InternVL3-8B", "vllm").line("InternVL3-8B")
    assert line == (
        "InternVL3-8B: internvl3 family, tiles 6/12/18/24, max_tokens 4096, "
        "prompt style internvl2, engine vllm"
    )


@pytest.mark.parametrize("mode", ["inline", "open", "parser"])
def test_thinking_replies_score_their_answer_and_keep_their_thinking(mode: str, tmp_path: Path) -> None:
    with _Server("--thinking", mode) as server:
        r = _bench(
            "--api-base", server.url, "--model", "Qwen3-VL-8B-Thinking", "--model-name", "fake",
            "--data", "MME", "--limit", "4", "--mode", "infer", cwd=tmp_path,
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    preds = read_table(next((tmp_path / "outputs" / "Qwen3-VL-8B-Thinking").glob("*_MME.xlsx")))
    assert preds.height == 4
    assert not any("</think>" in p or "step" in p for p in preds["prediction"].to_list())
    assert all(t.replace("\n", " ").split()[0] == "step0" for t in preds["thinking"].to_list())
    stored = RunStore.for_run(tmp_path / "outputs", "Qwen3-VL-8B-Thinking", "MME").read()
    tags = {"inline": 2, "open": 1, "parser": 0}[mode]  # `<think>` and `</think>` are tokens too
    assert stored["n_out"].to_list() == [8 + tags + 4] * 4  # the thinking counts in the output tokens
    assert all(t.startswith("step0") for t in stored["thinking"].to_list())


def test_a_reply_cut_in_its_thinking_is_counted_and_never_scored(tmp_path: Path) -> None:
    with _Server("--thinking", "open", "--thinking-tokens", "50") as server:
        r = _bench(
            "--api-base", server.url, "--model", "Qwen3-VL-8B-Thinking", "--model-name", "fake",
            "--data", "MME", "--limit", "3", "--max-tokens", "20", cwd=tmp_path,
        )  # fmt: skip
    assert "3 rows failed for good (thinking_cut 3)" in r.stdout and "larger --max-tokens" in r.stdout
    summary = json.loads((tmp_path / "outputs" / "Qwen3-VL-8B-Thinking" / "summary.json").read_text())
    entry = summary["datasets"]["MME"]
    assert entry["failures_by_kind"] == {"thinking_cut": 3} and entry["answered"] == 0
    assert entry["scores"] is None and entry["gen_params"]["max_tokens"] == 20


# -- --dry-run N sends what --limit N sends ----------------------------------------------------------------

SHIPPED_WITH_DATA = sorted(p.stem for p in conformance_lmudata().glob("*.tsv"))


def test_dry_run_prints_exactly_the_bodies_limit_sends_on_every_benchmark(tmp_path: Path) -> None:
    """Rows sharing an image (MMBench, POPE) are sent in image order: the dry run shows those rows."""
    common = [
        "--model-name",
        "fake",
        "--model",
        "M",
        "--model-family",
        "internvl3",
        "--data",
        *SHIPPED_WITH_DATA,
    ]
    with _Server("--record-bodies") as server:
        dry = _bench("--api-base", server.url, *common, "--dry-run", "5", cwd=tmp_path)
        assert dry.returncode == 0, dry.stderr
        run = _bench(
            "--api-base", server.url, *common, "--limit", "5", "--mode", "infer", "--concurrency", "1",
            cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        sent = [shorten_images(b) for b in server.stats()["bodies"]]
    shown = [json.loads(line) for line in dry.stdout.splitlines()]
    assert len(shown) == 5 * len(SHIPPED_WITH_DATA) and shown == sent
    assert {"MMBench_DEV_EN", "POPE"} <= set(SHIPPED_WITH_DATA)  # benchmarks whose rows share images
