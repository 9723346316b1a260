"""MUIRBench: multiple choice as `mcq`, with MUIRBench's own dataset prompt and image placement.

`MUIRDataset` (vlmeval/dataset/image_mcq.py at e8e78f05: build_prompt 706-741, split_MUIR
677-704; the same in ms-vlmeval 0.0.20) writes the question, a newline, the options as `K. text`
lines (no header), then "Answer with the option's letter from the given choices directly.", and
then splits the text at each `<image>`: the k-th tag is replaced by the row's k-th image, tags past
the last image are dropped, images past the last tag are never sent (a question without tags goes
out as text only), empty text pieces are left out. Evaluation is `ImageMCQDataset`'s: not
circular, report_acc, the MCQ judge. InternVL2 and Qwen2-VL use their own MCQ prompts (images
first), as for any MCQ benchmark.
"""

from __future__ import annotations

from typing import ClassVar, Final

from fasteval.kinds.mcq import McqKind
from fasteval.types import BenchmarkSpec, ImagePart, Part, Prompt, Sample, TextPart

MUIR_TAIL: Final = "\nAnswer with the option's letter from the given choices directly."
IMAGE_TAG: Final = "<image>"


def dataset_text(sample: Sample) -> str:
    """`MUIRDataset.build_prompt`'s text before the split."""
    text = f"{sample.question}\n"
    if sample.options:
        text += "\n".join(f"{k}. {v}" for k, v in sample.options.items()) + MUIR_TAIL
    return text


def split_muir(text: str, sample: Sample) -> tuple[Part, ...]:
    """`split_MUIR`: image k at the k-th `<image>`, in order; nothing for tags past the images."""
    parts: list[Part] = []
    for i, piece in enumerate(text.split(IMAGE_TAG)):
        if 0 < i <= len(sample.images):
            parts.append(ImagePart(sample.images[i - 1]))
        if piece:
            parts.append(TextPart(piece))
    return tuple(parts)


class MuirKind(McqKind):
    name: ClassVar[str] = "mcq_muir"

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        return dataset_text(sample) if style == "default" else super().prompt_text(spec, sample, style)

    def message(self, spec: BenchmarkSpec, sample: Sample, style: str, rules: str) -> Prompt | None:
        """The dataset prompt places the images itself (`split_MUIR`); model styles put them first."""
        return Prompt(parts=split_muir(dataset_text(sample), sample)) if style == "default" else None
