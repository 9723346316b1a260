"""A scripted OpenAI-compatible judge for tests: each reply comes from a test-provided function.

    async with ScriptedJudge(lambda call: "B") as judge:
        judge.url      # http://127.0.0.1:PORT/v1
        judge.calls    # every chat call received, in order (prompt, temperature, n-th ask of that prompt)

`reply(call)` sees the prompt text, the temperature and how many times this exact prompt was asked
before (so a script can answer differently per try); returning None answers HTTP 500 instead. The
server names itself `reported_model` in its replies, which may differ from the id it lists, as real
engines' replies sometimes do.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Call:
    prompt: str
    temperature: float
    nth: int  # 0 for the first ask of this prompt
    max_tokens: int | None
    t: float  # wall clock when it arrived


Reply = Callable[[Call], "str | None"]


@dataclass
class ScriptedJudge:
    reply: Reply
    model: str = "judge-model"
    reported_model: str | None = None  # default: `model`
    max_model_len: int | None = None  # listed in /v1/models as vLLM does
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    _asked: Counter[str] = field(default_factory=Counter)
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> ScriptedJudge:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def n_calls(self) -> int:
        return len(self.calls)

    async def _models(self, request: web.Request) -> web.Response:
        entry: dict[str, Any] = {"id": self.model, "object": "model"}
        if self.max_model_len is not None:
            entry["max_model_len"] = self.max_model_len
        return web.json_response({"object": "list", "data": [entry]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("model") != self.model:
            return web.json_response({"object": "error", "message": "no such model"}, status=404)
        content = body["messages"][-1]["content"]
        prompt = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        call = Call(
            prompt,
            float(body.get("temperature", 1.0)),
            self._asked[prompt],
            body.get("max_tokens"),
            time.time(),
        )
        self._asked[prompt] += 1
        self.calls.append(call)
        text = self.reply(call)
        if text is None:
            return web.json_response({"object": "error", "message": "scripted failure"}, status=500)
        return web.json_response(
            {
                "id": f"judge-{len(self.calls)}",
                "object": "chat.completion",
                "model": self.reported_model or self.model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 1, "total_tokens": 1},
            }
        )


def answer_in(prompt: str) -> str:
    """The model's prediction quoted in a judge prompt (the text after the last 'Answer: ')."""
    marker = "\nAnswer: " if "\nAnswer: " in prompt else "\n答案: "
    tail = prompt.rsplit(marker, 1)[1]
    return tail.rsplit("\nYour output: " if "\nYour output: " in tail else "\n输出: ", 1)[0]
