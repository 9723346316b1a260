"""Third-party reference outputs (tests/data/refdata) reproduced from their prediction files.

VLMEvalKit's own 2024 run files (VILA) must come out identical under `vlmevalkit-2024.07`, and the
published numbers of the official scorers under `official`. Expected values are read from the
reference files themselves (the VLMEvalKit CSVs and EXPECTED_SCORES.json). The MME official tool's
files and the MMStar submission example state no licence, so they are not in the repository: those
tests read shared/refdata and are the declared skips without it (tests/fixtures.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from fasteval.catalog import get_spec
from fasteval.data.tabular import read_table
from fasteval.report.files import headline
from fasteval.scoring.evaluate import score_predictions
from tests.conformance_kit import score_prediction_file
from tests.fixtures import needs_unlicensed_refdata, refdata, unlicensed_refdata


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(refdata("EXPECTED_SCORES.json").read_text())


@pytest.fixture(scope="module")
def unlicensed_expected() -> dict:
    """shared/refdata's full EXPECTED_SCORES.json: the entries for files the repository may not hold."""
    return json.loads(unlicensed_refdata("EXPECTED_SCORES.json").read_text())


def _pick(expected: dict, bench: str, prefix: str) -> dict:
    return next(v for k, v in expected[bench].items() if k.startswith(prefix))


VILA_DATASETS = {
    "MME": None,
    "POPE": None,
    "MMStar": "MMStar_vlmevalkit_noimage.tsv",
    "SEEDBench_IMG": "SEEDBench_IMG_vlmevalkit_noimage.tsv",
}


@pytest.mark.parametrize("model", ["vila_8b", "vila_13b"])
@pytest.mark.parametrize("name", list(VILA_DATASETS))
def test_vila_vlmevalkit_2024_files_are_reproduced(model: str, name: str, tmp_path: Path) -> None:
    folder = f"vlmevalkit_vila/{model}"
    spec = get_spec(name)
    dataset_file = VILA_DATASETS[name]
    predictions = refdata(f"{folder}/{model}_{name}.xlsx")
    dataset = refdata(f"benchmark_qa_noimages/{dataset_file}") if dataset_file else predictions
    _, paths = score_prediction_file(
        spec,
        dataset,
        predictions,
        model=model,
        work_dir=tmp_path,
        rules="vlmevalkit-2024.07",
    )
    suffix = "score" if spec.kind == "yorn" else "acc"
    reference = read_table(refdata(f"{folder}/{model}_{name}_{suffix}.csv"))
    mine = read_table(paths["score"])
    assert mine.columns == reference.columns
    key = "split" if "split" in reference.columns else None
    if key:
        reference, mine = reference.sort(key), mine.sort(key)
    for col in reference.columns:
        if col == key:
            assert mine[col].to_list() == reference[col].to_list()
        else:
            assert mine[col].to_list() == pytest.approx(reference[col].to_list(), abs=1e-9), col


@needs_unlicensed_refdata
def test_mme_official_lavin(unlicensed_expected: dict) -> None:
    want = _pick(unlicensed_expected, "MME", "LaVIN")["official_calculation_py"]
    preds = read_table(unlicensed_refdata("mme/LaVIN_MME_vlmevalkit_layout.tsv"))
    scored = score_predictions(get_spec("MME"), preds, rules="official")
    assert scored.effective_rules == "official:mme"
    assert scored.result.headline["perception"] == pytest.approx(want["perception"], abs=1e-9)
    assert scored.result.headline["reasoning"] == pytest.approx(want["cognition"], abs=1e-9)
    for task, value in want["subtasks"].items():
        assert scored.result.table[task][0] == pytest.approx(value, abs=1e-9), task


@needs_unlicensed_refdata
def test_mme_vlmevalkit_lavin_differs_only_by_unknowns(unlicensed_expected: dict) -> None:
    want = _pick(unlicensed_expected, "MME", "LaVIN")["vlmevalkit_word_rule_exact_matching"]
    preds = read_table(unlicensed_refdata("mme/LaVIN_MME_vlmevalkit_layout.tsv"))
    scored = score_predictions(get_spec("MME"), preds, rules="vlmevalkit-2024.07")
    assert scored.result.headline["reasoning"] == pytest.approx(want["cognition"], abs=1e-9)
    assert scored.n_unresolved == want["unknown_count"]


def _official_format_frame(folder: Path) -> pl.DataFrame:
    """MME's official 4-column txt files as a VLMEvalKit-layout frame (responses kept verbatim)."""
    cols: dict[str, list] = {"index": [], "category": [], "image_path": [], "answer": [], "prediction": []}
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            image, _question, gt, response = line.split("\t")
            cols["index"].append(len(cols["index"]))
            cols["category"].append(path.stem)
            cols["image_path"].append(f"{path.stem}/{image}")
            cols["answer"].append(gt)
            cols["prediction"].append(response)
    return pl.DataFrame(cols)


@needs_unlicensed_refdata
def test_mme_official_llava_13b(unlicensed_expected: dict) -> None:
    """The official-format files take their ground truth from the MME tool's files: unlicensed."""
    want = _pick(unlicensed_expected, "MME", "LLaVA-1.5-13B")["official_calculation_py"]
    preds = _official_format_frame(unlicensed_refdata("mme/llava_v1.5_13b_official_format"))
    scored = score_predictions(get_spec("MME"), preds, rules="official")
    assert scored.result.headline["perception"] == pytest.approx(want["perception"], abs=1e-9)
    assert scored.result.headline["reasoning"] == pytest.approx(want["cognition"], abs=1e-9)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_pope_official_llava_13b_mean_f1(expected: dict) -> None:
    want = _pick(expected, "POPE", "LLaVA-1.5-13B")
    questions = _jsonl(refdata("llava_v1.5_13b_eval/pope/llava_pope_test.jsonl"))
    answers = {
        a["question_id"]: a["text"]
        for a in _jsonl(refdata("llava_v1.5_13b_eval/pope/answers/llava-v1.5-13b.jsonl"))
    }
    labels = {
        split: [
            q["label"] for q in _jsonl(refdata(f"pope/pope_repo_e3e3926_llava_era/coco_pope_{split}.json"))
        ]
        for split in ("adversarial", "popular", "random")
    }
    seen = dict.fromkeys(labels, 0)
    gts = []
    for q in questions:  # LLaVA aligns answers to labels by order within each split
        gts.append("Yes" if labels[q["category"]][seen[q["category"]]] == "yes" else "No")
        seen[q["category"]] += 1
    preds = pl.DataFrame(
        {
            "index": list(range(len(questions))),
            "category": [q["category"] for q in questions],
            "answer": gts,
            "prediction": [answers[q["question_id"]] for q in questions],
        }
    )
    scored = score_predictions(get_spec("POPE"), preds, rules="official")
    assert scored.result.headline["F1_mean"] == pytest.approx(want["mean_F1_over_splits"], abs=1e-3)
    for split, numbers in want["official_rule_per_split"].items():
        assert scored.result.headline[f"F1_{split}"] == pytest.approx(numbers["F1"], abs=1e-3)


@needs_unlicensed_refdata
def test_mmstar_official_llava_next_yi_34b(unlicensed_expected: dict) -> None:
    want = _pick(unlicensed_expected, "MMStar", "LLaVA-Next-Yi-34B")["official_first_char_rule"]
    preds = read_table(unlicensed_refdata("mmstar/llava_next_yi_34b_MMStar.xlsx"))
    scored = score_predictions(get_spec("MMStar"), preds, dataset=preds.drop("prediction"), rules="official")
    assert scored.result.headline["Overall"] == pytest.approx(want, abs=1e-9)


def test_seed_official_llava_13b_micro_average(expected: dict) -> None:
    want = _pick(expected, "SEEDBench_IMG", "LLaVA-1.5-13B")[
        "image_accuracy_14233_rows_incl_duplicate_qid_49914"
    ]
    preds = read_table(refdata("seedbench/llava_v1.5_13b_SEED_IMG_pred_with_gt.csv")).rename(
        {"question_id": "index"}
    )
    dataset = read_table(refdata("benchmark_qa_noimages/SEEDBench_IMG_vlmevalkit_noimage.tsv"))
    scored = score_predictions(
        get_spec("SEEDBench_IMG"), preds.drop("answer"), dataset=dataset, rules="official"
    )
    assert scored.result.headline["Overall"] == pytest.approx(want, abs=1e-9)


def test_mmbench_legacy_dev_circular_llava_13b(expected: dict, tmp_path: Path) -> None:
    want = _pick(expected, "MMBench", "LLaVA-1.5-13B")
    pred = refdata("llava_v1.5_13b_eval/mmbench/answers_upload/mmbench_dev_20230712/llava-v1.5-13b.xlsx")
    dataset = refdata("benchmark_qa_noimages/MMBench_dev_20230712_legacy_noimage_nohint.tsv")
    scored, _ = score_prediction_file(
        get_spec("MMBench_DEV_EN"), dataset, pred, model="llava", work_dir=tmp_path, rules="official"
    )
    summary = headline(scored)  # summary.json's `scores`
    assert summary["Overall"] == pytest.approx(want["circular_accuracy_exact_matching"], abs=1e-9)
    assert summary["n"] == want["circular_groups"]
