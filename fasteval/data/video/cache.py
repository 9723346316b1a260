"""The frame cache, in VLMEvalKit's layout, so either tool reuses the other's frames.

`$LMUData/images/<dataset>/<video>/frame-{i}-of-{N}.jpg` (i = 1..N), or in fps mode
`frame-{i}-of-{count}-{fps}fps.jpg` with `fps` printed as the Python float of the preset (`1.0fps`,
`0.5fps`): `video_base.py` L46-49 and L84-93. A video's frames are reused whenever all its files exist
(`video_base.py` L117-119 and L134-136, `videomme.py` L188-190, `mvbench.py` L265-267 and L572-574), and
only the missing files are written (`if not osp.exists(pth): im.save(pth)`).

Frames are JPEG-encoded by Pillow with its defaults (quality 75, 4:2:0), as `Image.save(path)` does
in VLMEvalKit, so identical RGB gives identical bytes. VLMEvalKit writes the file in place under a
lock; here each file is written to a temporary name in the same folder and renamed, so a killed
extraction never leaves a truncated JPEG that a later run (of either tool) would trust as complete.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from numpy.typing import NDArray

from fasteval.errors import FastevalError

IMAGES_DIR = "images"


class FrameCacheError(FastevalError):
    """A frame cache folder that cannot be written, or a video name that would leave it."""


def video_dir(lmudata: Path, dataset: str, video: str) -> Path:
    """`$LMUData/images/<dataset>/<video>`; `video` may hold sub-folders (MVBench's `kicking/x.mp4`)."""
    parts = PurePosixPath(video).parts
    if not parts or PurePosixPath(video).is_absolute() or ".." in parts:
        raise FrameCacheError(f"video name {video!r} would leave the frame cache; fix the dataset's TSV")
    return lmudata / IMAGES_DIR / dataset / video


def frame_names(count: int, fps: float | None) -> list[str]:
    """The file names of `count` frames: `frame_tmpl` / `frame_tmpl_fps` (`video_base.py` L48-49)."""
    if fps is None:
        return [f"frame-{i}-of-{count}.jpg" for i in range(1, count + 1)]
    return [f"frame-{i}-of-{count}-{float(fps)!r}fps.jpg" for i in range(1, count + 1)]


def frame_paths(lmudata: Path, dataset: str, video: str, count: int, fps: float | None) -> tuple[Path, ...]:
    """Where a video's sampled frames live in the cache, in sampling order."""
    folder = video_dir(lmudata, dataset, video)
    return tuple(folder / name for name in frame_names(count, fps))


def complete(paths: Sequence[Path]) -> bool:
    """VLMEvalKit's reuse rule: every file exists (`np.all([osp.exists(p) for p in frame_paths])`)."""
    return all(p.exists() for p in paths)


def encode_jpeg(rgb: NDArray[np.uint8]) -> bytes:
    """Pillow's JPEG with its defaults, as `Image.fromarray(arr).save('x.jpg')` writes it."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    return buf.getvalue()


def write_frames(frames: Sequence[NDArray[np.uint8]], paths: Sequence[Path]) -> int:
    """Write each frame whose file does not exist yet (atomically); return how many were written."""
    written = 0
    for rgb, path in zip(frames, paths, strict=True):
        if path.exists():
            continue
        write_atomic(path, encode_jpeg(rgb))
        written += 1
    return written


def write_atomic(path: Path, data: bytes) -> None:
    """`data` at `path` via a temporary file in the same folder and a rename: all or nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _unwritable(path.parent, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _unwritable(path.parent, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unwritable(folder: Path, exc: OSError) -> FrameCacheError:
    return FrameCacheError(
        f"cannot write frames to {folder} ({exc.strerror or exc}); make it writable and free disk space, "
        "or point --lmudata / $LMUData at a writable folder"
    )
