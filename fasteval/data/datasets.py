"""Benchmark data: find (or download) a VLMEvalKit TSV, convert it once, stream its samples.

Layout and reading follow VLMEvalKit, so an existing `$LMUData` cache is reused and the rows are
the ones VLMEvalKit scores:

* The file is `{LMUData}/{NAME}.tsv`. A local file whose MD5 differs from the benchmark's is used
  with a warning (VLMEvalKit would silently re-download it; its published MD5s drift), never replaced.
* Text columns are read as `pd.read_csv(sep='\\t')` reads them (`fasteval.data.tabular.read_table`):
  NA-like strings (`''`, `NA`, `None`, `nan`, `null`, ...) become null, and a column whose every
  value looks like a number becomes int (float when one is missing). VLMEvalKit formats the
  pandas value, so text reaches prompts through `as_vlmeval_str` (an int column gives `'3'`, a
  float one `'3.0'`, a missing question `'nan'`); a null option or hint is absent.
* The `image` column is kept raw (never NA-converted or type-inferred, never decoded to pixels).
  Rows whose image reads as NA are dropped (`skip_noimg`); a TSV without an `image` column is
  meta-only: valid for scoring, nothing to send.
* An image cell of at most 64 characters is the index (as text) of another row whose image it
  shares (MMBench's circular copies, MME's question pairs); a cell `"['b64', 'b64']"` holds
  several images.

The TSV is converted once into `{LMUData}/.fasteval_cache/{NAME}-{md5}-v1/` (`meta.parquet`: every
column but `image`; `images.parquet`: the raw cells and sniffed MIME types in row groups of bounded
size), keyed by the TSV's MD5 and written atomically. Every later load reads only Parquet, and
`iter_samples` streams images a row group at a time, so memory stays flat on a 10 GB TSV.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncGenerator, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from fasteval.data.download import download_md5, file_md5
from fasteval.data.images import ImageError, check_base64, is_reference, sniff_mime, split_cell
from fasteval.data.tabular import NA_STRINGS, as_vlmeval_str, read_table, vlmeval_keys, warn_duplicate_index
from fasteval.errors import FastevalError
from fasteval.types import OPTION_LETTERS, BenchmarkSpec, ImageRef, Sample

CACHE_DIR = ".fasteval_cache"
CACHE_VERSION = "v1"
ROW_GROUP_BYTES = 16 << 20
"""Image text per Parquet row group: what `iter_samples` holds in memory at once."""

_BATCH_ROWS = 256  # image rows decoded at once by `iter_samples`
REQUIRED = ("index", "question", "answer")
_ROW = "__row"  # the row's position in images.parquet (= its data row in the TSV)
_REF = "__ref_row"  # for a reference cell: the position of the row whose image it uses
_TEXT = frozenset({"index", "question", "answer", "hint", "image", _ROW, _REF, *OPTION_LETTERS})


class DatasetError(FastevalError):
    """A dataset file that is missing or cannot be read as VLMEvalKit reads it."""


# ---------------------------------------------------------------------------------------------
# Locating the TSV
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetFile:
    """The TSV a run uses, with its MD5 (observed) and the benchmark's (expected)."""

    name: str
    path: Path
    md5: str
    expected_md5: str | None
    downloaded: bool
    cache_dir: Path  # where its MD5 and its Parquet conversion are kept

    @property
    def md5_ok(self) -> bool:
        return self.expected_md5 is None or self.md5 == self.expected_md5.lower()

    @property
    def warning(self) -> str | None:
        """One line for the CLI (and summary.json) when the local file is not the published one."""
        if self.md5_ok:
            return None
        return (
            f"{self.path} has MD5 {self.md5}, expected {self.expected_md5}: using the local file as is "
            "(VLMEvalKit would re-download it); delete it to fetch the published file"
        )


def locate(
    spec: BenchmarkSpec,
    lmudata: Path,
    *,
    download: bool = True,
    progress: bool = False,
    cache_dir: Path | None = None,
) -> DatasetFile:
    """`{lmudata}/{NAME}.tsv`, downloaded from `spec.url` when absent (VLMEvalKit's cache layout).

    `cache_dir` (default `{lmudata}/.fasteval_cache`) keeps the MD5 and the Parquet conversion; the
    CLI puts it under fasteval's own cache so a shared, read-only LMUData is never written to.
    """
    cache = cache_dir if cache_dir is not None else lmudata / CACHE_DIR
    path = lmudata / f"{spec.name}.tsv"
    if path.is_file():
        return DatasetFile(
            spec.name, path, cached_md5(path, cache), spec.md5, downloaded=False, cache_dir=cache
        )
    if spec.url is None:
        raise DatasetError(
            f"{path} not found and benchmark {spec.name} has no download url; place its TSV there"
        )
    if not download:
        raise DatasetError(f"{path} not found; place the VLMEvalKit TSV there, or allow downloading it")
    md5, _ = download_md5(spec.url, path, md5=spec.md5, progress=progress)
    _write_md5_sidecar(path, cache, md5)
    return DatasetFile(spec.name, path, md5, spec.md5, downloaded=True, cache_dir=cache)


def cached_md5(path: Path, cache_dir: Path) -> str:
    """MD5 of the file, computed once per (path, size, mtime) and remembered in `cache_dir`."""
    sidecar = _md5_sidecar(path, cache_dir)
    st = path.stat()
    try:
        saved = json.loads(sidecar.read_text())
        if saved["size"] == st.st_size and saved["mtime_ns"] == st.st_mtime_ns:
            return str(saved["md5"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    md5 = file_md5(path)
    _write_md5_sidecar(path, cache_dir, md5)
    return md5


def _md5_sidecar(path: Path, cache_dir: Path) -> Path:
    where = hashlib.blake2b(str(path.resolve()).encode(), digest_size=6).hexdigest()
    return cache_dir / f"{path.name}.{where}.md5.json"


def _write_md5_sidecar(path: Path, cache_dir: Path, md5: str) -> None:
    st = path.stat()
    sidecar = _md5_sidecar(path, cache_dir)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    tmp = sidecar.with_name(f"{sidecar.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5}))
    tmp.replace(sidecar)


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """A converted benchmark: its rows' text in memory, its images streamed from Parquet on demand."""

    name: str
    md5: str
    has_images: bool
    _frame: pl.DataFrame  # meta columns plus the internal row/reference positions
    _images: Path | None

    def __len__(self) -> int:
        return self._frame.height

    def distinct_keys(self) -> int:
        """How many different row keys (`str(index)`) the dataset has: the rows a run asks for."""
        return vlmeval_keys(self._frame.get_column("index")).n_unique()

    @property
    def meta(self) -> pl.DataFrame:
        """Every column but `image`, rows as VLMEvalKit keeps them: what scoring needs."""
        return self._frame.drop(_ROW, _REF, strict=False)

    async def aiter_samples(self, skip: Collection[str] = ()) -> AsyncGenerator[Sample]:
        """`iter_samples` for the runner's event loop (a video dataset overrides it to wait for frames
        extracted by worker processes instead of blocking)."""
        for sample in self.iter_samples(skip):
            yield sample

    def iter_samples(self, skip: Collection[str] = ()) -> Iterator[Sample]:
        """Yield the samples whose key (`str(index)`) is not in `skip`, streaming their images.

        A repeated index is asked once, with its last row, as VLMEvalKit's API inference keeps one
        answer per index (VLMEvalKit e8e78f0, vlmeval/inference.py:95 `result = {...}` keyed by
        index, then line 281 gives every row of the index that answer); every row with the index
        shares it.

        File order, except that a row borrowing another row's image comes right after that row,
        so each image is read once and held only while its rows are built.
        """
        if not self.has_images or self._images is None:
            return
        columns = [c for c in self._frame.columns if c not in (_ROW, _REF)]
        as_int = self._frame.schema["index"].is_integer()
        todo = (
            self._frame.filter(~vlmeval_keys(self._frame["index"]).is_in(list(skip))) if skip else self._frame
        )
        if todo["index"].is_duplicated().any():  # one request per index: its last row's (issue 22)
            todo = todo.filter(todo["index"].is_last_distinct())
        if todo[_REF].null_count() == todo.height and todo[_ROW].is_sorted():
            own = todo  # no row borrows an image and rows are in file order: no second copy of the text
        else:
            own = todo.filter(pl.col(_REF).is_null()).sort(_ROW)
        borrowers = todo.filter(pl.col(_REF).is_not_null()).sort(_REF, _ROW, maintain_order=True)
        own_at, borrowed_at = own[_ROW].to_numpy(), borrowers[_REF].to_numpy()
        # Unbuffered, a few hundred rows at a time: decoding a whole 16 MB row group at once costs
        # ~64 MB of RSS, and the rows of a group of small images as dicts ~100 MB more.
        pf = pq.ParquetFile(self._images, pre_buffer=False, buffer_size=1 << 20)
        try:
            start = 0
            for rg in range(pf.metadata.num_row_groups):
                end = start + pf.metadata.row_group(rg).num_rows
                a0, a1 = np.searchsorted(own_at, [start, end])
                b0, b1 = np.searchsorted(borrowed_at, [start, end])
                if a1 > a0 or b1 > b0:  # two sorted row streams, merged by image position
                    owners = own.slice(a0, a1 - a0).iter_rows(named=True)
                    copies = borrowers.slice(b0, b1 - b0).iter_rows(named=True)
                    o, c = next(owners, None), next(copies, None)
                    at = start
                    for batch in pf.iter_batches(_BATCH_ROWS, row_groups=[rg], columns=["image", "mimes"]):
                        cells, mimes = batch.column("image"), batch.column("mimes")
                        upto = at + batch.num_rows
                        while (p := _next_image(o, c, upto)) is not None:
                            cell, types = cells[p - at].as_py(), mimes[p - at].as_py()
                            images = tuple(
                                ImageRef(b, m) for b, m in zip(split_cell(cell), types, strict=True)
                            )
                            if o is not None and o[_ROW] == p:
                                yield _sample(self.name, o, columns, images, as_int)
                                o = next(owners, None)
                            while c is not None and c[_REF] == p:
                                yield _sample(self.name, c, columns, images, as_int)
                                c = next(copies, None)
                        at = upto
                        if o is None and c is None:
                            break
                start = end
        finally:
            pf.close()


def _next_image(own: dict[str, Any] | None, copy: dict[str, Any] | None, upto: int) -> int | None:
    """The image position the next own row or borrowing row needs, None when it is `upto` or past."""
    at: list[int] = []
    if own is not None:
        at.append(own[_ROW])
    if copy is not None:
        at.append(copy[_REF])
    return min(at) if at and min(at) < upto else None


def _sample(
    name: str, row: dict[str, Any], columns: Sequence[str], images: tuple[ImageRef, ...], as_int: bool
) -> Sample:
    key = as_vlmeval_str(row["index"])
    hint = row.get("hint")
    answer = row.get("answer")
    return Sample(
        dataset=name,
        index=int(row["index"]) if as_int else key,
        question=as_vlmeval_str(row["question"]),
        images=images,
        options={k: as_vlmeval_str(row[k]) for k in OPTION_LETTERS if row.get(k) is not None},
        answer=None if answer is None else as_vlmeval_str(answer),
        hint=None if hint is None else as_vlmeval_str(hint),
        meta={c: row[c] for c in columns if c not in _TEXT},
    )


# ---------------------------------------------------------------------------------------------
# Loading and the one-time conversion
# ---------------------------------------------------------------------------------------------


def load(spec: BenchmarkSpec, dataset_file: DatasetFile) -> Dataset:
    """The dataset, converting the TSV to the Parquet cache on first use (keyed by its MD5)."""
    root = dataset_file.cache_dir
    final = root / f"{spec.name}-{dataset_file.md5}-{CACHE_VERSION}"
    if not (final / "meta.parquet").is_file():
        try:
            root.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=root))
        except OSError as exc:
            raise DatasetError(
                f"cannot write the dataset cache {root}: {exc.strerror}; "
                "set FASTEVAL_CACHE to a writable folder"
            ) from None
        try:
            _convert(dataset_file.path, work)
            try:
                work.rename(final)
            except OSError:
                if not (final / "meta.parquet").is_file():  # lost a race to an equal conversion: fine
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    frame = pl.read_parquet(final / "meta.parquet")
    warn_duplicate_index(frame, dataset_file.path)
    images = final / "images.parquet"
    has_images = images.is_file()
    return Dataset(spec.name, dataset_file.md5, has_images, frame, images if has_images else None)


def _convert(tsv: Path, out: Path) -> None:
    """Split the TSV in one pass: text columns to a side TSV read like pandas, images to Parquet."""
    csv.field_size_limit(sys.maxsize)
    meta_tsv = out / "meta.tsv"
    with (
        tsv.open("r", encoding="utf-8-sig", newline="") as fh,
        meta_tsv.open("w", encoding="utf-8", newline="") as mf,
    ):
        reader = csv.reader(fh, delimiter="\t", quotechar='"', doublequote=True, strict=False)
        writer = csv.writer(mf, delimiter="\t", quotechar='"', doublequote=True, lineterminator="\n")
        try:
            header = next(row for row in reader if row)
        except StopIteration:
            raise DatasetError(f"{tsv} is empty; expected a header row (re-download it)") from None
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{tsv} is not UTF-8 text ({exc.reason}); re-download it") from None
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise DatasetError(
                f"{tsv} lacks required column(s) {', '.join(missing)}; is it a VLMEvalKit benchmark TSV?"
            )
        width, j_img, j_idx = len(header), _col(header, "image"), header.index("index")
        writer.writerow([c for k, c in enumerate(header) if k != j_img])
        sink = _ImageSink(out / "images.parquet") if j_img is not None else None
        refs: list[str | None] = []
        n_rows = 0
        try:
            for row in reader:
                if not row:
                    continue
                n_rows += 1
                if len(row) != width:  # a cut-off download or a hand edit: name the line
                    raise DatasetError(
                        f"{tsv}: line {reader.line_num} has {len(row)} fields, the header {width}; "
                        "the TSV is corrupt: re-download it"
                    )
                if j_img is None:
                    writer.writerow(row)
                    continue
                writer.writerow(row[:j_img] + row[j_img + 1 :])
                assert sink is not None
                refs.append(sink.add(row[j_img], row[j_idx], tsv))
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{tsv} is not UTF-8 text ({exc.reason}); re-download it") from None
        finally:
            if sink is not None:
                sink.close()
    if n_rows == 0:
        raise DatasetError(f"{tsv} has a header but no rows; re-download it")
    frame = read_table(meta_tsv)
    meta_tsv.unlink()
    frame = frame.with_row_index(_ROW).with_columns(pl.col(_ROW).cast(pl.Int64))
    if sink is not None:
        frame = _resolve_references(frame, refs, sink.has_image, tsv)
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(_REF))
    frame.write_parquet(out / "meta.parquet")


def _col(header: Sequence[str], name: str) -> int | None:
    return header.index(name) if name in header else None


def _resolve_references(
    frame: pl.DataFrame, refs: list[str | None], has_image: list[bool], tsv: Path
) -> pl.DataFrame:
    """Point each reference at its target row; drop rows without an image (VLMEvalKit's skip_noimg)."""
    keys = [as_vlmeval_str(v) for v in frame["index"]]
    kept = [has_image[i] or refs[i] is not None for i in range(len(keys))]
    targets = {k: i for i, k in enumerate(keys) if has_image[i]}  # later rows win, as in a dict
    kept_keys = {k for k, keep in zip(keys, kept, strict=True) if keep}
    ref_rows: list[int | None] = []
    for i, ref in enumerate(refs):
        if ref is None:
            ref_rows.append(None)
        elif ref in targets:
            ref_rows.append(targets[ref])
        else:
            why = "which is itself a reference" if ref in kept_keys else "which is not in the file"
            raise DatasetError(
                f"{tsv}: row {keys[i]}'s image refers to row {ref}, {why}; the TSV is corrupt: re-download it"
            )
    frame = frame.with_columns(pl.Series(_REF, ref_rows, dtype=pl.Int64))
    return frame.filter(pl.Series(kept))


class _ImageSink:
    """Writes raw image cells to Parquet in row groups of about ROW_GROUP_BYTES of text."""

    _SCHEMA = pa.schema([("image", pa.large_string()), ("mimes", pa.list_(pa.string()))])

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, self._SCHEMA, compression="none")
        self._cells: list[str | None] = []
        self._mimes: list[list[str] | None] = []
        self._bytes = 0
        self.has_image: list[bool] = []

    def add(self, cell: str, index: str, tsv: Path) -> str | None:
        """Validate and buffer one cell; return the referenced index text if it is a reference."""
        ref: str | None = None
        if cell in NA_STRINGS:
            self._push(None, None)
        elif is_reference(cell):
            ref = cell
            self._push(None, None)
        else:
            try:
                parts = split_cell(cell)
                for b64 in parts:
                    check_base64(b64)
                mimes = [sniff_mime(b64) for b64 in parts]
            except ImageError as exc:
                raise DatasetError(f"{tsv}: row {index}: {exc}; fix or re-download the TSV") from None
            self._push(cell, mimes)
        return ref

    def _push(self, cell: str | None, mimes: list[str] | None) -> None:
        self.has_image.append(cell is not None)
        self._cells.append(cell)
        self._mimes.append(mimes)
        self._bytes += len(cell) if cell else 0
        if self._bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._cells:
            batch = pa.table({"image": self._cells, "mimes": self._mimes}, schema=self._SCHEMA)
            self._writer.write_table(batch, row_group_size=len(self._cells))
            self._cells, self._mimes, self._bytes = [], [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
