"""VLMEvalKit's judge call discipline as data and pure functions (conformance README §8.9).

Two levels, as upstream has them:

* one *judge call* (`BaseAPI.generate`, `vlmeval/api/base.py`) is up to `retry` HTTP attempts
  (run.py passes `retry=6` to the judge). An attempt succeeds when the status is 2xx and the
  message content, stripped, is non-empty and does not contain the failure message. When every
  attempt fails, the call returns the last attempt's answer, which for a non-2xx status or an
  unparseable body is the failure message `FAILED_CALL` (an empty one becomes `FAILED_CALL` too);
* a *try schedule* (`MathVista_auxeval`, `MMVet_auxeval`, `extract_answer_from_item`) is a list of
  calls at given temperatures; each kind decides from the replies so far whether it is done
  (`fold_tries` in the kind modules). A failed call simply moves on to the next entry.

Nothing here does I/O: a transport feeds `attempt_answer` with what it saw and stops a call when
`call_result` returns a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

FAILED_CALL: Final = "Failed to obtain answer via API."
"""What a judge call returns when all its attempts failed. No trailing space: OpenAIWrapper sets
'... API. ' but then calls `BaseAPI.__init__`, whose default `fail_msg` overwrites it (gpt.py,
0.0.20 and e8e78f05); the kit's MathVista/MMVet logs show exactly this text."""

HTTP_ATTEMPTS: Final = 6  # run.py judge kwargs: retry=6 HTTP attempts per judge call


@dataclass(frozen=True, slots=True)
class TrySchedule:
    """The judge calls one row may take: one per temperature, in order, each with `max_tokens`."""

    temperatures: tuple[float, ...]
    max_tokens: int

    @property
    def tries(self) -> int:
        return len(self.temperatures)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt as `OpenAIWrapper.generate_inner` sees it."""

    ok: bool  # counts as the call's answer (2xx, non-empty, no failure message)
    answer: str  # the stripped content, or FAILED_CALL when the body had none


def attempt_answer(status: int, content: str | None) -> Attempt:
    """Classify one attempt: `status` is the HTTP status (0 for a transport error), `content` the
    message content of a parseable chat-completions body, None when the body had none."""
    answer = FAILED_CALL if content is None else content.strip()
    ok = 200 <= status < 300 and answer != "" and FAILED_CALL not in answer
    return Attempt(ok=ok, answer=answer)


def call_result(attempts: Sequence[Attempt], retry: int = HTTP_ATTEMPTS) -> str | None:
    """The judge call's return value once decided, else None (send another attempt).

    The first successful attempt's answer; after `retry` failed attempts, the last answer, or
    `FAILED_CALL` when it was empty.
    """
    for a in attempts[:retry]:
        if a.ok:
            return a.answer
    if len(attempts) < retry:
        return None
    last = attempts[retry - 1].answer
    return FAILED_CALL if last == "" else last


def call_failed(reply: str) -> bool:
    """Whether a call's return value is VLMEvalKit's failure message (MathVista's `FAIL_MSG in res`)."""
    return FAILED_CALL in reply
