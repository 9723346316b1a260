"""The servers `make serve` started: their state files, and which of them are still alive.

`serving.serve` launches and stops engines and writes one `{state_dir}/{name}.json` per server; this
module only reads and checks those records, so the layers that send requests can find a server
without importing the code that starts processes.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerState:
    """A running server as recorded in `{state_dir}/{name}.json`; what bench.py needs to reach it."""

    name: str  # registry name, e.g. "InternVL2-2B"
    served_name: str  # the `model` field requests must carry
    role: str  # "vlm" | "judge"
    engine: str
    base_url: str  # http://127.0.0.1:8000/v1
    host: str
    port: int
    pid: int
    pgid: int
    argv: tuple[str, ...]
    log: str
    model_path: str = ""
    started_at: float = 0.0
    proc_start: int | None = None  # /proc start time of pid: guards against a reused pid after a reboot

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ServerState:
        raw: dict[str, Any] = json.loads(text)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        known["argv"] = tuple(known.get("argv", ()))
        return cls(**known)


def default_state_dir() -> Path:
    return Path.cwd() / ".fasteval" / "servers"


def proc_start(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def reap(pid: int) -> None:
    """Collect `pid` if it is our own exited child, so a zombie does not look alive."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(state: ServerState) -> bool:
    """Whether the recorded server's processes still exist (and the pid was not reused by another program)."""
    reap(state.pid)
    start = proc_start(state.pid)
    if start is not None and state.proc_start is not None and start != state.proc_start:
        return False  # the pid now belongs to something else
    return group_alive(state.pgid)  # also true when only the leader's workers are left: stop() kills those


def state_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.json"


def write_state(state_dir: Path, state: ServerState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_file(state_dir, state.name).with_suffix(".json.tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, state_file(state_dir, state.name))


def read_states(state_dir: Path) -> list[ServerState]:
    states = []
    for f in sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []:
        try:
            states.append(ServerState.from_json(f.read_text()))
        except (OSError, ValueError, TypeError):
            f.unlink(missing_ok=True)  # unreadable: a crash mid-write; nothing can reach it
    return states


def running_servers(state_dir: Path | None = None, *, role: str | None = None) -> list[ServerState]:
    """Live servers this checkout started (oldest first); state files of dead ones are removed."""
    state_dir = state_dir or default_state_dir()
    live = []
    for st in read_states(state_dir):
        if is_alive(st):
            live.append(st)
        else:
            state_file(state_dir, st.name).unlink(missing_ok=True)
    live.sort(key=lambda s: s.started_at)
    return [s for s in live if role is None or s.role == role]
