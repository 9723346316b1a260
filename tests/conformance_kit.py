"""The conformance kit's rule-set versions, and `find_kit()` for the tests written against it.

The kit itself is the repository's copy (tests/data/conformance, found by tests/fixtures.py): a
clone needs nothing beside it.
"""

from __future__ import annotations

from pathlib import Path

from tests.fixtures import conformance_dir

REPO = Path(__file__).resolve().parents[1]

# The kit's folders and the rule set of the VLMEvalKit version that produced each.
VERSIONS = {
    "expected": "vlmevalkit-2025.08",  # ms-vlmeval 0.0.20 = upstream 354a485c
    "alt_upstream_e8e78f05": "vlmevalkit-2026.06",  # upstream HEAD, adds the "answer is X" regex
    "alt_nvidia_vlmeval_26.3": "vlmevalkit-2024.07",  # older can_infer, official VQA period regex,
    # ChartQA's swapped relaxed_correctness arguments
}


def find_kit() -> Path | None:
    """The folder holding the kit's case folders (`TextVQA_VAL/`, `LMUData/`, ...)."""
    return conformance_dir()
