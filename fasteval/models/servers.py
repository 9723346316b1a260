"""The servers `make serve` started: their state files, and which of them are still alive.

`serving.serve` launches and stops engines and writes one `{state_dir}/{name}.json` per server; this
module only reads and checks those records, so the layers that send requests can find a server
without importing the code that starts processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
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
        known["argv"] = redact_argv(known.get("argv", ()))  # a state file written before redaction
        return cls(**known)


# a flag whose name ends in key(s), token, secret, password or credentials: `--api-key`, `--api-keys`
# (LMDeploy), `--hf-token`; not `--max-num-batched-tokens` nor `--ssl-keyfile`
_SECRET_FLAG = re.compile(
    r"--?([\w-]*[-_])?(keys?|token|secret|password|passwd|credentials?)$", re.IGNORECASE
)
_MIN_SCRUB = 4  # shorter secret values are replaced only as whole arguments, never inside other text
_URL_USERINFO = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*)(?P<password>:[^/@\s]*)?@", re.IGNORECASE
)
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&](?:[\w-]*(?:key|token|secret|password|sig|signature)))=[^&\s#]*", re.IGNORECASE
)
REDACTED = "***"


def _redact_text(text: str) -> str:
    """Credentials inside a URL replaced by `***`: the password of `user:password@` (a bare `token@` whole,
    as `fasteval.inference.endpoints.redact_url` does) and `?token=...`-like query values."""

    def userinfo(m: re.Match[str]) -> str:
        shown = f"{m['user']}:{REDACTED}" if m["password"] and m["user"] else REDACTED
        return f"{m['scheme']}{shown}@"

    text = _URL_USERINFO.sub(userinfo, text)
    return _QUERY_SECRET.sub(lambda m: f"{m['name']}={REDACTED}", text)


def _secrets_at(argv: Sequence[str]) -> dict[int, tuple[str, str]]:
    """Position -> (secret value, the argument as shown) for each secret flag's value in `argv`
    (`--api-key K`, `--api-keys A B`, `--hf-token=T`)."""
    found: dict[int, tuple[str, str]] = {}
    taking = False
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if arg.startswith("-") and _SECRET_FLAG.match(flag):
            taking = not eq
            if eq and value:
                found[i] = (value, f"{flag}={REDACTED}")
            continue
        if taking and not arg.startswith("-"):
            found[i] = (arg, REDACTED)  # LMDeploy's --api-keys takes several
            continue
        taking = False
    return found


def secret_values(argv: Sequence[str]) -> list[str]:
    """The values of secret flags in `argv`, to scrub from text the engine printed (its log)."""
    return [value for value, _ in _secrets_at(argv).values()]


def redact_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """`argv` as it may be stored and shown: values of flags named like a key, token, secret or password,
    and credentials in URLs, become `***` (summary.json, the report and state files show this form)."""
    at = _secrets_at(argv)
    secrets = [value for value, _ in at.values()]
    return tuple(at[i][1] if i in at else scrub(a, secrets) for i, a in enumerate(argv))


def scrub(text: str, secrets: Sequence[str] | set[str]) -> str:
    """`text` (an engine's log tail, a flag like `--api-key=K`) with every secret value replaced by `***`."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SCRUB:
            text = text.replace(secret, REDACTED)
    return _redact_text(text)


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
    """Whether any process of group `pgid` still runs. Zombies (exited, not yet collected by their
    parent) still answer `killpg(pgid, 0)`, so /proc says which of them really run; without /proc,
    `killpg`'s word is taken."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's group: it exists; /proc still says whether anything in it runs
    states = _group_states(pgid)
    return states is None or any(state not in "ZX" for state in states)


def _group_states(pgid: int) -> list[str] | None:
    """The state letter (`R`, `S`, `Z`...) of every process in group `pgid`, or None without /proc."""
    try:
        entries = [e for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return None
    states = []
    for entry in entries:
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold anything
        if len(fields) > 2 and fields[2] == str(pgid):
            states.append(fields[0])
    return states


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
