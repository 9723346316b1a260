"""Answer kinds: what differs between benchmark answer types, one module per kind.

`KINDS` is the one table of kinds; a benchmark TOML names its kind and everything else (prompt
text per style, extraction, judge policy and prompt, ground-truth source, score-file name) comes
from that kind's module. Adding a kind is adding a module here and one line below.
"""

from __future__ import annotations

from collections.abc import Mapping

from fasteval.kinds.base import TaskKind
from fasteval.kinds.blink import BlinkKind
from fasteval.kinds.grounding import GroundingKind
from fasteval.kinds.llavabench import LLaVABenchKind
from fasteval.kinds.mathvista import MathVistaKind
from fasteval.kinds.mcq import McqKind
from fasteval.kinds.mmbench_video import MMBenchVideoKind
from fasteval.kinds.mme_realworld import MMERealWorldKind
from fasteval.kinds.mmmu import MmmuKind
from fasteval.kinds.mmvet import MMVetKind
from fasteval.kinds.muir import MuirKind
from fasteval.kinds.mvbench import MVBenchKind
from fasteval.kinds.videomme import VideoMMEKind
from fasteval.kinds.vqa import VqaKind
from fasteval.kinds.yorn import YornKind

KINDS: Mapping[str, TaskKind] = {
    kind.name: kind
    for kind in (
        YornKind(),
        McqKind(),
        MmmuKind(),
        VqaKind(),
        MathVistaKind(),
        MMVetKind(),
        VideoMMEKind(),
        MVBenchKind(),
        MMBenchVideoKind(),
        GroundingKind(),
        BlinkKind(),
        LLaVABenchKind(),
        MuirKind(),
        MMERealWorldKind(),
    )
}


def kind_named(name: str) -> TaskKind:
    """The kind registered as `name` (benchmark specs are validated against `KINDS` at load)."""
    return KINDS[name]


__all__ = ["KINDS", "TaskKind", "kind_named"]
