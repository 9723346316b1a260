"""Prompts: VLMEvalKit's dataset templates and model prompt styles, byte for byte."""

from __future__ import annotations

import pytest

from fasteval.catalog import all_specs, get_spec
from fasteval.kinds.prompts import PROMPT_STYLES, PromptError, build_prompt
from fasteval.types import BenchmarkSpec, ImagePart, ImageRef, Prompt, Sample, TextPart

IMG = ImageRef("iVBORw0KGgo=", "image/png")
IMG2 = ImageRef("/9j/4AAQ", "image/jpeg")
# VLMEvalKit ImageMCQDataset.build_prompt's closing line (vlmeval/dataset/image_mcq.py), byte for byte: note
# the space before the newline. Every MCQ prompt test below ends with it.
MCQ_END = "Please select the correct answer from the options above. \n"


def _spec(name: str, kind: str, *, suffix: str = "") -> BenchmarkSpec:
    """The real benchmark's spec (its TOML declares the model-style suffixes), else a bare one."""
    if name in all_specs() and not suffix:
        return get_spec(name)
    return BenchmarkSpec(name=name, kind=kind, url=None, md5=None, scorer=kind, suffix=suffix)


def _sample(question: str, options: dict[str, str] | None = None, hint: str | None = None) -> Sample:
    return Sample("X", 0, question, (IMG,), options or {}, "A", hint)


def _text(prompt: Prompt) -> str:
    *images, text = prompt.parts
    assert all(isinstance(p, ImagePart) for p in images) and isinstance(text, TextPart)
    return text.text


MME_Q = "Is there a cow in this image? Please answer yes or no."
MMB = _sample("What will happen next?", {"A": "it breaks", "B": "it rains", "D": "it falls"})
MMB_HINT = _sample("Which is hotter?", {"A": "sun", "B": "moon"}, hint="Think about light.")


def test_yorn_default_is_the_bare_question_after_the_image() -> None:
    prompt = build_prompt(_spec("MME", "yorn"), _sample(MME_Q))
    assert prompt == Prompt(parts=(ImagePart(IMG), TextPart(MME_Q)))


def test_suffix_from_the_spec_is_appended() -> None:
    spec = _spec("AMBER", "yorn", suffix="\nPlease answer yes or no.")
    assert (
        _text(build_prompt(spec, _sample("Is there a dog?"))) == "Is there a dog?\nPlease answer yes or no."
    )


def test_mcq_default_without_hint_and_with_a_missing_option() -> None:
    text = _text(build_prompt(_spec("MMBench_DEV_EN", "mcq"), MMB))
    assert text == (
        "Question: What will happen next?\nOptions:\nA. it breaks\nB. it rains\nD. it falls\n" + MCQ_END
    )


def test_mcq_default_with_hint() -> None:
    text = _text(build_prompt(_spec("MMBench_DEV_EN", "mcq"), MMB_HINT))
    assert (
        text == "Hint: Think about light.\nQuestion: Which is hotter?\nOptions:\nA. sun\nB. moon\n" + MCQ_END
    )


def test_mcq_without_options_has_no_options_block() -> None:
    assert _text(build_prompt(_spec("X", "mcq"), _sample("Count them."))) == "Question: Count them.\n"


def test_all_images_come_first_in_dataset_order() -> None:
    sample = Sample("X", 0, "Same?", (IMG, IMG2), {}, "Yes")
    assert build_prompt(_spec("X", "yorn"), sample).parts == (
        ImagePart(IMG),
        ImagePart(IMG2),
        TextPart("Same?"),
    )


def test_internvl2_mcq_is_build_multi_choice_prompt() -> None:
    spec = _spec("MMBench_DEV_EN", "mcq")
    assert _text(build_prompt(spec, MMB_HINT, "internvl2")) == (
        "Think about light.\nWhich is hotter?\nA. sun\nB. moon\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert _text(build_prompt(spec, _sample("图中是什么？", {"A": "猫", "B": "狗"}), "internvl2")) == (
        "图中是什么？\nA. 猫\nB. 狗\n请直接回答选项字母。"
    )
    assert (
        _text(build_prompt(spec, _sample("How many?"), "internvl2"))
        == "How many?\nAnswer the question directly."
    )


def test_internvl2_suffix_depends_on_the_benchmark() -> None:
    assert _text(build_prompt(_spec("MME", "yorn"), _sample(MME_Q), "internvl2")) == (
        MME_Q + " Answer the question using a single word or phrase."
    )
    assert _text(build_prompt(_spec("HallusionBench", "yorn"), _sample("Is it red?"), "internvl2")) == (
        "Is it red? Please answer yes or no. Answer the question using a single word or phrase."
    )
    assert (
        _text(build_prompt(_spec("POPE", "yorn"), _sample("Is there a cat?"), "internvl2"))
        == "Is there a cat?"
    )


def test_qwen2vl_mcq_drops_the_trailing_space_and_newline() -> None:
    assert _text(build_prompt(_spec("MMBench_DEV_EN", "mcq"), MMB_HINT, "qwen2vl")) == (
        "Hint: Think about light.\nQuestion: Which is hotter?\nOptions:\nA. sun\nB. moon\n"
        "Please select the correct answer from the options above."
    )
    cn = _text(build_prompt(_spec("MMBench_DEV_CN", "mcq"), _sample("哪个？", {"A": "猫"}), "qwen2vl"))
    assert cn == "Question: 哪个？\nOptions:\nA. 猫\n请直接回答选项字母。"


def test_qwen2vl_yorn_adds_its_suffix_only_where_vlmevalkit_does() -> None:
    assert _text(build_prompt(_spec("POPE", "yorn"), _sample("Is there a cat?"), "qwen2vl")) == (
        "Is there a cat? Please answer yes or no."
    )
    assert _text(build_prompt(_spec("MME", "yorn"), _sample(MME_Q), "qwen2vl")) == MME_Q


def test_styles_are_listed_and_an_unknown_one_is_a_one_line_error() -> None:
    assert set(PROMPT_STYLES) == {"default", "internvl2", "qwen2vl"}
    with pytest.raises(
        PromptError, match="unknown prompt style 'llava'; use one of: default, internvl2, qwen2vl"
    ):
        build_prompt(_spec("MME", "yorn"), _sample(MME_Q), "llava")


# ---------------------------------------------------------------------------------------------
# Images placed at their tags (MMMU's split_MMMU)
# ---------------------------------------------------------------------------------------------


def _mmmu_sample(question: str, n_images: int) -> Sample:
    images = tuple(ImageRef(f"b64-{i}", "image/png") for i in range(1, n_images + 1))
    return Sample(dataset="M", index=7, question=question, images=images, options={}, answer="A")


def test_interleaved_benchmarks_place_each_image_at_its_tag_in_the_default_style() -> None:
    spec = BenchmarkSpec(name="M", kind="mcq", url=None, md5=None, scorer="mcq", interleave_images=True)
    sample = _mmmu_sample("Compare <image 2> with <image 1>. Which <image 2>?", 3)
    parts = build_prompt(spec, sample).parts
    kinds = [p.image.b64 if isinstance(p, ImagePart) else p.text for p in parts]
    assert kinds == [
        "Question: Compare ",
        "b64-2",
        " with ",
        "b64-1",
        ". Which ",
        "b64-2",  # named twice: sent twice; image 3 is never named, so never sent
        "?\n",
    ]
    internvl = build_prompt(spec, sample, "internvl2").parts  # model styles: images first, tags as text
    assert [type(p) for p in internvl] == [ImagePart, ImagePart, ImagePart, TextPart]
    assert "<image 2>" in internvl[-1].text  # type: ignore[union-attr]


def test_a_tag_naming_a_missing_image_is_one_line_naming_the_row() -> None:
    spec = BenchmarkSpec(name="M", kind="mcq", url=None, md5=None, scorer="mcq", interleave_images=True)
    with pytest.raises(PromptError, match=r"M row 7: the question names <image 3> but the row has 2"):
        build_prompt(spec, _mmmu_sample("See <image 3>", 2))
