"""`python -m fasteval.serving.cli {serve,judge,stop,status}`: what `make serve/judge/stop/status` run.

One line per action on stdout; on failure one `error:` line, then the server log's last lines, and exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fasteval.errors import FastevalError
from fasteval.models.registry import ENGINES, get_model
from fasteval.models.servers import default_state_dir, running_servers
from fasteval.serving.serve import (
    ServeError,
    ensure_cpu_engine,
    log_path_for,
    resolve_python,
    serve,
    status,
    stop,
)

DEFAULT_JUDGE = "internlm2_5-1_8b-chat"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fasteval.serving.cli", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd, helptext in (
        ("serve", "start the model under evaluation"),
        ("judge", "start the local LLM judge"),
    ):
        s = sub.add_parser(cmd, help=helptext)
        default = DEFAULT_JUDGE if cmd == "judge" else None
        s.add_argument(
            "--model", default=default, required=default is None, help="name in engines/models.toml"
        )
        s.add_argument("--engine", choices=ENGINES, default=None, help="default: the model's engine")
        s.add_argument("--tp", type=int, default=None, help="tensor-parallel GPUs (default: the model's)")
        s.add_argument("--pp", type=int, default=1, help="pipeline-parallel stages (vLLM)")
        s.add_argument("--dp", type=int, default=1, help="data-parallel replicas")
        s.add_argument("--ray", action="store_true", help="vLLM multi-node on an existing Ray cluster")
        s.add_argument("--port", type=int, default=None, help="default: 8000 for a VLM, 23333 for a judge")
        s.add_argument("--host", default="127.0.0.1")
        s.add_argument("--model-path", default=None, help="weights folder or hub id (overrides the registry)")
        s.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for /v1/models")
        s.add_argument("--state-dir", type=Path, default=None)
        s.add_argument("extra", nargs=argparse.REMAINDER, help="after `--`: extra engine flags, verbatim")
    st = sub.add_parser("stop", help="stop servers this checkout started")
    st.add_argument("--model", default=None, help="only this one (default: all)")
    st.add_argument("--state-dir", type=Path, default=None)
    ss = sub.add_parser("status", help="list running servers")
    ss.add_argument("--state-dir", type=Path, default=None)
    return p


def _serve(args: argparse.Namespace) -> int:
    entry = get_model(args.model, path=args.model_path)
    engine = args.engine or entry.engine
    if engine == "vllm-cpu":
        ensure_cpu_engine()
    resolve_python(engine)  # an engine that is not installed fails here, before "starting"
    state_dir = args.state_dir or default_state_dir()
    extra = [a for a in args.extra if a != "--"]
    if not any(st.name == entry.name for st in running_servers(state_dir)):
        print(f"starting {entry.name} on {engine} (log: {log_path_for(entry.name, state_dir)})", flush=True)
    result = serve(
        entry,
        engine=engine,
        host=args.host,
        port=args.port,
        tp=args.tp,
        pp=args.pp,
        dp=args.dp,
        ray=args.ray,
        extra=extra,
        timeout_s=args.timeout,
        state_dir=state_dir,
    )
    st = result.state
    verb = "serving" if result.started else "already running:"
    where = f"at {st.base_url} [pid {st.pid}]"
    print(f"{verb} {st.name} as {st.served_name!r} ({st.engine}, role {st.role}) {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd in ("serve", "judge"):
            return _serve(args)
        if args.cmd == "stop":
            stopped = stop(args.model, state_dir=args.state_dir)
            for st in stopped:
                print(f"stopped {st.name} (pid {st.pid}, {st.base_url})")
            if not stopped:
                print("no fasteval servers running" + (f" named {args.model}" if args.model else ""))
            return 0
        rows = status(args.state_dir)
        for row in rows:
            st = row.state
            health = "ready" if row.answering else "not answering"
            print(
                f"{st.name}\t{st.role}\t{st.engine}\t{st.base_url}\t{st.served_name}\tpid {st.pid}\t{health}"
            )
        if not rows:
            print("no fasteval servers running")
        return 0
    except FastevalError as e:
        print(f"error: {e}", file=sys.stderr)
        if isinstance(e, ServeError) and e.log_tail:
            where = f" of {e.log_path}" if e.log_path else ""
            print(f"--- last lines{where} ---\n{e.log_tail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
