"""Hostile names, leaked keys, duplicate indices, missing columns, lost ground, odd replies, bomb images
(issue 22, items 3-8): each ends as one line, a typed exit status and no request wasted, never a traceback.

Runs go through `python bench.py` against tests/fault_server.py, as a user runs them.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import FakeEngine

from fasteval.data.tabular import read_table, write_tsv
from fasteval.models.servers import ServerState, proc_start, redact_argv
from fasteval.report import markdown
from fasteval.report.board import Cell, Report
from fasteval.report.questions import PLACEHOLDER, thumbnail
from fasteval.resources import safe_name
from fasteval.serving.serve import LaunchSpec, ServeError, launch, stop
from tests.fixtures import conformance_lmudata

REPO = Path(__file__).resolve().parents[1]
KIT_LMU = conformance_lmudata()


class Server:
    """tests/fault_server.py as a subprocess, with its request counters."""

    def __init__(self, *args: str, model: str = "fake-vlm") -> None:
        argv = [
            sys.executable,
            str(REPO / "tests" / "fault_server.py"),
            "--port",
            "0",
            "--model",
            model,
            *args,
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats") as r:
            raw = json.loads(r.read())
        return {k: v for k, v in raw.items() if isinstance(v, int)}

    def release(self) -> None:
        req = urllib.request.Request(self.url.removesuffix("/v1") + "/release", data=b"", method="POST")
        urllib.request.urlopen(req).close()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LMUData", "FASTEVAL_API_KEY")}
    return subprocess.run(
        [sys.executable, str(REPO / "bench.py"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def start_bench(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LMUData", "FASTEVAL_API_KEY")}
    return subprocess.Popen(
        [sys.executable, str(REPO / "bench.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def errors(text: str) -> list[str]:
    """The lines that are not the one-line warnings (the kit's MME.tsv has a non-published MD5)."""
    return [line for line in text.splitlines() if line.startswith("fasteval: error: ")]


def assert_clean(*outputs: str) -> None:
    for out in outputs:
        assert "Traceback" not in out and "Exception ignored" not in out


def lmudata_with(tmp_path: Path, *names: str) -> Path:
    d = tmp_path / "LMUData"
    d.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(KIT_LMU / f"{name}.tsv", d / f"{name}.tsv")
    return d


def files_outside(root: Path, inside: Path) -> list[Path]:
    """Files under `root` that are not under `inside` (nor the LMUData copy)."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and inside not in p.parents and (root / "LMUData") not in p.parents
    ]


def wait_for(predicate: object, what: str, limit_s: float = 60.0) -> None:
    """Poll until `predicate()` holds (a generous bound: a failure names what never happened)."""
    assert callable(predicate)
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# 3. Names that cannot escape --work-dir
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("served", ["../../x", "ABSOLUTE"])
def test_a_server_chosen_name_never_puts_files_outside_the_work_dir(tmp_path: Path, served: str) -> None:
    """`ABSOLUTE` is an absolute path inside this test's folder, so even a failing run writes nowhere else."""
    if served == "ABSOLUTE":
        served = str(tmp_path / "abs" / "path")
    folder = safe_name(served)
    assert folder in ("x", f"{str(tmp_path).strip('/').replace('/', '_')}_abs_path")
    lmu = lmudata_with(tmp_path, "MME")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    s = Server(model=served)
    try:
        r = bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmu), "--work-dir", "out", cwd=run_dir
        )
        chats = s.stats()["chat_requests"]
    finally:
        s.close()
    assert r.returncode == 0, r.stderr
    assert_clean(r.stdout, r.stderr)
    out = run_dir / "out"
    assert files_outside(tmp_path, out) == []
    summary = json.loads((out / folder / "summary.json").read_text())
    assert summary["datasets"]["MME"]["model"]["served_name"] == served  # requests still name it as served
    assert summary["datasets"]["MME"]["answered"] == chats
    assert f"results go to {folder}/" in r.stderr


def test_a_model_name_with_a_path_is_refused_before_any_request(server: Server, tmp_path: Path) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    r = bench(
        "--data", "MME", "--api-base", server.url, "--model", "../evil", "--lmudata", str(lmu),
        "--work-dir", "out", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert errors(r.stderr) == [line for line in r.stderr.splitlines() if line.startswith("fasteval: error")]
    (line,) = errors(r.stderr)
    assert "--model '../evil'" in line and "path separator" in line
    assert server.stats()["chat_requests"] == 0
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("data", ["/tmp/mine.tsv", "sub/mine", "mine.tsv"])
def test_data_given_as_a_path_is_refused_with_how_to_register_a_tsv(tmp_path: Path, data: str) -> None:
    r = bench("--data", data, "--lmudata", str(tmp_path), "--api-base", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert r.returncode == 2
    assert_clean(r.stderr)
    (line,) = r.stderr.splitlines()
    assert "is a path; --data takes benchmark names" in line
    assert f"{tmp_path}/mine.tsv and pass --data mine" in line


def test_a_server_listing_500_models_gives_a_short_line(tmp_path: Path) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    s = Server("--extra-models", "500")
    try:
        r = bench("--data", "MME", "--api-base", s.url, "--lmudata", str(lmu), cwd=tmp_path)
        wrong = bench(
            "--data", "MME", "--api-base", s.url, "--model-name", "nope", "--lmudata", str(lmu), cwd=tmp_path
        )
        chats = s.stats()["chat_requests"]
    finally:
        s.close()
    assert r.returncode == 2 and wrong.returncode == 2 and chats == 0
    (line,) = errors(r.stderr)
    assert "serves 501 models (fake-vlm, other-0," in line and "and 493 more" in line
    (unknown,) = errors(wrong.stderr)
    assert "does not serve model 'nope'" in unknown and "and 493 more" in unknown
    assert len(line) < 400 and len(unknown) < 400


def test_a_judge_listing_500_models_gives_a_short_line(server: Server, tmp_path: Path) -> None:
    lmu = lmudata_with(tmp_path, "MMBench_DEV_EN")
    judge = Server("--extra-models", "500", model="judge-x")
    try:
        r = bench(
            "--data", "MMBench_DEV_EN", "--api-base", server.url, "--lmudata", str(lmu),
            "--judge-base-url", judge.url, "--judge", "not-served", cwd=tmp_path,
        )  # fmt: skip
    finally:
        judge.close()
    assert r.returncode == 2 and server.stats()["chat_requests"] == 0
    (line,) = errors(r.stderr)
    assert "serves judge-x, other-0," in line and "and 493 more, not 'not-served'" in line
    assert len(line) < 400


# ---------------------------------------------------------------------------------------------
# 4. Secrets stay secret
# ---------------------------------------------------------------------------------------------

KEY = "sk-engine-0123456789abcdef"
TOKEN = "hf_token_0123456789abcdef"
URL_PASSWORD = "pw-0123456789abcdef"


def test_argv_redaction_covers_flag_forms_and_urls() -> None:
    argv = [
        "vllm", "serve", "m", "--api-key", KEY, f"--hf-token={TOKEN}", "--api-keys", "a1-secret", "a2-secret",
        "--port", "8000", f"--download-dir=https://u:{URL_PASSWORD}@h/x", "https://h/x?token=t0ken&y=1",
    ]  # fmt: skip
    shown = " ".join(redact_argv(argv))
    for secret in (KEY, TOKEN, "a1-secret", "a2-secret", URL_PASSWORD, "t0ken"):
        assert secret not in shown
    assert "--api-key *** --hf-token=*** --api-keys *** *** --port 8000" in shown
    assert "https://u:***@h/x" in shown and "token=***&y=1" in shown
    untouched = (
        "--max-num-batched-tokens",
        "8192",
        "--ssl-keyfile",
        "k.pem",
        "--tokenizer",
        "t",
        "--port",
        "8",
    )
    assert redact_argv([*untouched, "--api-key", "8"]) == (*untouched, "--api-key", "***")


def test_an_engine_key_reaches_neither_summary_nor_report_nor_console(server: Server, tmp_path: Path) -> None:
    """A server `make serve ... ARGS="--api-key K"` started, its state file written before redaction."""
    lmu = lmudata_with(tmp_path, "MME")
    state_dir = tmp_path / "servers"
    pid = server.proc.pid
    state = ServerState(
        name="fake-vlm", served_name="fake-vlm", role="vlm", engine="vllm", base_url=server.url,
        host="127.0.0.1", port=int(server.url.rsplit(":", 1)[1].split("/")[0]), pid=pid, pgid=os.getpgid(pid),
        argv=("vllm", "serve", "m", "--api-key", KEY, f"--hf-token={TOKEN}"), log=str(tmp_path / "log"),
        proc_start=proc_start(pid),
    )  # fmt: skip
    state_dir.mkdir()
    (state_dir / "fake-vlm.json").write_text(
        json.dumps({**json.loads(state.to_json()), "argv": list(state.argv)})
    )
    r = bench(
        "--data",
        "MME",
        "--state-dir",
        str(state_dir),
        "--lmudata",
        str(lmu),
        "--work-dir",
        "out",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())
    assert summary["datasets"]["MME"]["model"]["argv"][-2:] == ["***", "--hf-token=***"]
    html_report = bench("report", "out", "--out", "report.html", cwd=tmp_path)
    md_report = bench("report", "out", "--format", "md", cwd=tmp_path)
    assert html_report.returncode == 0 and md_report.returncode == 0, html_report.stderr + md_report.stderr
    assert "--api-key ***" in (tmp_path / "report.html").read_text()
    for text in (r.stdout, r.stderr, html_report.stdout, html_report.stderr, md_report.stdout):
        assert KEY not in text and TOKEN not in text
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes() and TOKEN.encode() not in path.read_bytes(), path
    assert KEY.encode() not in (tmp_path / "report.html").read_bytes()


def test_a_report_of_an_older_summary_holding_a_key_shows_it_redacted(server: Server, tmp_path: Path) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    r = bench(
        "--data", "MME", "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "out", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    path = tmp_path / "out" / "fake-vlm" / "summary.json"
    summary = json.loads(path.read_text())
    summary["datasets"]["MME"]["model"]["argv"] = [
        "vllm",
        "serve",
        "m",
        "--api-key",
        KEY,
    ]  # written before the fix
    path.write_text(json.dumps(summary))
    report = bench("report", "out", "--out", "report.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    assert "--api-key ***" in page and KEY not in page


def _fake_spec(fake: FakeEngine, port: int, **kw: object) -> LaunchSpec:
    argv = [*fake.argv(port, "fake-vlm-served", **kw), "--api-key", KEY]  # type: ignore[arg-type]
    return LaunchSpec(
        name="fake-vlm", served_name="fake-vlm-served", argv=tuple(argv), port=port, engine="vllm"
    )


def test_serve_records_a_redacted_argv_and_keeps_its_log_private(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    st = launch(_fake_spec(fake_engine, free_port), timeout_s=30, state_dir=sd, poll_s=0.1).state
    try:
        assert KEY not in (sd / "fake-vlm.json").read_text()
        assert st.argv[-2:] == ("--api-key", "***")
        assert os.stat(st.log).st_mode & 0o077 == 0
    finally:
        stop("fake-vlm", state_dir=sd)


def test_an_engine_echoing_its_key_as_it_dies_is_shown_redacted(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    spec = _fake_spec(
        fake_engine, free_port, mode="die", message=f"non-default args: {{'api_key': ['{KEY}']}}"
    )
    with pytest.raises(ServeError) as e:
        launch(spec, timeout_s=30, state_dir=tmp_path / "servers", poll_s=0.1)
    assert "non-default args" in e.value.log_tail and KEY not in e.value.log_tail and KEY not in str(e.value)


# ---------------------------------------------------------------------------------------------
# 5. Duplicate index values: VLMEvalKit's last row wins, never a cross-join
# ---------------------------------------------------------------------------------------------


def mcq_tsv(path: Path, answers: list[tuple[int, str]], *, image: str | None = None) -> Path:
    """A custom multiple-choice TSV (VLMEvalKit runs `$LMUData/NAME.tsv` with A and B as is)."""
    header = ["index", "question", "A", "B", "answer", *(["image"] if image else [])]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        for i, (index, answer) in enumerate(answers):
            w.writerow([index, f"question {i}?", "left", "right", answer, *([image] if image else [])])
    return path


def test_a_prediction_file_with_a_repeated_index_scores_as_vlmevalkit_does(tmp_path: Path) -> None:
    lmu = tmp_path / "LMUData"
    lmu.mkdir()
    rows = [(1, "A"), (2, "A"), (2, "B"), (3, "B")]
    mcq_tsv(lmu / "Dup.tsv", rows)
    pred = tmp_path / "m_Dup.tsv"
    mcq_tsv(pred, rows)
    table = read_table(pred)
    write_tsv(table.with_columns(table["answer"].alias("prediction")), pred)  # every row answered right
    r = bench(
        "--mode", "eval", "--data", "Dup", "--model", "m", "--pred", str(pred), "--lmudata", str(lmu),
        "--work-dir", "out", "--judge", "exact_matching", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert_clean(r.stdout, r.stderr)
    warnings = [line for line in r.stderr.splitlines() if "duplicate row" in line]
    assert len(warnings) == 2  # the dataset and the prediction file each say it once
    assert all("1 duplicate row(s) repeat 1 index value(s) (e.g. 2)" in w for w in warnings)
    assert all("the last row of each index wins" in w for w in warnings)
    samples = read_table(tmp_path / "out" / "m" / "m_Dup_acc.csv")
    assert float(samples["Overall"][0]) == 1.0
    scored = pl.read_parquet(tmp_path / "out" / "m" / "m_Dup_samples.parquet")
    assert scored.height == 4  # every row, none multiplied


def test_a_dataset_with_a_repeated_index_asks_it_once_and_shares_the_answer(
    server: Server, tmp_path: Path
) -> None:
    lmu = tmp_path / "LMUData"
    lmu.mkdir()
    image = _first_image(KIT_LMU / "MMBench_DEV_EN.tsv")
    mcq_tsv(lmu / "Dup.tsv", [(1, "A"), (2, "A"), (2, "B"), (3, "B")], image=image)
    r = bench(
        "--data", "Dup", "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "out",
        "--judge", "exact_matching", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert_clean(r.stdout, r.stderr)
    assert server.stats()["chat_requests"] == 3  # one per index: the repeated one once
    assert "1 duplicate row(s) repeat 1 index value(s)" in r.stderr
    preds = read_table(tmp_path / "out" / "fake-vlm" / "fake-vlm_Dup.xlsx")
    assert preds.height == 4
    twos = preds.filter(preds["index"] == 2)
    assert twos["prediction"].n_unique() == 1 and twos["question"].to_list() == ["question 1?", "question 2?"]
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())["datasets"]["Dup"]
    assert summary["rows"] == summary["answered"] == 4


def _first_image(tsv: Path) -> str:
    with tsv.open(newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        return next(row["image"] for row in reader if len(row["image"]) > 64)


# ---------------------------------------------------------------------------------------------
# 6. Columns a benchmark needs, checked before the first request
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "column"),
    [("MME", "category"), ("HallusionBench", "l2-category"), ("POPE", "category"), ("MMBench_DEV_EN", "A")],
)
def test_a_missing_column_is_one_line_and_zero_requests(
    server: Server, tmp_path: Path, name: str, column: str
) -> None:
    lmu = tmp_path / "LMUData"
    lmu.mkdir()
    with (
        (KIT_LMU / f"{name}.tsv").open(newline="") as src,
        (lmu / f"{name}.tsv").open("w", newline="") as dst,
    ):
        reader = csv.reader(src, delimiter="\t")
        writer = csv.writer(dst, delimiter="\t", lineterminator="\n")
        header = next(reader)
        drop = {header.index(column)} | ({header.index("B")} if column == "A" else set())
        writer.writerow([c for j, c in enumerate(header) if j not in drop])
        for row in reader:
            writer.writerow([c for j, c in enumerate(row) if j not in drop])
    r = bench(
        "--data", name, "--api-base", server.url, "--lmudata", str(lmu), "--work-dir", "out", cwd=tmp_path
    )
    assert r.returncode == 2
    assert_clean(r.stdout, r.stderr)
    (line,) = errors(r.stderr)
    assert f"{lmu / name}.tsv has no `{column}` column" in line
    assert server.stats()["chat_requests"] == 0


# ---------------------------------------------------------------------------------------------
# 7. Runs that lose their ground
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("replaced", [False, True])
def test_a_work_dir_removed_or_replaced_mid_run_stops_it_with_one_line(
    tmp_path: Path, replaced: bool
) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    s = Server("--hold-after", "20")
    try:
        p = start_bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmu), "--work-dir", "out",
            "--concurrency", "4", cwd=tmp_path,
        )  # fmt: skip
        wait_for(lambda: s.stats()["chat_requests"] > 20, "the run reaching the held requests")
        shutil.rmtree(tmp_path / "out")
        if replaced:  # the same paths, new folders: answers would land where nothing reads them
            (tmp_path / "out" / "fake-vlm" / ".fasteval" / "MME").mkdir(parents=True)
        s.release()
        out, err = p.communicate(timeout=120)
        chats = s.stats()["chat_requests"]
    finally:
        s.close()
    assert p.returncode == 3, err
    assert_clean(out, err)
    (line,) = errors(err)
    assert "was removed or replaced while this run wrote into it" in line
    assert "scored 0" not in out + err
    assert chats < 279  # sending stopped: the rest was never asked


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigterm_says_what_sigint_says(tmp_path: Path, sig: signal.Signals, status: int) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    s = Server("--hold-after", "10")
    try:
        p = start_bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmu), "--work-dir", "out", cwd=tmp_path
        )
        wait_for(lambda: s.stats()["chat_requests"] > 10, "the run reaching the held requests")
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        s.close()
    assert p.returncode == status
    assert_clean(out, err)
    assert err.splitlines()[-1] == (
        "fasteval: interrupted; every stored answer is kept: run the same command to resume"
    )


def test_a_full_disk_while_writing_predictions_is_one_error_and_no_noise(tmp_path: Path) -> None:
    """`/dev/full` behind the temporary name: every write there fails with ENOSPC."""
    script = f"""
import os
from pathlib import Path
import polars as pl
from fasteval.data.tabular import TableError, write_xlsx
target = Path({str(tmp_path)!r}) / "m_MME.xlsx"
os.symlink("/dev/full", target.with_name(f".{{target.name}}.tmp-{{os.getpid()}}"))
df = pl.DataFrame({{"index": list(range(500)), "prediction": ["Yes it is %d" % i for i in range(500)]}})
try:
    write_xlsx(df, target)
except TableError as exc:
    print(exc)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0
    assert r.stderr == ""  # no "Exception ignored in: <function ZipFile.__del__>"
    assert r.stdout.strip().endswith("disk full; free space and rerun (stored answers are kept)")
    assert not (tmp_path / "m_MME.xlsx").exists()


@pytest.mark.parametrize(
    ("flag", "said", "field"),
    [
        (("--reply-model", "someone-else"), "replies name another model (someone-else)", "other_model"),
        (("--empty-length",), "answers are empty, cut off at the token limit", "empty_at_length"),
    ],
)
def test_odd_replies_are_counted_and_shown(
    tmp_path: Path, flag: tuple[str, ...], said: str, field: str
) -> None:
    lmu = lmudata_with(tmp_path, "MME")
    s = Server(*flag)
    try:
        r = bench(
            "--data", "MME", "--api-base", s.url, "--lmudata", str(lmu), "--work-dir", "out", cwd=tmp_path
        )
        chats = s.stats()["chat_requests"]
    finally:
        s.close()
    assert r.returncode == 0, r.stderr
    assert_clean(r.stdout, r.stderr)
    assert f"{chats} {said}" in " ".join(r.stdout.split())
    summary = json.loads((tmp_path / "out" / "fake-vlm" / "summary.json").read_text())
    assert summary["datasets"]["MME"]["odd_replies"][field] == chats


# ---------------------------------------------------------------------------------------------
# 8. Report robustness
# ---------------------------------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` (a decompression bomb as PIL first sees it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_thumbnail_becomes_a_placeholder() -> None:
    bomb = base64.b64encode(_png_header_only(20000, 20000)).decode()
    assert thumbnail(bomb) == PLACEHOLDER
    small = base64.b64encode(_png_header_only(8, 8)).decode()
    assert thumbnail(small) != PLACEHOLDER


def test_markdown_escapes_html_in_names() -> None:
    name = '<img src=x onerror="alert(1)">'
    cell = Cell(name, "MME", "acc", 0.5, None, "", "r", "exact_matching", 2, 4, "x.csv")
    report = Report((name,), ("MME",), {(name, "MME"): cell}, comparisons=(), speeds=(), sections=())
    out = markdown.render(report)
    assert "<img" not in out and "&lt;img src=x onerror=" in out
