"""The user message for one sample, byte-for-byte as VLMEvalKit builds it.

VLMEvalKit sends the dataset's template unless the model class opts in to its own prompt for that
dataset (`use_custom_prompt`), and published numbers depend on which one was used. So the text is
chosen by two things only: the benchmark's kind (which owns its text per style) and the model's
prompt-style name from the engine registry (`PROMPT_STYLES`):

* `default`: the dataset template (`ImageYORNDataset` / `ImageMCQDataset.build_prompt`).
* `internvl2`: `InternVLChat.build_prompt` (without the opt-in `USE_COT` / MPO variants).
* `qwen2vl`: `Qwen2VLPromptMixin`.

Images come first. InternVL lists its text part before the images, but its chat code puts
`<image>` ahead of the text (`reorganize_prompt`), which is what an image-first message gives.
"""

from __future__ import annotations

from fasteval.kinds import kind_named
from fasteval.kinds.base import PROMPT_STYLES, PromptError
from fasteval.types import BenchmarkSpec, ImagePart, Part, Prompt, Sample, TextPart

__all__ = ["PROMPT_STYLES", "PromptError", "build_prompt", "images_sent", "prompt_text"]


def prompt_text(spec: BenchmarkSpec, sample: Sample, style: str = "default") -> str:
    """The text part of the message: the benchmark kind's text for `style`."""
    if style not in PROMPT_STYLES:
        raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(PROMPT_STYLES)}")
    return kind_named(spec.kind).prompt_text(spec, sample, style)


def build_prompt(spec: BenchmarkSpec, sample: Sample, style: str = "default") -> Prompt:
    """Images first, then the text `style` builds for this benchmark's kind; or, for a benchmark
    whose own prompt interleaves them, as its kind places them, else at `<image k>` tags (MMMU)."""
    text = prompt_text(spec, sample, style)
    if spec.interleave_images and style == "default":
        placed = kind_named(spec.kind).place_images(spec, sample, text)
        if placed is not None:
            return Prompt(parts=placed)
        if "<image " in text:
            return Prompt(parts=interleave(text, sample))
    images: tuple[Part, ...] = tuple(ImagePart(image) for image in sample.images)
    return Prompt(parts=(*images, TextPart(text)))


def images_sent(spec: BenchmarkSpec, sample: Sample, style: str = "default") -> int:
    """How many images the message for `sample` carries (a tag named twice sends its image twice)."""
    if spec.interleave_images and style == "default":
        return sum(isinstance(p, ImagePart) for p in build_prompt(spec, sample, style).parts)
    return len(sample.images)


def interleave(text: str, sample: Sample) -> tuple[Part, ...]:
    """`split_MMMU`: each `<image k>` tag becomes image k (1-based; single digit, as upstream);
    an image named twice is sent twice, one never named is not sent; empty text is left out."""
    first, *rest = text.split("<image ")
    parts: list[Part] = [TextPart(first)] if first else []
    for seg in rest:
        if len(seg) < 2 or not seg[0].isdigit() or seg[1] != ">":
            raise PromptError(
                f"{sample.dataset} row {sample.index}: malformed image tag '<image {seg[:3]}' in the question"
            )
        k = int(seg[0])
        if not 1 <= k <= len(sample.images):
            raise PromptError(
                f"{sample.dataset} row {sample.index}: the question names <image {k}> but the row has "
                f"{len(sample.images)} image(s); check the TSV's image cell"
            )
        parts.append(ImagePart(sample.images[k - 1]))
        if seg[2:]:
            parts.append(TextPart(seg[2:]))
    return tuple(parts)
