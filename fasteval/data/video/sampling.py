"""Which frames VLMEvalKit samples: pure functions of the frame count and the average frame rate.

The indices matter, not only their number: a model answers from the frames it sees, so each rule
below reproduces VLMEvalKit's arithmetic operation for operation (Python floats, `int()` truncation,
`round` and `np.round` both rounding half to even). References are to open-compass/VLMEvalKit at
e8e78f05; ms-vlmeval 0.0.20 and nvidia-vlmeval 26.3 compute the same indices (the video kit's
`frames/*.json`).
"""

from __future__ import annotations

from collections.abc import Sequence

Bound = tuple[float, float]
"""A clip's (start, end) in seconds, as MVBench's annotations give it."""

MVBENCH_FOLDER_FPS = 3
"""MVBench's frame-folder tasks are read at 3 fps (`mvbench.py` L253, `read_frame(..., fps=3)`)."""

MVBENCH_FOLDER_FIRST = 1
"""...and their files are numbered from 1 (`mvbench.py` L256, `first_idx=1`): `00001.jpg`."""

_NO_BOUND = (-100000, 100000)  # `mvbench.py` L212-215: the whole video when a row has no bound


def uniform_nframe(frame_count: int, nframe: int) -> list[int]:
    """`nframe` frames strictly inside the video: `int(i * n / (N + 1))` for i = 1..N.

    `video_base.py` L143-144 and `videomme.py` L177-178 (MMBench-Video inherits the former). Both ends
    are excluded, and indices repeat when the video has no more frames than asked for.
    """
    step = frame_count / (nframe + 1)
    return [int(i * step) for i in range(1, nframe + 1)]


def uniform_fps(frame_count: int, avg_fps: float, fps: float) -> list[int]:
    """One frame every `avg_fps / fps` frames from frame 0, for `int(n / avg_fps * fps)` frames.

    `video_base.py` L102-113, `videomme.py` L181-185 and `MVBench_MP4.get_index_by_fps` (`mvbench.py`
    L540-548): a video shorter than `1 / fps` seconds gives no frames at all.
    """
    required = int(frame_count / avg_fps * fps)
    step = avg_fps / fps
    return [int(i * step) for i in range(required)]


def mvbench_get_index(
    nframe: int, *, max_frame: int, fps: float, first_idx: int, bound: Bound | None
) -> list[int]:
    """MVBench's `get_index` (`mvbench.py` L211-223): the middles of `nframe` equal segments of the clip.

    `max_frame` is `len(vr) - 1` for a video file and the number of files for a frame folder;
    `first_idx` is 0 for a file and 1 for a folder. The clip is `[round(start * fps), round(end * fps)]`
    clamped to `[first_idx, max_frame]` (Python `round`, half to even), and segment `i` contributes
    `int(start_idx + seg / 2 + round_half_even(seg * i))` (`np.round` also rounds half to even).
    """
    start, end = bound if bound is not None else _NO_BOUND
    start_idx = max(first_idx, round(start * fps))
    end_idx = min(round(end * fps), max_frame)
    seg = float(end_idx - start_idx) / nframe
    return [int(start_idx + seg / 2 + round(seg * i)) for i in range(nframe)]


def mvbench_mp4_nframe(frame_count: int, nframe: int) -> list[int]:
    """`MVBench_MP4.get_index_by_frame` (`mvbench.py` L532-538) with `max_frame = len(vr) - 1` (L553):
    MVBench's segment middles over the whole video, without a bound or a first index."""
    seg = float(frame_count - 1) / nframe
    return [int(seg / 2 + round(seg * i)) for i in range(nframe)]


def folder_files(indices: Sequence[int]) -> list[str]:
    """The files MVBench reads for a frame folder's indices (`mvbench.py` L258: `f'{i:05d}.jpg'`)."""
    return [f"{i:05d}.jpg" for i in indices]
