"""Open-answer VQA scorers: VQA accuracy (TextVQA), ANLS (DocVQA, InfoVQA), relaxed accuracy (ChartQA).

Everything follows VLMEvalKit's `ImageVQADataset.evaluate` and `dataset/utils/vqa_eval.py`
(`process_line`, `hit_calculate`, `process_answer`, `anls_compute`, `relaxed_correctness`)
operation for operation, quirks included (research/next_benchmarks.md §2.5-2.7, conformance
README §8.1-8.4):

* ground truth is the prediction file's `answer`, `str()`-ed; a string that evaluates to a Python
  list is the list of answers, anything else is one answer (the original string);
* per row VLMEvalKit keeps a `match` list (one value per answer) and the row's hit is derived
  from it per metric; means are numpy means (pairwise summation), so floats agree to the last bit;
* `_acc.csv` is one row: each `split` value then `Overall`, or `Overall` then sorted `category`
  values when there is no split, all x100. Split columns are sorted here (upstream: Python-set
  order, which depends on PYTHONHASHSEED).

Rule-set differences (`ScoreOptions.rules`):

* `vlmevalkit-2024.07` (nvidia-vlmeval 26.3): the official VQA period regex `(?!<=\\d)(\\.)(?!\\d)`
  (a typo with no working look-behind, so `2.` becomes `2`), and ChartQA's swapped
  `relaxed_correctness(prediction, target)` (b2b2c5a8, 2024-01-29 .. 677e30a5, 2025-09-01).
* `vlmevalkit-2025.08` / `-2026.06` (and `official`, which has no separate rule here): the real
  look-behind `(?<!\\d)\\.(?!\\d)` (a period after a digit is kept) and the fixed argument order.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import polars as pl

from fasteval.data.tabular import as_vlmeval_str
from fasteval.kinds.extract import RULES_2024, process_punctuation
from fasteval.scoring.base import ScoreOptions, ScoreResult, ScoringError, require_columns

ANLS_THRESHOLD = 0.5
RELAXED_MAX_CHANGE = 0.05


_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})
# `_process_digit_article`'s contraction map, verbatim (keys with capitals can never match: the
# words are lowercased first; kept for fidelity).
_CONTRACTIONS = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------

_META = ("split", "category")


def vqa_rows(predictions: pl.DataFrame) -> pl.DataFrame:
    """The rows the VQA-family scorers (and OCRBench) take, from a prediction file as read
    (`fasteval.data.tabular.read_table`): `index`, `prediction` and `answer` `str()`-ed as VLMEvalKit
    does (NA -> 'nan'), plus `split` / `category` when present."""
    require_columns(predictions, ("index", "prediction", "answer"), "VQA scoring")
    cols = [
        predictions["index"],
        pl.Series("prediction", [as_vlmeval_str(v) for v in predictions["prediction"].to_list()], pl.String),
        pl.Series("answer", [as_vlmeval_str(v) for v in predictions["answer"].to_list()], pl.String),
    ]
    for m in _META:
        if m in predictions.columns:
            values = [None if v is None else as_vlmeval_str(v) for v in predictions[m].to_list()]
            cols.append(pl.Series(m, values, pl.String))
    return pl.DataFrame(cols)


_ITEM = r"""(?:'[^'\\\n\r\x00]*'|"[^"\\\n\r\x00]*")"""
_SIMPLE_LIST = re.compile(rf"\[(?:[ \t]*{_ITEM}(?:[ \t]*,[ \t]*{_ITEM})*[ \t]*,?)?[ \t]*\]")
_QUOTED = re.compile(_ITEM)


def parse_answers(answer: str) -> list[object]:
    """`process_line`'s answer list: `eval(answer)` when that is a list (`istype(x, list)`), else
    `[answer]`. `ast.literal_eval` stands in for `eval`: `2015`, `Asia` (a NameError upstream) or
    `1e3` stay one answer, the original string. List items are returned as evaluated."""
    if _SIMPLE_LIST.fullmatch(answer):  # fast path: quoted items with no escapes, as repr() writes them
        return [item[1:-1] for item in _QUOTED.findall(answer)]
    try:
        value = ast.literal_eval(answer)
    except Exception:  # upstream: any exception means "not a list"
        return [answer]
    return list(value) if isinstance(value, list) else [answer]


def _str_answers(answers: Sequence[object], what: str) -> list[str]:
    for a in answers:
        if not isinstance(a, str):
            raise ScoringError(
                f"{what}: answer list item {a!r} is not a string (VLMEvalKit would fail on it); "
                "quote every answer in the list literal"
            )
    return [str(a) for a in answers]


# ---------------------------------------------------------------------------------------------
# VQA accuracy (TextVQA)
# ---------------------------------------------------------------------------------------------


def process_digit_article(text: str) -> str:
    """`_process_digit_article`: lowercase; number words -> digits; drop a/an/the; contractions."""
    words = [_NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in _ARTICLES]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


def process_answer(text: str, rules: str) -> str:
    """`process_answer`: newlines/tabs -> spaces, strip, punctuation, digits and articles."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text, rules))


def vqa_match(answers: Sequence[str], prediction: str) -> list[float]:
    """Per answer i: `min(1, #{j != i: answers[j] == prediction} / 3)` on normalised strings. The
    value is the int 1 when capped, as upstream's `min(1, float(k) / 3)` returns it."""
    total = sum(1 for a in answers if a == prediction)
    out: list[float] = []
    for a in answers:
        others = total - (1 if a == prediction else 0)
        out.append(min(1, float(others) / 3))
    return out


# ---------------------------------------------------------------------------------------------
# ANLS (DocVQA, InfoVQA)
# ---------------------------------------------------------------------------------------------


def levenshtein(s1: str, s2: str) -> int:
    """Edit distance (insert, delete, substitute: cost 1 each), upstream's two-row DP."""
    if len(s1) > len(s2):
        s1, s2 = s2, s1
    distances = list(range(len(s1) + 1))
    for i2, c2 in enumerate(s2):
        row = [i2 + 1]
        for i1, c1 in enumerate(s1):
            if c1 == c2:
                row.append(distances[i1])
            else:
                row.append(1 + min(distances[i1], distances[i1 + 1], row[-1]))
        distances = row
    return distances[-1]


def anls_distance(groundtruth: str, prediction: str) -> float:
    """`anls_compute`: the normalised Levenshtein distance NL of one answer (not the similarity).

    Both strings are stripped, lowercased and whitespace-collapsed for the distance, but the
    denominator is `max(len(gt.upper()), len(pred.upper()))` of the raw strings (Qwen-VL's code):
    padding a prediction with spaces enlarges it. Both lengths 0 gives 0.
    """
    gt = " ".join(groundtruth.strip().lower().split())
    det = " ".join(prediction.strip().lower().split())
    dist = levenshtein(gt, det)
    length = max(len(groundtruth.upper()), len(prediction.upper()))
    return 0.0 if length == 0 else float(dist) / float(length)


def anls_hit(match: Sequence[float], threshold: float = ANLS_THRESHOLD) -> float:
    """`hit_calculate` for ANLS: `1 - min(NL)`, zeroed only when strictly below the threshold
    (NL = 0.5 exactly keeps 0.5, unlike the official `NL < tau` rule)."""
    best = 1 - float(np.min(match))
    return 0.0 if best < threshold else best


# ---------------------------------------------------------------------------------------------
# Relaxed accuracy (ChartQA)
# ---------------------------------------------------------------------------------------------


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(
    target: str, prediction: str, max_relative_change: float = RELAXED_MAX_CHANGE
) -> bool:
    """pix2struct's `relaxed_correctness` as VLMEvalKit copies it: if the prediction is a number and
    the target a non-zero number, |p - t| / |t| <= 5% (inclusive); else case-insensitive equality.
    Numbers are Python `float()` after dropping trailing '%' (then /100)."""
    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def relaxed_match(answers: Sequence[str], prediction: str, rules: str) -> list[bool]:
    """One relaxed verdict per answer for the stripped prediction; under `vlmevalkit-2024.07` with
    the arguments swapped, as VLMEvalKit called it from 2024-01-29 to 2025-09-01 (the tolerance
    is then relative to the prediction, and the non-zero test applies to the prediction)."""
    if rules == RULES_2024:
        return [relaxed_correctness(prediction, a) for a in answers]
    return [relaxed_correctness(a, prediction) for a in answers]


# ---------------------------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------------------------


def _np_mean(values: Sequence[float]) -> float:
    """`np.mean` of a Python list, as upstream computes every average (pairwise summation)."""
    if not values:
        return float("nan")
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def vqa_table(rows: pl.DataFrame, hits: Sequence[float]) -> pl.DataFrame:
    """`ImageVQADataset.evaluate`'s `_acc.csv` row: split values (sorted; upstream set order), then
    `Overall`; without `split`, `Overall` then each sorted `category`. Means of hits x100."""
    result: dict[str, float] = {}
    if "split" in rows.columns:
        splits = rows["split"].cast(pl.String).to_list()
        for sp in sorted({s for s in splits if s is not None}):
            result[sp] = _np_mean([h for s, h in zip(splits, hits, strict=True) if s == sp]) * 100
        result["Overall"] = _np_mean(hits) * 100
    else:
        result["Overall"] = _np_mean(hits) * 100
        if "category" in rows.columns:
            cats = rows["category"].cast(pl.String).to_list()
            for c in sorted({c for c in cats if c is not None}):
                result[c] = _np_mean([h for k, h in zip(cats, hits, strict=True) if k == c]) * 100
    return pl.DataFrame({k: [v] for k, v in result.items()}, schema=dict.fromkeys(result, pl.Float64))


def _headline(table: pl.DataFrame) -> dict[str, float]:
    return {c: float(table[c][0]) for c in table.columns}


def _vqa_result(
    rows: pl.DataFrame,
    gts: list[str],
    preds: list[str],
    matches: Sequence[Sequence[float]],
    hits: list[float],
    eval_scores: Sequence[float] | None = None,
    binary: bool = False,
) -> ScoreResult:
    """Rows get VLMEvalKit's `_results.xlsx` columns (`eval_gt`, `eval_pred`, `eval_match` as the
    list's text, `eval_score` = mean of the match list, which for ANLS/relaxed is not the hit),
    `score` = the row's hit, and, for a right/wrong metric (`binary`), `hit` (0/1) as the other
    scorers have it; a graded metric (VQA accuracy, ANLS) has no `hit` column."""
    scored = rows.with_columns(
        pl.Series("eval_gt", gts, dtype=pl.String),
        pl.Series("eval_pred", preds, dtype=pl.String),
        pl.Series("eval_match", [str(list(m)) for m in matches], dtype=pl.String),
        pl.Series(
            "eval_score",
            [_np_mean([float(x) for x in m]) for m in matches] if eval_scores is None else eval_scores,
            dtype=pl.Float64,
        ),
        pl.Series("score", hits, dtype=pl.Float64),
    )
    if binary:
        scored = scored.with_columns(hit=pl.col("score").cast(pl.Int64))
    table = vqa_table(rows, hits)
    return ScoreResult(table=table, rows=scored, headline=_headline(table))


def _inputs(rows: pl.DataFrame, what: str) -> tuple[list[str], list[str]]:
    require_columns(rows, ("prediction", "answer"), what)
    preds = ["nan" if p is None else str(p) for p in rows["prediction"].to_list()]
    answers = ["nan" if a is None else str(a) for a in rows["answer"].to_list()]
    return preds, answers


def score_vqa_acc(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """TextVQA's VQA accuracy: every answer and the prediction through `process_answer`; the row is
    the mean over answers of `min(1, matches among the others / 3)`; Overall = mean x100."""
    preds, answers = _inputs(rows, "VQA accuracy scoring")
    norm: Callable[[str], str] = lru_cache(maxsize=None)(lambda s: process_answer(s, opts.rules))
    gts, eval_preds, matches, hits = [], [], [], []
    for pred, answer in zip(preds, answers, strict=True):
        gt = [norm(a) for a in _str_answers(parse_answers(answer), "VQA accuracy")]
        p = norm(pred)
        match = vqa_match(gt, p)
        gts.append(str(gt))
        eval_preds.append(p)
        matches.append(match)
        hits.append(_np_mean(match))
    return _vqa_result(rows, gts, eval_preds, matches, hits, eval_scores=hits)  # hit = mean(match) here


def score_anls(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """DocVQA / InfoVQA ANLS: per answer the normalised edit distance; the row is `1 - min`,
    0 when below 0.5; Overall (and the `val` split) = mean x100."""
    preds, answers = _inputs(rows, "ANLS scoring")
    gts, matches, hits = [], [], []
    for pred, answer in zip(preds, answers, strict=True):
        gt = _str_answers(parse_answers(answer), "ANLS")
        if not gt:
            raise ScoringError(f"ANLS: answer {answer!r} is an empty list; every row needs an answer")
        match = [anls_distance(a, pred) for a in gt]
        gts.append(str(gt))
        matches.append(match)
        hits.append(anls_hit(match))
    return _vqa_result(rows, gts, preds, matches, hits)


def score_relaxed_acc(rows: pl.DataFrame, opts: ScoreOptions) -> ScoreResult:
    """ChartQA relaxed accuracy: the prediction stripped (the answer not), 5% inclusive tolerance
    for numbers with a non-zero target, else case-insensitive equality; the row is the max over
    answers; per split and Overall = mean x100."""
    preds, answers = _inputs(rows, "relaxed accuracy scoring")
    gts, eval_preds, matches, hits = [], [], [], []
    for pred, answer in zip(preds, answers, strict=True):
        raw = parse_answers(answer)
        gt = [str(a) for a in raw]  # relaxed_correctness str()s both arguments
        if not gt:
            raise ScoringError(f"relaxed accuracy: answer {answer!r} is an empty list; every row needs one")
        p = pred.strip()
        match = relaxed_match(gt, p, opts.rules)
        gts.append(str(raw))
        eval_preds.append(p)
        matches.append(match)
        hits.append(1.0 if max(match) else 0.0)
    return _vqa_result(rows, gts, eval_preds, matches, hits, binary=True)
