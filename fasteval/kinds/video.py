"""What the video kinds share: VLMEvalKit's message list, and the two ways a model receives it.

A VLMEvalKit video dataset's `build_prompt(line, video_llm=False)` returns a list of elements: text
(some with a role, `system` or `assistant`) and the sampled frames as images, in an order of its own.
The kinds (`videomme`, `mvbench`, `mmbench_video`) build that list as `Msg`s; this module turns it
into the request for a prompt style:

* `default`: VLMEvalKit's API path, which is how it sends video to a served model
  (`BaseAPI.preprocess_message_with_role`, vlmeval/api/base.py L200-218 in ms-vlmeval 0.0.20;
  `OpenAIWrapper.prepare_itlist`, vlmeval/api/gpt.py L215-241 upstream e8e78f05). `api_prompt`.
* `internvl2`: VLMEvalKit's InternVL chat path (`InternVLChat.generate_v2`: `reorganize_prompt` +
  `build_video_prompt`, vlmeval/vlm/internvl/utils.py L185-240 in 0.0.20), the path behind InternVL2's
  published numbers. `internvl2_prompt`.
* `qwen2vl`: Qwen2-VL is a video LLM in VLMEvalKit (its own sampling, `video_llm=True`); sent as frames
  it gets the dataset's message, as `default`.

What a video `Sample` carries (built by the data layer, fasteval.data.video):

* `images`: the sampled frames, in time order (VLMEvalKit's `frame-{i}-of-{n}.jpg`, i = 1..n);
* `question`: the TSV's `question`;
* `meta["candidates"]`: the TSV's `candidates` cell, a Python list literal (Video-MME, MVBench);
* `meta["subtitles"]`: the subtitle lines selected for the sampled frames (Video-MME `_subs` presets,
  `videomme.py` L197-215), or None when the preset has none.
"""

from __future__ import annotations

import ast
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from fasteval.data.tabular import NA_STRINGS
from fasteval.kinds.base import Item, JudgeContext, PromptError, Reply, TaskKind, Verdict
from fasteval.kinds.extract import DEFAULT_RULES, RULES_2024, extract_mcq
from fasteval.kinds.mcq import JUDGE_CN, JUDGE_EN, has_cjk, option_str
from fasteval.types import BenchmarkSpec, ImagePart, Method, Part, Prompt, Sample, TextPart

Role = Literal["system", "assistant"]


@dataclass(frozen=True, slots=True)
class Msg:
    """One element of the list a VLMEvalKit video dataset's `build_prompt` returns: a text, or the
    frame at position `frame` of `sample.images`; `role` where the dataset sets one."""

    text: str | None = None
    frame: int | None = None
    role: Role | None = None

    @classmethod
    def image(cls, frame: int) -> Msg:
        return cls(frame=frame)


def frames(sample: Sample) -> list[Msg]:
    """One image element per sampled frame, in order."""
    return [Msg.image(i) for i in range(len(sample.images))]


def candidates(sample: Sample) -> list[str]:
    """The TSV's `candidates` list literal (VLMEvalKit `eval`s it; a literal is all it ever holds)."""
    raw = sample.meta.get("candidates")
    if raw is None:
        raise PromptError(
            f"{sample.dataset} row {sample.index} has no `candidates`; use the dataset's own TSV"
        )
    return parse_candidates(str(raw), f"{sample.dataset} row {sample.index}")


def parse_candidates(raw: str, where: str) -> list[str]:
    """A `candidates` cell as the list of strings VLMEvalKit's `eval` gives."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise PromptError(
            f"{where}: `candidates` {raw[:60]!r} is not a Python list literal; fix the TSV"
        ) from None
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise PromptError(f"{where}: `candidates` must be a list of strings, got {raw[:60]!r}")
    return list(value)


# ---------------------------------------------------------------------------------------------
# default: VLMEvalKit's API path
# ---------------------------------------------------------------------------------------------


def api_prompt(msgs: Sequence[Msg], sample: Sample, rules: str) -> Prompt:
    """The request `OpenAIWrapper` sends for `msgs`.

    * Texts with role `system` are moved into the system prompt, each followed by `'\\n'`
      (`preprocess_message_with_role`); every other role is dropped, so MVBench's assistant-role
      `Best option:(` becomes a user text part.
    * With images: text and image parts in order; empty texts are skipped (Video-MME's `SYS = ''`)
      from vlmevalkit-2025.08 on (`prepare_itlist`, gpt.py "Skip empty string"); nvidia-vlmeval 26.3
      (vlmevalkit-2024.07) sends them.
    * Without images (an fps row shorter than one sampling step): all texts joined by `'\\n'` into one
      (0.0.20 sends it as a plain string content, the same text).

    Not reproduced: vlmevalkit-2024.07 appends the system text to the wrapper's system prompt on every
    call (api/base.py L224-228 in 26.3), so it grows with each row a wrapper has seen; here every
    request carries it once, as the later generations send it.
    """
    system = "".join(f"{m.text}\n" for m in msgs if m.role == "system" and m.text is not None)
    rest = [m for m in msgs if m.role != "system"]
    parts: list[Part] = []
    if any(m.frame is not None for m in rest):
        for m in rest:
            if m.frame is not None:
                parts.append(ImagePart(sample.images[m.frame]))
            elif m.text is not None and (m.text or rules == RULES_2024):
                parts.append(TextPart(m.text))
    else:
        parts.append(TextPart("\n".join(m.text or "" for m in rest)))
    return Prompt(parts=tuple(parts), system=system or None)


# ---------------------------------------------------------------------------------------------
# internvl2: VLMEvalKit's InternVL chat path
# ---------------------------------------------------------------------------------------------

FRAME_MARKER = "<image>"


def internvl2_text(msgs: Sequence[Msg], edit: Callable[[str], str]) -> str:
    """`reorganize_prompt` then `build_video_prompt` (roles ignored, texts concatenated):

    * one image: `'<image>\\n'` + the texts joined by `'\\n'`;
    * otherwise: the texts concatenated with a `<Image-k>` marker per image, prefixed with one
      `Image-k: <image>\\n` line per image, the run of markers `<Image-1>...<Image-N>` removed, then
      every `Image-k` renamed `Frame-k` (`build_video_prompt`; its 8-marker blocks are gone already
      when the frames are contiguous, as they are in every video message);
    * `edit`: the dataset's own change (`build_video_prompt`, selected by the dataset name).
    """
    n = sum(m.frame is not None for m in msgs)
    if n == 1:
        prompt = "<image>\n" + "\n".join(m.text for m in msgs if m.text is not None)
    else:
        body, k = "", 0
        for m in msgs:
            if m.frame is not None:
                k += 1
                body += f"<Image-{k}>"
            else:
                body += m.text or ""
        prompt = "".join(f"Image-{i + 1}: <image>\n" for i in range(n)) + body
        prompt = prompt.replace("".join(f"<Image-{i + 1}>" for i in range(n)), "")
        for start in range(0, 64, 8):  # build_video_prompt, max_frames=64
            prompt = prompt.replace("".join(f"<Image-{i}>" for i in range(start + 1, start + 9)), "")
        for i in range(64):
            prompt = prompt.replace(f"Image-{i + 1}", f"Frame-{i + 1}")
    return edit(prompt)


def internvl2_prompt(msgs: Sequence[Msg], sample: Sample, edit: Callable[[str], str]) -> Prompt:
    """The frames as an image list in prompt order, then InternVL's text, whose `<image>` markers say
    where each goes (an OpenAI-compatible server fills the `<image>` placeholders already in the text
    in order, and adds none of its own when their count equals the image count)."""
    images: tuple[Part, ...] = tuple(ImagePart(sample.images[m.frame]) for m in msgs if m.frame is not None)
    return Prompt(parts=(*images, TextPart(internvl2_text(msgs, edit))))


# ---------------------------------------------------------------------------------------------
# The video kind
# ---------------------------------------------------------------------------------------------


class VideoKind(TaskKind):
    """A kind whose message is a VLMEvalKit video `build_prompt` list (text around the frames)."""

    needs_dataset: ClassVar[bool] = False  # VLMEvalKit scores from the prediction file's own columns
    score_suffix: ClassVar[str] = "score"  # `{model}_{dataset}_score.csv`: the per-row scores (`_score.xlsx`)

    @abstractmethod
    def messages(self, spec: BenchmarkSpec, sample: Sample, rules: str) -> list[Msg]:
        """The dataset's `build_prompt(line, video_llm=False)` under the rule generation `rules`."""

    @abstractmethod
    def internvl2_edit(self, prompt: str) -> str:
        """`build_video_prompt`'s change for this dataset."""

    def message(self, spec: BenchmarkSpec, sample: Sample, style: str, rules: str) -> Prompt:
        msgs = self.messages(spec, sample, rules)
        if style == "internvl2":
            return internvl2_prompt(msgs, sample, self.internvl2_edit)
        return api_prompt(msgs, sample, rules)

    def prompt_text(self, spec: BenchmarkSpec, sample: Sample, style: str) -> str:
        """The message's texts, concatenated (the message itself is `message`)."""
        prompt = self.message(spec, sample, style, DEFAULT_RULES)
        return "".join(p.text for p in prompt.parts if isinstance(p, TextPart))

    def json_score_file(self, model: str, spec: BenchmarkSpec) -> str:
        return f"{model}_{spec.name}_rating.json"

    def live_item(self, spec: BenchmarkSpec, sample: Sample, prediction: str) -> Item:
        """The row as `item` reads it from the prediction file: the TSV's columns, which a video
        sample keeps in `meta` (candidates, task type, ...), with the prediction."""
        row = {**sample.meta, "index": sample.index, "question": sample.question, "answer": sample.answer}
        return self.item(spec, {**row, "prediction": prediction})


# ---------------------------------------------------------------------------------------------
# The MCQ answer matcher as the video datasets call it
# ---------------------------------------------------------------------------------------------

MCQ_TRIES = 3  # extract_answer_from_item: retry = 3 (multiple_choice.py L374 in 0.0.20)


def mcq_judge_prompt(question: str, choices: Mapping[str, str], prediction: str) -> str:
    """`extract_answer_from_item`'s prompt: Chinese for a CJK question; the prediction as the row
    holds it (the video datasets do not strip it)."""
    template = JUDGE_CN if has_cjk(question) else JUDGE_EN
    return template.format(question, option_str(choices), prediction)


async def ask_option(
    ctx: JudgeContext, key: str, question: str, choices: Mapping[str, str], prediction: str
) -> Verdict:
    """`extract_answer_from_item` after `can_infer` failed: up to 3 calls at temperature 0, each
    reply read by the rule set's `can_infer`; then a random pick among the options and Z
    (`rd.choice`, seeded by row here; `--judge-unparsed z`: Z)."""
    prompt = mcq_judge_prompt(question, choices, prediction)
    last: Reply | None = None
    for attempt in range(MCQ_TRIES):
        reply = await ctx.ask(key, prompt, 0.0, attempt)
        if last is None or reply.ok or not last.ok:
            last = reply
        if reply.ok and reply.text is not None:
            letter = extract_mcq(reply.text, choices, ctx.rules)
            if letter:
                return Verdict.from_reply(letter, Method.JUDGE, reply, attempt + 1)
    options = [*choices, "Z"] if "Z" not in choices else list(choices)
    pick = "Z" if ctx.unparsed == "z" else ctx.seeded_choice(key, options)
    return Verdict.from_reply(pick, Method.FALLBACK, last, MCQ_TRIES)


def is_missing(prediction: str) -> bool:
    """VLMEvalKit's `pd.isna(prediction)`: the cell was empty or NA-like text when its prediction file
    was read back (a prediction file's NA cells reach the kinds as `str(NaN)`, 'nan'; a stored reply
    is checked as pandas would read it)."""
    return prediction in NA_STRINGS
