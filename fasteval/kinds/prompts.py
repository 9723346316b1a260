"""The user message for one sample, byte-for-byte as VLMEvalKit builds it.

VLMEvalKit sends the dataset's template unless the model class opts in to its own prompt for
that dataset (`use_custom_prompt`), and published numbers depend on which one was used. So the
prompt is chosen by two things only: the benchmark's spec (kind, template, suffixes) and the
model's prompt-style name from the engine registry. `STYLES` lists the styles:

* `default`: the dataset template (`ImageYORNDataset` / `ImageMCQDataset.build_prompt`).
* `internvl2`: `InternVLChat.build_prompt` (`vlm/internvl/internvl_chat.py`, `utils.py:
  build_multi_choice_prompt`), without the opt-in `USE_COT` / MPO variants.
* `qwen2vl`: `Qwen2VLPromptMixin` (`vlm/qwen2_vl/prompt.py`).

Images always come first. InternVL lists its text part before the images, but its chat code puts
`<image>` ahead of the text (`reorganize_prompt`), which is what an image-first message gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from fasteval.errors import FastevalError
from fasteval.types import BenchmarkSpec, ImagePart, Part, Prompt, Sample, TextPart


class PromptError(FastevalError):
    """A prompt that cannot be built as asked."""


_CJK = re.compile("[\u4e00-\u9fff]")
MCQ_SELECT = "Please select the correct answer from the options above."
INTERNVL_LETTER = "Answer with the option's letter from the given choices directly."
INTERNVL_DIRECT = "Answer the question directly."
CN_LETTER = "请直接回答选项字母。"
CN_DIRECT = "请直接回答问题。"


def build_prompt(spec: BenchmarkSpec, sample: Sample, style: str = "default") -> Prompt:
    """Images first, then the text `style` builds for this benchmark's kind."""
    builder = STYLES.get(style)
    if builder is None:
        raise PromptError(f"unknown prompt style {style!r}; use one of: {', '.join(STYLES)}")
    images: tuple[Part, ...] = tuple(ImagePart(image) for image in sample.images)
    return Prompt(parts=(*images, TextPart(builder(spec, sample))))


def _template(spec: BenchmarkSpec) -> str:
    return spec.prompt if spec.prompt in ("yorn", "mcq") else spec.kind


def _style_suffix(spec: BenchmarkSpec, style: str) -> str | None:
    """The text `style` appends to this benchmark's Y/N question instead of the dataset prompt, if any."""
    return dict(spec.style_yorn_suffix).get(style)


# ---------------------------------------------------------------------------------------------
# Dataset templates
# ---------------------------------------------------------------------------------------------


def dataset_text(spec: BenchmarkSpec, sample: Sample) -> str:
    """Y/N: the question (+ the benchmark's suffix); MCQ: hint, question, options (`ImageMCQDataset`)."""
    if _template(spec) == "yorn":
        return sample.question + spec.yorn_suffix
    text = f"Hint: {sample.hint}\n" if sample.hint is not None else ""
    text += f"Question: {sample.question}\n"
    if sample.options:
        text += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in sample.options.items())
        text += MCQ_SELECT + " \n"
    return text


# ---------------------------------------------------------------------------------------------
# Model styles
# ---------------------------------------------------------------------------------------------


def internvl2_text(spec: BenchmarkSpec, sample: Sample) -> str:
    """InternVL2's `build_prompt`: a per-benchmark Y/N suffix; `build_multi_choice_prompt` for MCQ."""
    if _template(spec) == "yorn":
        suffix = _style_suffix(spec, "internvl2")
        return dataset_text(spec, sample) if suffix is None else sample.question + suffix
    text = sample.question if sample.hint is None else f"{sample.hint}\n{sample.question}"
    text += "".join(f"\n{k}. {v}" for k, v in sample.options.items())
    cn = _CJK.search(text) is not None
    if sample.options:
        return text + "\n" + (CN_LETTER if cn else INTERNVL_LETTER)
    return text + "\n" + (CN_DIRECT if cn else INTERNVL_DIRECT)


def qwen2vl_text(spec: BenchmarkSpec, sample: Sample) -> str:
    """Qwen2-VL's prompt mixin: its own MCQ ending (stripped); a Y/N suffix for the benchmarks it names."""
    if _template(spec) == "yorn":
        suffix = _style_suffix(spec, "qwen2vl")
        return dataset_text(spec, sample) if suffix is None else sample.question + suffix
    text = f"Hint: {sample.hint}\n" if sample.hint is not None else ""
    text += f"Question: {sample.question}\n"
    if sample.options:
        text += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in sample.options.items())
        text += CN_LETTER if _CJK.search(text) else MCQ_SELECT
    return text.rstrip()


STYLES: Mapping[str, Callable[[BenchmarkSpec, Sample], str]] = {
    "default": dataset_text,
    "internvl2": internvl2_text,
    "qwen2vl": qwen2vl_text,
}
"""Prompt styles by name: the `prompt_style` an engine registry entry may name."""
