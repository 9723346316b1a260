"""Where the public conformance kit lives, for tests that compare against VLMEvalKit's own outputs.

Looked up in order: `tests/data/conformance` (a copy inside the repository), `<repo>/../shared/
conformance` (the team checkout layout), then `$FASTEVAL_SHARED/conformance` (FASTEVAL_SHARED
points at the shared folder). Each may hold the cases directly or under `public/`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The kit's folders and the rule set of the VLMEvalKit version that produced each.
VERSIONS = {
    "expected": "vlmevalkit-2025.08",  # ms-vlmeval 0.0.20 = upstream 354a485c
    "alt_upstream_e8e78f05": "vlmevalkit-2026.06",  # upstream HEAD, adds the "answer is X" regex
    "alt_nvidia_vlmeval_26.3": "vlmevalkit-2024.07",  # older can_infer, official VQA period regex,
    # ChartQA's swapped relaxed_correctness arguments
}


def _candidates() -> list[Path]:
    out = [REPO / "tests" / "data" / "conformance", REPO.parent / "shared" / "conformance"]
    env = os.environ.get("FASTEVAL_SHARED")
    if env:
        out.append(Path(env) / "conformance")
    return out


def find_kit() -> Path | None:
    """The folder holding the kit's case folders (`TextVQA_VAL/`, `LMUData/`, ...), or None."""
    for base in _candidates():
        for folder in (base / "public", base):
            if (folder / "LMUData").is_dir() or (folder / "manifest.json").is_file():
                return folder
    return None
