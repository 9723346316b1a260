"""Answer extraction: turn a model's free text into 'Yes'/'No'/'Unknown' or an option letter.

VLMEvalKit's exact matcher changed twice, and each change moves published numbers, so every
generation is a named rule set that reproduces its era bit for bit:

* `vlmevalkit-2024.07`: `can_infer` as of db0b6486 (reproduces the 2024 leaderboard files).
* `vlmevalkit-2025.08`: adds the last-4-tokens rule for letters and the length cap for option
  text (PR #1175); ms-vlmeval 0.0.20.
* `vlmevalkit-2026.06`: adds the "answer is X" regex (PR #1552); upstream HEAD e8e78f05.
* `official`: the benchmark's own scorer where one exists (MME calculation.py, POPE, MMStar, SEED);
  VLMEvalKit's newest rules where VLMEvalKit itself is the official scorer (MMBench).

Y/N extraction (`YOrN_Extraction`) is the same in every VLMEvalKit era.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from fasteval.errors import FastevalError
from fasteval.types import OPTION_LETTERS

RULES_2024: Final = "vlmevalkit-2024.07"
RULES_2025: Final = "vlmevalkit-2025.08"
RULES_2026: Final = "vlmevalkit-2026.06"
OFFICIAL: Final = "official"
DEFAULT_RULES: Final = RULES_2026
RULE_SETS: tuple[str, ...] = (RULES_2024, RULES_2025, RULES_2026, OFFICIAL)

YES, NO, UNKNOWN = "Yes", "No", "Unknown"
REFUSED = "Z"  # VLMEvalKit's letter for "no option": refusals, and unresolved rows under exact matching

FAILED_API = "Failed to obtain answer via API"
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_OPTION_PUNCT = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")

# process_punctuation (VQA eval, vlmeval/smp/misc.py): the regexes are reproduced with their quirks.
_PUNCT = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_PERIOD_LOOKBEHIND = re.compile(r"(?<!\d)\.(?!\d)")  # misc.py from 928a95b0 (2025-05): after a digit, kept
_PERIOD_TYPO = re.compile(r"(?!<=\d)(\.)(?!\d)")  # the official VQA eval's typo: no look-behind at all
_PERIOD_COUNT = int(re.UNICODE)  # upstream passes re.UNICODE (=32) positionally as `count`


class UnknownRules(FastevalError):
    """A rule-set name that is not one of RULE_SETS."""


@dataclass(frozen=True, slots=True)
class McqMatcher:
    """The switches that distinguish VLMEvalKit's `can_infer` generations."""

    last_tokens_rule: bool  # a lone letter counts only among the last 4 tokens (2025.08+)
    length_cap: bool  # option-text matching skipped for answers > 2x the options' length (2025.08+)
    answer_is_regex: bool  # "(correct) answer is X" rescues an unresolved letter (2026.06+)


MATCHERS: Mapping[str, McqMatcher] = {
    RULES_2024: McqMatcher(last_tokens_rule=False, length_cap=False, answer_is_regex=False),
    RULES_2025: McqMatcher(last_tokens_rule=True, length_cap=True, answer_is_regex=False),
    RULES_2026: McqMatcher(last_tokens_rule=True, length_cap=True, answer_is_regex=True),
}


def check_rules(rules: str) -> str:
    """Return `rules` if it names a rule set, else raise a one-line error listing them."""
    if rules not in RULE_SETS:
        raise UnknownRules(f"unknown rule set {rules!r}; use one of {', '.join(RULE_SETS)}")
    return rules


def effective_rules(rules: str, official_rule: str | None) -> str:
    """The rule set that actually applies: 'official:<rule>' or a VLMEvalKit generation.

    Under `official`, a benchmark without its own scorer (MMBench: its README says "use
    VLMEvalKit") is scored with VLMEvalKit's newest rules.
    """
    check_rules(rules)
    if rules != OFFICIAL:
        return rules
    return f"{OFFICIAL}:{official_rule}" if official_rule else DEFAULT_RULES


# ---------------------------------------------------------------------------------------------
# Yes / No
# ---------------------------------------------------------------------------------------------


def process_punctuation(text: str, rules: str = DEFAULT_RULES) -> str:
    """VLMEvalKit's `process_punctuation` (Y/N extraction and VQA normalisation), with its quirks.

    A punctuation mark is deleted (not spaced) when it touches a space anywhere, or when the text
    has a `digit,digit` anywhere; then at most 32 periods are removed (`re.UNICODE` passed as the
    count): those with no digit after them, and from 2025 on, none right after a digit either
    (the 2024 generation has the official VQA eval's look-behind typo).
    """
    out = text
    comma_digits = _COMMA_STRIP.search(text) is not None
    for p in _PUNCT:
        if p + " " in text or " " + p in text or comma_digits:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    period = _PERIOD_TYPO if rules in (RULES_2024, OFFICIAL) else _PERIOD_LOOKBEHIND
    return period.sub("", out, _PERIOD_COUNT)


def yorn_vlmevalkit(prediction: str, rules: str = DEFAULT_RULES) -> str:
    """`YOrN_Extraction`: the words 'yes' xor 'no' after lowercasing and punctuation removal."""
    words = process_punctuation(prediction.lower(), rules).split()
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return YES
    if has_no and not has_yes:
        return NO
    return UNKNOWN


def yorn_mme_official(prediction: str) -> str:
    """MME calculation.py `parse_pred_ans`: 'yes' then 'no' searched in the first 4 characters."""
    pred = prediction.lower()
    if pred in ("yes", "no"):
        return YES if pred == "yes" else NO
    head = pred[:4]
    if "yes" in head:
        return YES
    if "no" in head:
        return NO
    return UNKNOWN


def yorn_pope_official(prediction: str) -> str:
    """POPE evaluate.py: first sentence, commas dropped; 'No'/'no'/'not' as a word means No, else Yes."""
    text = prediction.split(".")[0] if "." in prediction else prediction
    words = text.replace(",", "").split(" ")
    return NO if ("No" in words or "not" in words or "no" in words) else YES


_YORN_OFFICIAL = {"mme": yorn_mme_official, "pope": yorn_pope_official}


def extract_yorn(prediction: str, rules: str = DEFAULT_RULES, *, official_rule: str | None = None) -> str:
    """'Yes', 'No' or 'Unknown' for one prediction (already `str()`-ed, so a missing one is 'nan')."""
    eff = effective_rules(rules, official_rule)
    if eff.startswith(OFFICIAL + ":"):
        rule = eff.split(":", 1)[1]
        if rule in _YORN_OFFICIAL:
            return _YORN_OFFICIAL[rule](prediction)
    return yorn_vlmevalkit(prediction, eff)


# ---------------------------------------------------------------------------------------------
# Multiple choice
# ---------------------------------------------------------------------------------------------


def can_infer_option(prediction: str, choices: Mapping[str, str], matcher: McqMatcher) -> str | None:
    """The option letter named in the prediction, 'Z' for a refusal, None when no letter decides."""
    if FAILED_API in prediction:
        return None
    if any(refusal in prediction for refusal in _REFUSALS):
        return REFUSED
    tokens = prediction.translate(_OPTION_PUNCT).split()
    present = [ch for ch in choices if ch in tokens]
    if len(present) == 1:
        letter = present[0]
        if not matcher.last_tokens_rule or tokens.index(letter) > len(tokens) - 5:
            return letter
    elif not present and "Z" in tokens:
        return REFUSED
    if matcher.answer_is_regex:
        m = _ANSWER_IS.search(
            prediction
        )  # case-insensitive: "the answer is b" names B (matching_util.py L57-59)
        if m and m.group(1).upper() in choices:
            return m.group(1).upper()
    return None


def can_infer_text(prediction: str, choices: Mapping[str, str], matcher: McqMatcher) -> str | None:
    """The one option whose text (case-insensitive) occurs in the prediction, else None."""
    pred = prediction.lower()
    if matcher.length_cap and len(pred) > 2 * sum(len(v) for v in choices.values()):
        return None
    hits = [k for k, v in choices.items() if v.lower() in pred]
    return hits[0] if len(hits) == 1 else None


def mcq_mmstar_official(prediction: str, choices: Mapping[str, str]) -> str:
    """MMStar's own rule, read as an extraction: the option named by the first character, by the
    character after '(' or 'option ' or 'the answer is '; 'Z' when none names an option. MMStar's
    submissions embed options in the question, so without option columns the letters are A-D."""
    pred = prediction.lower().strip()
    candidates = [pred[:1]]
    if pred[:1] == "(":
        candidates.append(pred[1:2])
    if pred[:7] == "option ":
        candidates.append(pred[7:8])
    if pred[:14] == "the answer is ":
        candidates.append(pred[14:15])
    by_lower = {k.lower(): k for k in (choices or "ABCD")}
    for c in candidates:
        if c and c in by_lower:
            return by_lower[c]
    return REFUSED


def mcq_seed_official(prediction: str, choices: Mapping[str, str]) -> str:
    """The letter rule behind SEED-Bench's published generation numbers (LLaVA's converter): the
    prediction must equal the answer letter exactly, so only a bare uppercase letter counts (even
    one whose option text pandas read as NA)."""
    return prediction if len(prediction) == 1 and prediction in OPTION_LETTERS else REFUSED


_MCQ_OFFICIAL = {"mmstar": mcq_mmstar_official, "seed": mcq_seed_official}


def extract_mcq(
    prediction: str,
    choices: Mapping[str, str],
    rules: str = DEFAULT_RULES,
    *,
    official_rule: str | None = None,
) -> str | None:
    """An option letter or 'Z', or None when exact matching cannot decide (a judge may; else 'Z').

    `choices` maps the row's present option letters to their text, as VLMEvalKit builds them
    (`str()` of the pandas value; NA options are absent).
    """
    eff = effective_rules(rules, official_rule)
    if eff.startswith(OFFICIAL + ":"):
        rule = eff.split(":", 1)[1]
        if rule in _MCQ_OFFICIAL:
            return _MCQ_OFFICIAL[rule](prediction, choices)
        eff = DEFAULT_RULES
    matcher = MATCHERS[eff]
    letter = can_infer_option(prediction, choices, matcher)
    if letter is not None:
        return letter
    return can_infer_text(prediction, choices, matcher)
