"""The conformance kit's folders and the rule set of the VLMEvalKit version that produced each.

The kit itself is the repository's copy (`tests.fixtures.conformance_dir()`): a clone needs
nothing beside it.
"""

from __future__ import annotations

# The kit's folders and the rule set of the VLMEvalKit version that produced each.
VERSIONS = {
    "expected": "vlmevalkit-2025.08",  # ms-vlmeval 0.0.20 = upstream 354a485c
    "alt_upstream_e8e78f05": "vlmevalkit-2026.06",  # upstream HEAD, adds the "answer is X" regex
    "alt_nvidia_vlmeval_26.3": "vlmevalkit-2024.07",  # older can_infer, official VQA period regex,
    # ChartQA's swapped relaxed_correctness arguments
}
