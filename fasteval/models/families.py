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

from collections.abc import Mapping
from dataclasses import dataclass
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
    """Qwen2-VL's resize bounds: each image is scaled to between `min_pixels` and `max_pixels`."""

    min_pixels: int
    max_pixels: int


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

    @property
    def per_request_kwargs(self) -> bool:
        """Whether requests carry processor kwargs (so a vLLM server must accept them)."""
        return self.tiles is not None or self.pixels is not None


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
    px = family.pixels
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

    def fields(self, dataset: str, n_images: int, *, video: bool = False) -> Extras:
        return wire_fields(settings_for(get_family(self.family), dataset, n_images, video=video), self.wire)

    def fingerprint(self) -> dict[str, Any]:
        """What changes a stored answer's validity (the run store's request fingerprint)."""
        return {"family": self.family, "wire": self.wire, "system": self.system_prompt}


NO_PLAN = RequestPlan()


def make_plan(family: str | None, engine: str | None, *, max_tokens_given: bool) -> RequestPlan:
    """The plan for a model of `family` served by `engine` (None: an endpoint of unknown kind)."""
    fam = get_family(family) if family else None
    if fam is None:
        return NO_PLAN
    wire: Wire = WIRE_OF_ENGINE.get(engine or "", "openai")
    return RequestPlan(
        family=fam.name,
        wire=wire,
        max_tokens=None if max_tokens_given else fam.max_new_tokens,
        system_prompt=fam.system_prompt,
        prompt_style=fam.prompt_style,
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
