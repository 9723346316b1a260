"""Video-MME's subtitle lines: for each sampled frame, the subtitle VLMEvalKit shows next to it.

`videomme.py` L207-224: the file is loaded with pysubs2 (UTF-8); for each sampled index the frame
time is `pysubs2.make_time(fps=avg_fps, frames=idx)` (milliseconds, rounded); the subtitle is the
first entry in file order with `start < t < end` (both strict); its text has `\\N` replaced by a
space and keeps pysubs2's rendering of tags (`<i>x</i>` becomes `{\\i1}x{\\i0}`); frames without an
active entry, or whose text is blank, add no line; repeated lines are kept. A row whose subtitle file
does not exist gets an empty listing (the template is still the subtitle one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fasteval.data.video.decode import VideoError


def subtitle_lines(srt: Path, indices: Sequence[int], avg_fps: float) -> list[str]:
    """The subtitle lines for the sampled frame `indices` of a video of `avg_fps` (decord's)."""
    import pysubs2

    if not srt.exists():
        return []
    try:
        subs = pysubs2.load(str(srt), encoding="utf-8")
    except (UnicodeDecodeError, pysubs2.exceptions.Pysubs2Error, ValueError) as exc:
        raise VideoError(f"subtitle file {srt} cannot be read ({exc}); download the dataset again") from None
    events = [(e.start, e.end, e.text) for e in subs]
    lines: list[str] = []
    for index in indices:
        t = pysubs2.make_time(fps=avg_fps, frames=index)
        text = next((txt for start, end, txt in events if start < t < end), "")
        text = text.replace("\\N", " ")
        if text.strip():
            lines.append(text)
    return lines


def subtitle_listing(srt: Path, indices: Sequence[int], avg_fps: float) -> str:
    """The lines joined as VLMEvalKit puts them into `FRAMES_TMPL_SUB` (`'\\n'.join`, L224)."""
    return "\n".join(subtitle_lines(srt, indices, avg_fps))
