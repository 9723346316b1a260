"""Question text and small image thumbnails for the sample viewer, for the few rows it shows.

Questions come from a model's predictions file (`{model}_{dataset}.xlsx`, every dataset column
but the image) or the dataset TSV; thumbnails only from the TSV, when it is reachable. Thumbnails
are re-encoded small JPEGs inlined as data URIs, so a page of a few hundred rows stays small.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import string
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from PIL import Image, UnidentifiedImageError

from fasteval.data.images import is_reference, split_cell
from fasteval.data.tabular import as_vlmeval_str, read_table
from fasteval.errors import FastevalError
from fasteval.report.collect import BenchRun

QUESTION_COLUMNS = ("hint", "question")
OPTION_LETTERS = tuple(string.ascii_uppercase)
THUMB_PX = 96  # longest side
MAX_THUMBNAILS = 60  # per benchmark: ten benchmarks of thumbnails stay under 2 MB
THUMB_QUALITY = 70
MAX_PIXELS = 40_000_000  # larger images are not decoded (a decompression bomb costs GBs): a placeholder
_PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="40"><rect width="96" height="40" '
    'fill="#eee"/><text x="48" y="24" font-size="10" text-anchor="middle" fill="#666">image too large'
    "</text></svg>"
)
PLACEHOLDER = "data:image/svg+xml;base64," + base64.b64encode(_PLACEHOLDER_SVG.encode()).decode("ascii")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prompt:
    question: str
    thumbnail: str = ""  # data URI, "" when the dataset's images are out of reach


def _dataset_tsv(runs: Sequence[BenchRun], lmudata: Path | None) -> Path | None:
    for r in runs:
        recorded = r.entry.get("dataset_file")
        if recorded and Path(str(recorded)).is_file():
            return Path(str(recorded))
    if lmudata is not None and runs:
        path = lmudata / f"{runs[0].dataset}.tsv"
        return path if path.is_file() else None
    return None


def thumbnail(b64: str) -> str:
    """A base64 image as a small JPEG data URI; "" when it does not decode; `PLACEHOLDER` when its
    header declares more than `MAX_PIXELS` (checked before any pixel is decoded)."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                return PLACEHOLDER
            img.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=THUMB_QUALITY)
    except Image.DecompressionBombError:  # a frame inside the file larger than its header said
        return PLACEHOLDER
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _text(row: dict[str, object]) -> str:
    """Hint and question, then the options present (`A. ...`), as the prompt showed them."""
    lines = [as_vlmeval_str(row[c]) for c in QUESTION_COLUMNS if row.get(c) is not None]
    lines += [f"{c}. {as_vlmeval_str(row[c])}" for c in OPTION_LETTERS if row.get(c) is not None]
    return "\n".join(lines)


def _from_tsv(tsv: Path, keys: Collection[str], images: bool) -> dict[str, Prompt]:
    frame = read_table(tsv, raw_columns=("image",), drop_columns=() if images else ("image",))
    if "index" not in frame.columns:
        return {}
    frame = frame.with_columns(pl.Series("__key", [as_vlmeval_str(v) for v in frame["index"].to_list()]))
    wanted = frame.filter(pl.col("__key").is_in(list(keys)))
    if "image" in wanted.columns:  # and the rows whose images they reference
        refs = [c for c in wanted["image"].to_list() if isinstance(c, str) and is_reference(c)]
        wanted = pl.concat([wanted, frame.filter(pl.col("__key").is_in(refs))]).unique("__key")
    by_index = {str(r["__key"]): r for r in wanted.iter_rows(named=True)}
    out = {}
    for n, key in enumerate(keys):
        row = by_index.get(key)
        if row is None:
            continue
        cell = str(row.get("image") or "") if images and n < MAX_THUMBNAILS else ""
        if cell and is_reference(cell):  # VLMEvalKit stores a repeated image once: a reference to its row
            cell = str((by_index.get(cell) or {}).get("image") or "")
        parts = split_cell(cell) if cell and not is_reference(cell) else []
        out[key] = Prompt(_text(row), thumbnail(parts[0]) if parts else "")
    return out


def _from_predictions(runs: Sequence[BenchRun], keys: Collection[str]) -> dict[str, Prompt]:
    for r in runs:
        if r.predictions is None:
            continue
        frame = read_table(r.predictions, drop_columns=("image",))
        if "index" in frame.columns and "question" in frame.columns:
            return {
                k: Prompt(_text(row))
                for row in frame.iter_rows(named=True)
                if (k := as_vlmeval_str(row["index"])) in keys
            }
    return {}


def prompts(
    runs: Sequence[BenchRun], keys: Collection[str], *, lmudata: Path | None, images: bool = True
) -> dict[str, Prompt]:
    """The question (and thumbnail) of each key: the dataset TSV when reachable, else a
    predictions file; missing keys are simply absent."""
    if not keys:
        return {}
    tsv = _dataset_tsv(runs, lmudata)
    if tsv is not None:
        try:
            return _from_tsv(tsv, keys, images)
        except (FastevalError, OSError) as exc:
            log.warning("%s: questions not read (%s)", tsv, exc)
    return _from_predictions(runs, keys)
