"""BLINK: multiple choice as `mcq`, with BLINK's own answer-matching prompt for the judge.

`extract_answer_from_item` picks `build_prompt_blink` when the dataset is BLINK
(vlmeval/dataset/utils/multiple_choice.py:364-365 at e8e78f05, the same in ms-vlmeval 0.0.20;
the template is 271-302): a four-example prompt whose options line ends in `(Z) Failed`, used
whatever the question's language. Everything else (prompt, exact matching, the 3 tries, the
fallback, the score table) is the `mcq` kind's.
"""

from __future__ import annotations

from typing import ClassVar, Final

from fasteval.kinds.base import Item
from fasteval.kinds.mcq import McqKind, option_str

# build_prompt_blink's template, verbatim (the missing space after "output Z." and "pspoonot"
# included).
JUDGE_BLINK: Final = (
    "You are an AI assistant who will help me to match an answer with several options of a "
    "single-choice question. "
    "You are provided with a question, several options, and an answer, "
    "and you need to find which option is most similar to the answer. "
    "If the answer says things like refuse to answer, I'm sorry cannot help, etc., output Z."
    "If the meaning of all options are significantly different from the answer, "
    "or the answer does not select any option, output Z. "
    "Your should output one of the choices, A, B, C, D (if they are valid options), or Z.\n"
    "Example 1: \n"
    "Question: Which point is closer to the camera?\nSelect from the following choices.\n"
    "Options: A. Point A\nB. Point B\n(Z) Failed\n"
    "Answer: Point B, where the child is sitting, is closer to the camera.\nYour output: (B)\n"
    "Example 2: \n"
    "Question: Which point is closer to the camera?\nSelect from the following choices.\n"
    "Options: (A) Point A\n(B) Point B\n(Z) Failed\n"
    "Answer: I'm sorry, but I can't assist with that request.\nYour output: (Z)\n"
    "Example 3: \n"
    "Question: Which point is corresponding to the reference point?\nSelect from the following choices.\n"
    "Options: (A) Point A\n(B) Point B\n(Z) Failed\n"
    "Answer:The reference point (REF) on the first image is at the tip of the pot, "
    "which is the part used to Poke if the pots were used for that action. Looking at the second image, "
    "we need to find the part of the object that would correspond to poking.\n"
    "(A) Point A is at the tip of the spoon's handle, which is not used for poking.\n"
    "(B) Point B is at the bottom of the spoon, which is not used for poking.\n"
    "(C) Point C is on the side of the pspoonot, which is not used for poking.\n"
    "(D) Point D is at the tip of the spoon, which is not used for poking.\n"
    "\nTherefore, there is no correct answer in the choices\nYour output: (Z)\n"
    "Example 4: \n"
    "Question: {}?\nOptions: {}\n(Z) Failed\nAnswer: {}\nYour output: "
)


def judge_prompt(question: str, options: str, prediction: str) -> str:
    """`build_prompt_blink(question, option_str, prediction)` (prediction stripped, as `mcq`'s)."""
    return JUDGE_BLINK.format(question, options, prediction.strip())


class BlinkKind(McqKind):
    name: ClassVar[str] = "mcq_blink"

    def judge_prompt(self, item: Item) -> str:
        return judge_prompt(item.question, option_str(item.choices), item.prediction)
