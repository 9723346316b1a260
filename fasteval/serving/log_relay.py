"""`python -m fasteval.serving.log_relay ENGINE_ARGV...`: run the engine, writing its output to our
stdout (the engine's log file) with its secrets scrubbed.

Engines echo their arguments at start (vLLM prints `non-default args: {'api_key': ...}`), so a key
passed with `--api-key` would sit in the log in clear text. `serve.launch` starts this relay instead
of the engine when the argv holds a secret: the relay leads the engine's process group (a group kill
takes both), copies the engine's output line by line through `scrub`, and exits with the engine's
exit status once its output ends. The secret values come in `FASTEVAL_LOG_SECRETS` (a JSON list,
removed before the engine starts), never on a command line. SIGTERM and SIGINT are ignored by the
relay itself so the engine's last words (its shutdown) still reach the log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from fasteval.models.servers import scrub

SECRETS_ENV = "FASTEVAL_LOG_SECRETS"
MAX_LINE = 64 << 10  # a longer line (a progress bar redrawn with \r) is relayed in pieces


def main(argv: list[str]) -> int:
    secrets = json.loads(os.environ.pop(SECRETS_ENV, "[]"))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_default_signals,  # the engine itself answers SIGTERM as it always does
    )
    assert engine.stdout is not None
    out = sys.stdout.buffer
    tail = ""  # a line cut at MAX_LINE: scrubbed together with what follows, so no key is split
    for raw in iter(lambda: engine.stdout.readline(MAX_LINE), b""):  # type: ignore[union-attr]
        text = tail + raw.decode("utf-8", "replace")
        if not text.endswith("\n") and len(text) < 2 * MAX_LINE:
            tail = text
            continue
        tail = ""
        out.write(scrub(text, secrets).encode())
        out.flush()
    if tail:
        out.write(scrub(tail, secrets).encode())
        out.flush()
    return engine.wait()


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
