"""Downloads against a local server: resume, restart, MD5, 404, truncated bodies, dead ports."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from fasteval.data.download import ChecksumMismatch, DownloadError, download, download_md5, file_md5
from tests.http_server import serve


def _tsv(rows: int) -> bytes:
    lines = ["index\tquestion\tanswer\timage"]
    lines += [f"{i}\tIs there a cat number {i}?\tYes\t{'QUJD' * 40}{i:08d}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


BODY = _tsv(20_000)  # ~3.5 MB: several read chunks
MD5 = hashlib.md5(BODY).hexdigest()


def test_download_streams_the_file_into_place_and_checks_its_md5(tmp_path: Path) -> None:
    dest = tmp_path / "MME.tsv"
    with serve({"MME.tsv": BODY}) as srv:
        got, path = download_md5(srv.url("MME.tsv"), dest, md5=MD5, progress=False)
    assert path == dest and dest.read_bytes() == BODY and got == MD5
    assert not (tmp_path / "MME.tsv.part").exists()


def test_truncated_body_is_an_error_and_the_next_call_resumes_with_range(tmp_path: Path) -> None:
    dest = tmp_path / "MME.tsv"
    part = tmp_path / "MME.tsv.part"
    with serve({"MME.tsv": BODY}) as srv:
        with pytest.raises(
            DownloadError, match=r"ended early at \d+ of \d+ bytes; run again to resume"
        ) as exc:
            download(srv.url("MME.tsv", "truncated"), dest, md5=MD5, progress=False)
        assert srv.url("MME.tsv", "truncated") in str(exc.value)
        assert not dest.exists()
        kept = part.stat().st_size
        assert 0 < kept < len(BODY)

        download(srv.url("MME.tsv"), dest, md5=MD5, progress=False)
        assert srv.requests[-1][1] == f"bytes={kept}-"
    assert dest.read_bytes() == BODY


def test_a_server_ignoring_range_restarts_from_zero(tmp_path: Path) -> None:
    dest = tmp_path / "POPE.tsv"
    (tmp_path / "POPE.tsv.part").write_bytes(b"garbage that is not a prefix of the file")
    with serve({"POPE.tsv": BODY}) as srv:
        download(srv.url("POPE.tsv", "norange"), dest, md5=MD5, progress=False)
        assert srv.requests[-1][1] is not None  # a resume was asked for, and refused
    assert dest.read_bytes() == BODY


def test_an_already_complete_part_is_finished_without_refetching(tmp_path: Path) -> None:
    dest = tmp_path / "POPE.tsv"
    (tmp_path / "POPE.tsv.part").write_bytes(BODY)
    with serve({"POPE.tsv": BODY}) as srv:
        got, _ = download_md5(srv.url("POPE.tsv"), dest, md5=MD5, progress=False)
    assert got == MD5 and dest.read_bytes() == BODY


def test_md5_mismatch_names_url_expected_and_got_and_keeps_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "MME.tsv"
    with serve({"MME.tsv": BODY}) as srv:
        url = srv.url("MME.tsv", "wrong")
        with pytest.raises(ChecksumMismatch) as exc:
            download(url, dest, md5=MD5, progress=False)
    message = str(exc.value)
    wrong = hashlib.md5(BODY[:-1] + bytes([BODY[-1] ^ 0xFF])).hexdigest()
    assert url in message and MD5 in message and wrong in message and str(dest) in message
    assert "\n" not in message
    assert not dest.exists() and not (tmp_path / "MME.tsv.part").exists()


def test_404_names_the_url_and_the_fix(tmp_path: Path) -> None:
    dest = tmp_path / "MMStar.tsv"
    with serve({}) as srv:
        url = srv.url("MMStar.tsv")
        with pytest.raises(DownloadError, match="HTTP 404") as exc:
            download(url, dest, md5=None, progress=False)
    assert url in str(exc.value) and f"place the file at {dest} yourself" in str(exc.value)


def test_unreachable_port_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/normal/MME.tsv"
    with pytest.raises(DownloadError, match="cannot reach") as exc:
        download(url, tmp_path / "MME.tsv", md5=None, progress=False)
    assert url in str(exc.value)


def test_progress_bar_does_not_change_the_bytes(tmp_path: Path) -> None:
    dest = tmp_path / "MME.tsv"
    with serve({"MME.tsv": BODY}) as srv:
        download(srv.url("MME.tsv"), dest, md5=None, progress=True)
    assert file_md5(dest) == MD5
