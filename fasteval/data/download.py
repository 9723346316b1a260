"""Download one large file: resumable, MD5-checked, atomically put in place.

A dataset TSV can be several GB and the link can drop, so the body streams to `DEST.part`, a
later call resumes it with an HTTP Range request (and starts over when the server ignores Range),
and only a complete file whose MD5 matches is renamed to `DEST`. A reader of `DEST` therefore
never sees half a file. Plain `urllib`: one sync stream of one big file needs nothing more.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Protocol

from fasteval.errors import FastevalError

CHUNK = 1 << 20
TIMEOUT_S = 60.0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes\s+\*/(\d+)")


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class DownloadError(FastevalError):
    """A download that could not complete; the `.part` file is kept when resuming can help."""


class ChecksumMismatch(DownloadError):
    """A complete download whose MD5 is not the expected one."""


def file_md5(path: Path, *, chunk: int = CHUNK) -> str:
    """Hex MD5 of a file, read in chunks so memory stays flat for multi-GB files."""
    h = hashlib.md5()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, *, md5: str | None, progress: bool) -> Path:
    """Fetch `url` to `dest` (resuming `dest.part`), check `md5` when given, and return `dest`."""
    return download_md5(url, dest, md5=md5, progress=progress)[1]


def download_md5(
    url: str, dest: Path, *, md5: str | None, progress: bool, headers: Mapping[str, str] | None = None
) -> tuple[str, Path]:
    """`download`, also returning the MD5 it computed while streaming (no second read of the file).

    `headers` go with every request (a gated Hugging Face dataset needs `Authorization`)."""
    extra = dict(headers or {})
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    fix = f"run again to resume, or place the file at {dest} yourself"
    have = part.stat().st_size if part.exists() else 0
    digest = hashlib.md5()

    response = _open(url, have, dest, extra)
    try:
        if have and response.status == 416:
            complete = _complete_size(response)
            if complete == have:
                response.close()
                return _finish(url, part, dest, md5, _hash_prefix(part, have, digest), fix)
            have = 0  # the partial file is longer than the resource: start over
            response.close()
            response = _open(url, 0, dest, extra)
        if have and response.status == 206 and _range_start(response) == have:
            _hash_prefix(part, have, digest)
            mode = "ab"
        else:
            if response.status == 206:  # a range we did not ask for: ask for the whole file
                response.close()
                response = _open(url, 0, dest, extra)
            have, mode = 0, "wb"  # the server ignored Range (200): restart from zero
        total = _total_size(response, have)
        with part.open(mode) as out:
            got = _stream(response, out, digest, have, total, progress, url)
    finally:
        response.close()
    if total is not None and got < total:
        raise DownloadError(f"download of {url} ended early at {got} of {total} bytes; {fix}")
    return _finish(url, part, dest, md5, digest, fix)


class _CredentialsStayOnHost(urllib.request.HTTPRedirectHandler):
    """Follows redirects, sending `Authorization` only to the host it was given for: Hugging Face
    redirects a file to a CDN's signed URL, which must not receive the hub token (and may refuse it)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_CredentialsStayOnHost)


def _open(url: str, offset: int, dest: Path, headers: dict[str, str]) -> http.client.HTTPResponse:
    request = urllib.request.Request(
        url, headers={**headers, **({"Range": f"bytes={offset}-"} if offset else {})}
    )
    try:
        response: http.client.HTTPResponse = _OPENER.open(request, timeout=TIMEOUT_S)
        return response
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return exc  # type: ignore[return-value]  # an HTTPError is a readable response
        raise DownloadError(
            f"{url} answered HTTP {exc.code} {exc.reason}; check the benchmark's url, "
            f"or place the file at {dest} yourself"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {url} ({reason}); check the network and the url, "
            f"or place the file at {dest} yourself"
        ) from None


def _range_start(response: http.client.HTTPResponse) -> int | None:
    m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _complete_size(response: http.client.HTTPResponse) -> int | None:
    m = _UNSATISFIABLE.match(response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _total_size(response: http.client.HTTPResponse, have: int) -> int | None:
    length = response.headers.get("Content-Length")
    return have + int(length) if length is not None and length.isdigit() else None


def _hash_prefix(part: Path, size: int, digest: _Digest) -> _Digest:
    with part.open("rb") as fh:
        remaining = size
        while remaining and (block := fh.read(min(CHUNK, remaining))):
            digest.update(block)
            remaining -= len(block)
    return digest


def _stream(
    response: http.client.HTTPResponse,
    out: IO[bytes],
    digest: _Digest,
    have: int,
    total: int | None,
    progress: bool,
    url: str,
) -> int:
    """Copy the body to `out`; a dropped connection ends the copy early, and the caller reports it."""
    advance: Callable[[int], None] = lambda n: None  # noqa: E731
    bar = None
    if progress:
        from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

        bar = Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
        task = bar.add_task(url.rsplit("/", 1)[-1], total=total, completed=have)
        bar.start()
        advance = lambda n: bar.advance(task, n)  # noqa: E731
    got = have
    try:
        while True:
            try:
                block = response.read(CHUNK)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                if isinstance(exc, http.client.IncompleteRead) and exc.partial:
                    out.write(exc.partial)
                    digest.update(exc.partial)
                    got += len(exc.partial)
                break
            if not block:
                break
            out.write(block)
            digest.update(block)
            got += len(block)
            advance(len(block))
    finally:
        if bar is not None:
            bar.stop()
    return got


def _finish(url: str, part: Path, dest: Path, md5: str | None, digest: _Digest, fix: str) -> tuple[str, Path]:
    got = digest.hexdigest()
    if md5 is not None and got != md5.lower():
        part.unlink(missing_ok=True)  # complete but wrong: resuming it can never help
        raise ChecksumMismatch(
            f"download of {url} has MD5 {got}, expected {md5}; the file at the url changed or is corrupt: "
            f"retry later, or place the file at {dest} yourself (a local file with another MD5 is used "
            "with a warning)"
        )
    part.replace(dest)
    return got, dest
