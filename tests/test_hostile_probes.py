"""More hostile servers, data, disks and processes (issue 22's kept-back probes): each ends as one
line naming the cause and the fix, a typed exit status, nothing stored lost, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import FakeEngine
from fault_server import FaultConfig, FaultServer
from test_guards import Server, lmudata_with

from fasteval.inference.client import Backoff, build_body, complete, make_session
from fasteval.inference.endpoints import EndpointsUnreachable, list_models, unknown_model_message
from fasteval.inference.store import RunStore
from fasteval.models.servers import group_alive
from fasteval.serving.serve import LaunchSpec, ServeError, launch, stop
from fasteval.types import Completion, ErrorKind, GenParams, Prompt, Status, TextPart

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[1]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_group_of_only_zombies_is_not_alive() -> None:
    """An engine that exited but was never collected (its parent is busy, or gone and not yet reaped)
    is a zombie: `killpg(pgid, 0)` still succeeds, yet nothing of it runs or serves."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    try:
        while _state(proc.pid) != "Z":  # exited, not collected: we do not wait() for it yet
            os.sched_yield()
        assert not group_alive(proc.pid)
    finally:
        proc.wait()
    assert not group_alive(proc.pid)


def test_a_group_with_a_running_process_is_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        assert group_alive(proc.pid)
    finally:
        proc.communicate(b"")


# ---------------------------------------------------------------------------------------------
# A full disk behind every file a run writes (as test_guards does for xlsx: `/dev/full` put where
# the writer's temporary name will be, so every write there fails with ENOSPC, no root needed)
# ---------------------------------------------------------------------------------------------

FULL_SCRIPT = """
import os, sys
from pathlib import Path
for name in {full!r}:
    path = Path(name.format(pid=os.getpid()))
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/full", path)
{patch}
from fasteval.cli.args import main
sys.exit(main({argv!r}))
"""
NO_SPACE_PATCH = """
from fasteval.inference import store
def no_space(self, batch, *, sync):
    raise OSError(28, "No space left on device")
store.FramedFile.write = no_space
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LMUData", "FASTEVAL_API_KEY")}
    return {**env, **extra}


def run_full(
    tmp_path: Path, argv: list[str], full: Sequence[str] = (), patch: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`bench.py argv` in `tmp_path` with the disk full behind each of `full` (`{pid}`: its pid)."""
    script = FULL_SCRIPT.format(full=list(full), patch=patch, argv=argv)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=clean_env(PYTHONPATH=str(REPO), **env),
        capture_output=True, text=True,
    )  # fmt: skip


def one_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stdout + r.stderr and "Exception ignored" not in r.stderr, r.stderr
    (line,) = [line for line in r.stderr.splitlines() if "error:" in line]
    return line


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def mme(server: Server, lmu: Path, *more: str) -> list[str]:
    argv = ["--data", "MME", "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "out"]
    return [*argv, "--judge", "exact_matching", *more]


@pytest.mark.parametrize(
    "temp",
    [
        "out/fake-vlm/.fake-vlm_MME.tsv.tmp-{pid}",  # predictions (PRED_FORMAT=tsv)
        "out/fake-vlm/.fake-vlm_MME_score.csv.tmp-{pid}",  # the score file
        "out/fake-vlm/.fake-vlm_MME_samples.parquet.tmp-{pid}",  # per-sample parquet
        "out/fake-vlm/.summary.json.tmp-{pid}",  # summary.json
    ],
)
def test_a_full_disk_behind_any_output_is_one_line_and_keeps_the_answers(
    tmp_path: Path, server: Server, temp: str
) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    r = run_full(tmp_path, mme(server, lmu, "--limit", "20"), [temp], PRED_FORMAT="tsv")
    line = one_error(r)
    assert r.returncode == 2
    target = Path(temp).name.removeprefix(".").rsplit(".tmp-", 1)[0]
    assert target in line and "disk full; free space" in line
    assert RunStore.for_run(tmp_path / "out", "fake-vlm", "MME").read().height == 20  # nothing lost


def test_a_full_disk_under_the_store_is_one_line_and_keeps_what_was_stored(
    tmp_path: Path, server: Server
) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    first = run_full(tmp_path, mme(server, lmu, "--limit", "20"))
    assert first.returncode == 0, first.stderr
    r = run_full(tmp_path, mme(server, lmu, "--limit", "40"), patch=NO_SPACE_PATCH)
    line = one_error(r)
    assert r.returncode == 2 and "disk full" in line and ".fasteval/MME/seg-" in line
    assert RunStore.for_run(tmp_path / "out", "fake-vlm", "MME").read().height == 20


def test_a_full_disk_or_a_file_in_the_way_of_the_report_is_one_line(tmp_path: Path, server: Server) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    assert run_full(tmp_path, mme(server, lmu, "--limit", "20")).returncode == 0
    r = run_full(tmp_path, ["report", "out", "--out", "report.html"], [".report.html.tmp-{pid}"])
    line = one_error(r)
    assert r.returncode == 2 and "report.html" in line and "disk full" in line
    (tmp_path / "afile").write_text("")
    r = run_full(tmp_path, ["report", "out", "--out", "afile/report.html"])
    assert r.returncode == 2 and "afile" in one_error(r)


# ---------------------------------------------------------------------------------------------
# An engine started with a key: its own log never holds it
# ---------------------------------------------------------------------------------------------

KEY = "sk-hostile-engine-key-0123456789"


def _keyed_spec(fake: FakeEngine, port: int, **kw: str) -> LaunchSpec:
    argv = [*fake.argv(port, "fake-vlm-served", **kw), "--api-key", KEY]  # type: ignore[arg-type]
    return LaunchSpec(name="fake-vlm", served_name="fake-vlm-served", argv=tuple(argv), port=port)


def test_an_engine_echoing_its_key_writes_no_key_into_its_log(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    """vLLM prints `non-default args: {'api_key': [...]}` at start: the file keeps `***`."""
    spec = _keyed_spec(
        fake_engine, free_port, mode="die", message=f"non-default args: {{'api_key': ['{KEY}']}}"
    )
    with pytest.raises(ServeError, match="exited with code 3"):  # the engine's own status, through the relay
        launch(spec, timeout_s=30, state_dir=tmp_path / "servers", poll_s=0.1)
    log = (tmp_path / "logs" / "fake-vlm.log").read_text()
    assert "non-default args: {'api_key': ['***']}" in log and KEY not in log


def test_a_keyed_engine_serves_and_stops_as_any_other(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    state = launch(
        _keyed_spec(fake_engine, free_port), timeout_s=30, state_dir=tmp_path / "s", poll_s=0.1
    ).state
    try:
        assert group_alive(state.pgid)
        assert "fake engine: starting fake-vlm-served" in Path(state.log).read_text()
    finally:
        (stopped,) = stop("fake-vlm", state_dir=tmp_path / "s", timeout_s=30)
    assert stopped.pgid == state.pgid and not group_alive(state.pgid)  # the relay and the engine
    assert KEY not in Path(state.log).read_text()


# ---------------------------------------------------------------------------------------------
# Replies no engine sends: each a typed failure of its row (retried as malformed), never an answer
# ---------------------------------------------------------------------------------------------

FAST = Backoff(base_s=0.001, cap_s=0.002)


async def ask(config: FaultConfig) -> Completion:
    params = GenParams(max_tokens=16, timeout_s=10)
    body = build_body(FaultConfig.model, Prompt((TextPart("Is it a cat?"),)), params)
    async with FaultServer(config) as server, make_session(2) as session:
        return await complete(session, server.url, body, params, retry=0, backoff=FAST)


@pytest.mark.parametrize("streamed", [True, False])
@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("deep-json", "bad"),  # 100,000 nested arrays: Python's decoder raises RecursionError
        ("content-list", "content is a JSON array, not text"),
        ("content-number", "content is a JSON number, not text"),
        ("html", "HTML page"),
    ],
)
async def test_a_reply_that_is_no_chat_reply_fails_as_malformed(kind: str, said: str, streamed: bool) -> None:
    c = await ask(FaultConfig(hostile=kind, ignore_stream=not streamed))
    assert c.status is Status.FAILED and c.error_kind is ErrorKind.MALFORMED, c.error
    assert c.text is None and said in (c.error or "")


@pytest.mark.parametrize("kind", ["deep", "endless", "huge", "html", "not-list"])
async def test_a_hostile_model_list_is_one_bounded_error(kind: str) -> None:
    """An endless or 64 MB list is read no further than 8 MiB; a deep one is not decoded to a crash."""
    async with FaultServer(FaultConfig(models_reply=kind)) as server, make_session(2) as session:
        with pytest.raises(EndpointsUnreachable) as err:
            await list_models(session, server.url)
        assert server.stats.to_json()["chat_requests"] == 0
    assert "\n" not in str(err.value) and len(str(err.value)) < 400


async def test_a_served_id_of_100_000_characters_is_clipped_in_messages() -> None:
    async with FaultServer(FaultConfig(models_reply="long-id")) as server, make_session(2) as session:
        (model,) = await list_models(session, server.url)
    line = unknown_model_message(server.url, "fake-vlm", [model])
    assert len(model) == 100_000 and len(line) < 400 and "m..." in line


def test_a_server_nesting_its_reply_100_000_deep_ends_in_one_line(tmp_path: Path) -> None:
    """Once a RecursionError traceback, every row lost; now each row fails as malformed, exit 3."""
    s = Server("--hostile", "deep-json")
    try:
        r = run_full(tmp_path, mme(s, lmudata_with(tmp_path, "MME"), "--limit", "3", "--retry", "1"))
    finally:
        s.close()
    assert r.returncode == 3 and "Traceback" not in r.stdout + r.stderr, r.stderr
    assert "3 rows failed for good (malformed_response 3)" in " ".join(r.stdout.split())


@pytest.mark.parametrize("retry_after", ["1e9", "Wed, 21 Oct 2099 07:28:00 GMT", "inf"])
async def test_a_retry_after_past_the_cap_fails_the_row_now(retry_after: str) -> None:
    """Once each retry slept the 120 s cap in silence; now the row fails at once and says why."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    params = GenParams(max_tokens=16, timeout_s=10)
    body = build_body(FaultConfig.model, Prompt((TextPart("Is it a cat?"),)), params)
    config = FaultConfig(faults=("429",), fail_attempts=9, retry_after=retry_after)
    async with FaultServer(config) as server, make_session(2) as session:
        c = await complete(session, server.url, body, params, retry=3, backoff=FAST, sleep=sleep)
    assert c.error_kind is ErrorKind.RATE_LIMITED and c.attempts == 1 and slept == []
    assert "asks to retry after" in (c.error or "") and "rerun later" in (c.error or "")


async def test_a_negative_or_nan_retry_after_is_no_wait() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    params = GenParams(max_tokens=16, timeout_s=10)
    body = build_body(FaultConfig.model, Prompt((TextPart("Is it a cat?"),)), params)
    for value in ("-5", "nan"):
        config = FaultConfig(faults=("429",), fail_attempts=1, retry_after=value)
        async with FaultServer(config) as server, make_session(2) as session:
            c = await complete(session, server.url, body, params, retry=2, backoff=FAST, sleep=sleep)
        assert c.ok and c.attempts == 2
    assert slept == [0.0, 0.0]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--timeout", "nan"), "--timeout nan: must be a finite number"),  # a timeout that never fires
        (("--timeout", "inf"), "--timeout inf: must be a finite number"),
        (("--temperature", "nan"), "--temperature nan: must be a finite number"),
        (("--api-base", "127.0.0.1:8000/v1"), "must start with http:// or https://"),
        (("--api-base", "ftp://127.0.0.1/v1"), "must start with http:// or https://"),
    ],
)
def test_flag_values_no_run_can_use_are_refused_before_any_request(
    tmp_path: Path, server: Server, flags: tuple[str, ...], said: str
) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    argv = ["--data", "MME", "--lmudata", str(lmu), "--work-dir", "out", "--limit", "3", *flags]
    if "--api-base" not in flags:
        argv += ["--api-base", server.url]
    before = server.stats()["chat_requests"]
    r = run_full(tmp_path, argv)
    assert r.returncode == 2 and said in one_error(r)
    assert server.stats()["chat_requests"] == before


def test_https_to_a_plain_http_server_says_to_use_http(tmp_path: Path, server: Server) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    for named in ((), ("--model-name", "fake-vlm")):
        argv = [
            "--data",
            "MME",
            "--api-base",
            server.url.replace("http://", "https://"),
            "--lmudata",
            str(lmu),
        ]
        r = run_full(tmp_path, [*argv, "--work-dir", "out", "--limit", "3", *named])
        assert r.returncode == 2 and "use http:// in --api-base" in one_error(r)


# ---------------------------------------------------------------------------------------------
# A hostile environment: .env, LMUData and --work-dir that cannot be what they claim
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dotenv", "said"),
    [
        (b"\xff\xfe\x00LMUData=x\n", ".env is not UTF-8 text"),  # a UTF-16 file saved by an editor
        (b"LMUData=/tmp/a\x00b\n", ".env: LMUData holds a NUL byte"),
    ],
)
def test_an_unreadable_env_file_is_one_line(tmp_path: Path, server: Server, dotenv: bytes, said: str) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    assert run_full(tmp_path, mme(server, lmu, "--limit", "3")).returncode == 0  # a work dir to report on
    (tmp_path / ".env").write_bytes(dotenv)
    r = run_full(tmp_path, mme(server, lmu, "--limit", "3"))
    assert r.returncode == 2 and said in one_error(r)
    report = run_full(tmp_path, ["report", "out"])
    assert report.returncode == 2 and said in one_error(report)


def test_lmudata_or_work_dir_that_is_a_file_is_one_line_before_any_request(
    tmp_path: Path, server: Server
) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    before = server.stats()["chat_requests"]
    r = run_full(tmp_path, mme(server, a_file, "--limit", "3"))
    assert r.returncode == 2 and f"--lmudata {a_file} is a file" in one_error(r)
    no_flag = ["--data", "MME", "--api-base", server.url, "--work-dir", "out", "--limit", "3"]
    r = run_full(tmp_path, no_flag, LMUData=str(a_file))
    assert r.returncode == 2 and f"LMUData {a_file} is a file" in one_error(r)
    lmu = lmudata_with(tmp_path, "MME")
    argv = ["--data", "MME", "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "afile"]
    r = run_full(tmp_path, [*argv, "--limit", "3"])
    assert r.returncode == 2 and "--work-dir afile is a file" in one_error(r)
    assert server.stats()["chat_requests"] == before


def test_a_work_dir_with_spaces_and_unicode_works(tmp_path: Path, server: Server) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    argv = ["--data", "MME", "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "out dir/é 😀"]
    r = run_full(tmp_path, [*argv, "--limit", "3", "--judge", "exact_matching"])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out dir" / "é 😀" / "fake-vlm" / "fake-vlm_MME_score.csv").is_file()


def test_stdout_on_a_full_disk_is_one_line_on_stderr(tmp_path: Path, server: Server) -> None:
    """`bench.py ... > /dev/full`: once rich's OSError traceback, now one line and the answers kept."""
    lmu = lmudata_with(tmp_path, "MME")
    argv = [sys.executable, str(REPO / "bench.py"), *mme(server, lmu, "--limit", "3")]
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            argv, cwd=tmp_path, env=clean_env(), stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    (line,) = [line for line in r.stderr.splitlines() if "error:" in line]
    assert "cannot write to stdout (No space left on device)" in line


async def test_a_gzip_bomb_is_cut_at_the_byte_limit_of_what_it_unpacks_to() -> None:
    """`Content-Encoding: gzip` of endless chunks (~1000:1): the limit counts unpacked bytes."""
    c = await ask(FaultConfig(hostile="gzip-bomb"))
    assert c.error_kind is ErrorKind.REPLY_TOO_LONG and c.text is None
    assert "bytes" in (c.error or "") or "tokens" in (c.error or "")


@pytest.mark.parametrize("flag", ["--samples", "--bootstrap"])
def test_a_negative_report_count_is_refused(tmp_path: Path, flag: str) -> None:
    (tmp_path / "out").mkdir()
    r = run_full(tmp_path, ["report", "out", flag, "-5"])
    assert r.returncode == 2 and f"{flag} -5: must be 0 or more" in r.stderr and "Traceback" not in r.stderr


async def test_redirects_are_bounded_and_never_carry_the_key_to_another_host() -> None:
    params = GenParams(max_tokens=16, timeout_s=10)
    body = build_body(FaultConfig.model, Prompt((TextPart("Is it a cat?"),)), params)
    for kind in ("redirect-loop", "redirect-away"):
        async with FaultServer(FaultConfig(hostile=kind)) as server, make_session(2) as session:
            c = await complete(session, server.url, body, params, retry=0, api_key="sk-secret-key")
            stats = server.stats.to_json()
        assert c.status is Status.FAILED and c.text is None
        assert stats["leaked_auth"] == 0
        assert stats["faults"].get("away", 0) == (kind == "redirect-away")  # the redirect was followed
        assert stats["chat_requests"] <= 11  # the request and at most 10 redirects


@pytest.mark.parametrize("streamed", [True, False])
async def test_a_reply_naming_a_huge_model_stores_a_clipped_name(streamed: bool) -> None:
    """The `model` of a reply is stored with its row: 20 KB in each is 1 GB over 50,000 rows."""
    c = await ask(FaultConfig(reply_model="m" * 20_000, ignore_stream=not streamed))  # within the byte cap
    assert c.ok and c.model is not None and len(c.model) <= 260 and c.model.startswith("mmm")


@pytest.mark.parametrize("content", ["[]", "nul", '"a string"'])
def test_a_summary_that_is_no_json_object_is_set_aside_not_a_traceback(
    tmp_path: Path, server: Server, content: str
) -> None:
    summary = tmp_path / "out" / "fake-vlm" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(content)
    r = run_full(tmp_path, mme(server, lmudata_with(tmp_path, "MME"), "--limit", "3"))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "summary.json is not a fasteval summary" in r.stderr
    assert (summary.parent / "summary.json.damaged").read_text() == content  # kept, not lost
    assert json.loads(summary.read_text())["datasets"]["MME"]["rows"] == 3


@pytest.mark.parametrize(
    ("summary", "said"),
    [
        ({"datasets": 5}, "`datasets` is not an object"),
        ({"datasets": {"MME": []}}, "the entry for MME is malformed (it is a JSON list, not an object)"),
        (
            {"datasets": {"MME": {"model": {"argv": 5}}}},
            "the entry for MME is malformed (model.argv is a JSON int)",
        ),
        (
            {"datasets": {"MME": {"perf": [1]}}, "run": 7},
            "the entry for MME is malformed (perf is a JSON list)",
        ),
    ],
)
def test_a_report_over_a_malformed_summary_shows_the_score_file(
    tmp_path: Path, server: Server, summary: dict[str, object], said: str
) -> None:
    """Hand-edited summaries once crashed the report (AttributeError / TypeError tracebacks)."""
    assert run_full(tmp_path, mme(server, lmudata_with(tmp_path, "MME"), "--limit", "3")).returncode == 0
    (tmp_path / "out" / "fake-vlm" / "summary.json").write_text(json.dumps(summary))
    for fmt in ("html", "md"):
        r = run_full(tmp_path, ["report", "out", "--format", fmt, "--out", "r.html"])
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert said in r.stderr
    assert "MME" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    ("name", "junk", "kept"),
    [
        ("fake-vlm_MME_samples.parquet", b"PAR1garbage", "shown without samples"),  # MME still shown
        ("fake-vlm_OCRBench_score.json", b"[[[[", "skipped"),  # the other benchmark skipped, MME shown
    ],
)
def test_a_damaged_output_file_leaves_the_rest_of_the_report_standing(
    tmp_path: Path, server: Server, name: str, junk: bytes, kept: str
) -> None:
    """A damaged score, JSON or Parquet file once crashed the whole report with a traceback."""
    assert run_full(tmp_path, mme(server, lmudata_with(tmp_path, "MME"), "--limit", "3")).returncode == 0
    (tmp_path / "out" / "fake-vlm" / name).write_bytes(junk)
    r = run_full(tmp_path, ["report", "out", "--out", "r.html"])
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    (line,) = [line for line in r.stderr.splitlines() if "warning: cannot read" in line]
    assert name in line and line.endswith(kept)
    assert "MME" in (tmp_path / "r.html").read_text()


def test_a_report_whose_only_score_file_is_damaged_is_one_error(tmp_path: Path, server: Server) -> None:
    assert run_full(tmp_path, mme(server, lmudata_with(tmp_path, "MME"), "--limit", "3")).returncode == 0
    (tmp_path / "out" / "fake-vlm" / "fake-vlm_MME_score.csv").write_bytes(b"garbage\x00\xff")
    r = run_full(tmp_path, ["report", "out", "--out", "r.html"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "fake-vlm_MME_score.csv is not UTF-8 text" in r.stderr and "no score files" in r.stderr


def test_a_dataset_listed_twice_is_refused_not_locked_against_itself(tmp_path: Path, server: Server) -> None:
    """`--data MME MME` once said "another fasteval run (pid <its own>) is writing" the store."""
    lmu = lmudata_with(tmp_path, "MME")
    argv = ["--data", "MME", "MME", "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "out"]
    r = run_full(tmp_path, [*argv, "--limit", "3"])
    assert r.returncode == 2 and "--data lists MME twice: pass each once" in one_error(r)
