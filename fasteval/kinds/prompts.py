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

__all__ = ["PROMPT_STYLES", "PromptError", "build_prompt", "prompt_text"]


def prompt_text(spec: BenchmarkSpec, sample: Sample, style: str = "default") -> str:
    """The text part of the message: the benchmark kind's text for `style`."""
    if style not in PROMPT_STYLES:
        raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(PROMPT_STYLES)}")
    return kind_named(spec.kind).prompt_text(spec, sample, style)


def build_prompt(spec: BenchmarkSpec, sample: Sample, style: str = "default") -> Prompt:
    """Images first, then the text `style` builds for this benchmark's kind."""
    text = prompt_text(spec, sample, style)
    images: tuple[Part, ...] = tuple(ImagePart(image) for image in sample.images)
    return Prompt(parts=(*images, TextPart(text)))
