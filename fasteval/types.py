"""The records that flow through the pipeline: data in, requests out, results stored, scores computed.

Every arrow in the data flow is one of these typed records, never a file convention or a magic
string. Failures are values (`Status`, `ErrorKind`), so a failed request can never be mistaken for
an answer and scored.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# Benchmarks and samples
# ---------------------------------------------------------------------------------------------


OPTION_LETTERS: tuple[str, ...] = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""Option columns VLMEvalKit reads (`string.ascii_uppercase`), in order."""


@dataclass(frozen=True, slots=True)
class BenchmarkSpec:
    """One benchmark, declared once in `benchmarks/<NAME>.toml` and read by every layer.

    Nothing else in the code branches on a dataset's name: the prompt, the extractor, the
    scorer, the judge policy and circular evaluation all come from here.
    """

    name: str
    kind: str  # a key of fasteval.kinds.KINDS: the answer type, which owns prompt text, extraction, judge
    url: str | None
    md5: str | None
    scorer: str  # key into fasteval.scoring.SCORERS: "mme", "pope", "hallusion", "yorn", "mcq", ...
    circular: bool = False
    # VLMEvalKit's default judge key (names the judge's model when nothing else does, and its files);
    # "exact_matching": no judge unless `--judge MODEL` asks for one
    judge: str = "gpt-4o-mini"
    official_rule: str | None = (
        None  # extractor of the benchmark's own scorer: "mme", "pope", "mmstar", "seed"
    )
    # Text the dataset's own prompt appends to the question (Y/N and VQA kinds): AMBER's Y/N line,
    # VQA's "\nAnswer the question using a single word or phrase."; "" for most
    suffix: str = ""
    description: str = ""
    # Model prompt styles that replace the dataset's suffix for this benchmark (VLMEvalKit's model
    # classes decide these by dataset name): style -> text appended to the bare question.
    style_suffix: tuple[tuple[str, str], ...] = ()
    # The dataset's prompt places each image at its `<image k>` tag (MMMU's `split_MMMU`), for the
    # default style; model styles keep images first and the tags as text.
    interleave_images: bool = False
    # A video benchmark (the TOML's `[video]` table): rows are videos sampled into frames
    video: VideoSpec | None = None


SAMPLERS: tuple[str, ...] = ("uniform", "mvbench", "mvbench_mp4")
"""Frame-index rules of VLMEvalKit's video classes: `VideoBaseDataset` / `VideoMME` / `MMBenchVideo`
(`uniform`: `int(i * n / (N + 1))`, or `fps` mode), `MVBench.get_index` (bounds, frame folders), and
`MVBench_MP4` (`seg = (n - 1) / N`, or `fps` mode)."""


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """One of VLMEvalKit's video presets (`vlmeval/dataset/video_dataset_config.py`): which dataset, how
    its videos are sampled. `nframe` and `fps` are exclusive (`run.py` L188-192 asserts exactly one)."""

    dataset: str  # VLMEvalKit's dataset name: the snapshot folder, its TSV and the frame-cache folder
    sampler: str  # a key of SAMPLERS
    nframe: int | None = None  # frames per row
    fps: float | None = None  # frames per second of video
    subtitles: bool = False  # Video-MME's subtitle template (the `_subs` presets)
    repo: str | None = None  # the Hugging Face dataset it is published as
    revision: str | None = None  # the snapshot's revision (MVBench_MP4 is `video`)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image exactly as the dataset stores it: base64 text, never decoded on the hot path."""

    b64: str
    mime: str  # "image/jpeg", "image/png", ... sniffed from the first bytes


@dataclass(frozen=True, slots=True)
class FileImageRef:
    """An image kept in a file (a video frame in the frame cache): its bytes are read only when the
    request body is built, i.e. when the row's concurrency slot frees, so memory stays flat however
    many frames a run holds references to."""

    path: Path
    mime: str = "image/jpeg"

    @property
    def b64(self) -> str:
        return self.b64_bytes().decode("ascii")

    def b64_bytes(self) -> bytes:
        """The file's base64 as bytes: pure base64 alphabet by construction, ready to splice into JSON."""
        return base64.b64encode(self.path.read_bytes())


Image = ImageRef | FileImageRef


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark row, with VLMEvalKit's pandas reading already applied (NA-like text is None)."""

    dataset: str
    index: int | str
    question: str
    images: tuple[Image, ...]  # in the order the prompt places them (a video row: its frames, in time order)
    options: dict[str, str]  # present options only, letter -> text, in letter order
    answer: str | None
    hint: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # category, l2-category, split, image_path ...
    # Why the row's input could not be prepared (a missing or undecodable video): the row is recorded
    # as failed (`ErrorKind.INPUT`) without a request, and never scored as an answer
    unavailable: str | None = None


# ---------------------------------------------------------------------------------------------
# Prompts and requests
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    image: Image


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class Prompt:
    """A single-turn user message: images first, then text, as VLMEvalKit builds them."""

    parts: tuple[Part, ...]
    system: str | None = None


@dataclass(frozen=True, slots=True)
class GenParams:
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float | None = None
    ignore_eos: bool = False
    timeout_s: float = 600.0
    extra_body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Extras:
    """Engine-specific fields of one request: top-level body keys and keys added to each `image_url`.

    The client does not know what they mean (fasteval.models.families decides); it only puts them
    where they belong, so per-model settings never need a second body builder.
    """

    body: Mapping[str, Any] = field(default_factory=dict)
    image_url: Mapping[str, Any] = field(default_factory=dict)


NO_EXTRAS = Extras()


# ---------------------------------------------------------------------------------------------
# Completions: what came back for one request
# ---------------------------------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"


class ErrorKind(StrEnum):
    """Why a request failed for good. Retryable kinds were retried before they got here."""

    CONNECT = "connect"  # refused, reset, dropped mid-stream
    TIMEOUT = "timeout"
    SERVER = "server_5xx"
    RATE_LIMITED = "rate_limited"  # 429 after every retry
    CONTEXT_LENGTH = "context_length"  # 400 saying the prompt is too long
    AUTH = "auth"  # 401/403: the server refuses the API key
    UNKNOWN_MODEL = "unknown_model"  # 404 naming the model: it is not served there
    BAD_REQUEST = "bad_request"  # any other 4xx
    MALFORMED = "malformed_response"  # bad JSON, broken SSE, no choices
    # more bytes, tokens or text than `max_tokens` allows, or an SSE line past the line limit: the
    # server ignored the limit; cut, never stored as an answer, not retried (it would do it again)
    REPLY_TOO_LONG = "reply_too_long"
    DEADLINE = "deadline"  # the whole reply took longer than the request deadline (a trickle); retried
    CANCELLED = "cancelled"
    INPUT = "input"  # the row's own input (a missing or undecodable video) could not be prepared: not sent
    # a thinking model's reply stopped at max_tokens before its thinking block closed: no answer, not retried
    THINKING_CUT = "thinking_cut"


@dataclass(slots=True)
class Timing:
    """Client-side timestamps and derived latencies of one request, in seconds (vLLM's definitions).

    `ttft` counts from the send of the final attempt to the first chunk that carries content (a
    role-only first chunk does not count); `e2el` to the last content chunk (the usage-only
    chunk does not count); `itl` holds the gaps between content chunks.
    """

    t_dispatch: float = 0.0  # wall clock (time.time) when the request left the queue
    queue_s: float = 0.0  # time spent waiting for a concurrency slot
    t_send: float | None = None  # wall clock of the final attempt's send: ttft/e2el count from here
    ttft: float | None = None
    e2el: float | None = None
    itl: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Completion:
    status: Status
    text: str | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    finish_reason: str | None = None
    n_in: int | None = None
    n_out: int | None = None
    attempts: int = 0
    endpoint: str | None = None
    model: str | None = None
    timing: Timing = field(default_factory=Timing)
    reasoning: str | None = None  # a thinking model's thinking (the engine's `reasoning_content`, or cut off)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


# ---------------------------------------------------------------------------------------------
# Extraction and scores
# ---------------------------------------------------------------------------------------------


class Method(StrEnum):
    """How an answer was extracted from a prediction; recorded per row."""

    EXACT = "exact"  # the rule set's matcher resolved it
    JUDGE = "judge"  # an LLM judge resolved it; its raw reply is recorded
    FALLBACK = "fallback"  # nothing resolved it; a seeded, recorded choice (or Z) was taken
    UNRESOLVED = "unresolved"  # exact matching only, nothing matched (MCQ 'Z', Y/N 'Unknown')
