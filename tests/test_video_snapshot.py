"""Finding, downloading and unpacking a video dataset's published snapshot (local HTTP server only)."""

from __future__ import annotations

import io
import json
import pickle
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fasteval.data.download import DownloadError
from fasteval.data.video import snapshot, tsv
from fasteval.data.video.plan import Sampler, VideoPreset
from fasteval.data.video.snapshot import HubDataset
from fasteval.data.video.tsv import SnapshotError
from tests.fixtures import video_kit_dir, video_mme_parquet
from tests.http_server import serve

KIT = video_kit_dir()
VIDEO_MME = VideoPreset("Video-MME", Sampler.UNIFORM, nframe=8)
MVBENCH_MP4 = VideoPreset("MVBench_MP4", Sampler.MVBENCH_MP4, nframe=8)
HUB = HubDataset("lmms-lab/Video-MME")


# ---------------------------------------------------------------------------------------------
# locate
# ---------------------------------------------------------------------------------------------


def test_the_kits_layout_under_lmudata_is_found_by_repo_name() -> None:
    lmudata = KIT / "data"
    assert snapshot.locate_snapshot(VIDEO_MME, HUB, lmudata, {}) == lmudata / "Video-MME"
    found = snapshot.locate_snapshot(MVBENCH_MP4, HubDataset("OpenGVLab/MVBench", "video"), lmudata, {})
    assert found == lmudata / "MVBench"  # MVBench_MP4.tsv sits in the MVBench folder


def test_the_hugging_face_cache_snapshot_of_the_revision_is_found(tmp_path: Path) -> None:
    repo = tmp_path / "hf" / "hub" / "datasets--lmms-lab--Video-MME"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123\n")
    video_mme_parquet(repo / "snapshots" / "abc123" / tsv.VIDEO_MME_PARQUET)
    (repo / "snapshots" / "old").mkdir()
    env = {"HF_HOME": str(tmp_path / "hf")}  # HF_HOME gains /hub, as VLMEvalKit's HFCacheRoot does
    assert snapshot.hf_hub_cache(env) == tmp_path / "hf" / "hub"
    assert snapshot.locate_snapshot(VIDEO_MME, HUB, tmp_path / "lmu", env) == repo / "snapshots" / "abc123"
    assert snapshot.hf_hub_cache({"HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}) == tmp_path / "hf" / "hub"


def test_nothing_found_is_none(tmp_path: Path) -> None:
    (tmp_path / "Video-MME").mkdir()  # a folder without the dataset's files does not count
    assert snapshot.locate_snapshot(VIDEO_MME, HUB, tmp_path, {"HF_HUB_CACHE": str(tmp_path)}) is None


# ---------------------------------------------------------------------------------------------
# download + unpack, from a local server laid out as the hub
# ---------------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _video_mme_repo(tmp_path: Path) -> dict[str, bytes]:
    """lmms-lab/Video-MME as published: the parquet, chunked video zips, subtitle.zip, a README."""
    videos = sorted((KIT / "data/Video-MME/video").iterdir())
    subs = sorted((KIT / "data/Video-MME/subtitle").iterdir())
    half = len(videos) // 2
    files = {
        tsv.VIDEO_MME_PARQUET: video_mme_parquet(tmp_path / "src.parquet").read_bytes(),
        "videos_chunked_01.zip": _zip({f"data/{v.name}": v.read_bytes() for v in videos[:half]}),
        "videos_chunked_02.zip": _zip({f"data/{v.name}": v.read_bytes() for v in videos[half:]}),
        "subtitle.zip": _zip({f"subtitle/{s.name}": s.read_bytes() for s in subs}),
        "README.md": b"# Video-MME\n",
    }
    listing = {
        "sha": "abc123",
        "siblings": [{"rfilename": name, "size": len(b)} for name, b in files.items()],
    }
    served = {f"datasets/{HUB.repo}/resolve/main/{name}": body for name, body in files.items()}
    served[f"api/datasets/{HUB.repo}/revision/main"] = json.dumps(listing).encode()
    return served


def test_download_unpack_and_generate_give_the_kits_dataset(tmp_path: Path) -> None:
    lmudata = tmp_path / "LMUData"
    with serve(_video_mme_repo(tmp_path)) as server:
        seen: list[tuple[str, int, int]] = []
        endpoint = f"http://127.0.0.1:{server.port}/normal"
        snapshot.download_snapshot(
            HUB, lmudata / HUB.name, endpoint=endpoint, on_file=lambda *a: seen.append(a)
        )
    assert [s[1:] for s in seen] == [(i, 5) for i in range(1, 6)]
    folder = snapshot.locate_snapshot(VIDEO_MME, HUB, lmudata, {})
    assert folder == lmudata / "Video-MME"
    snapshot.unpack(folder)
    out = tsv.build_tsv(VIDEO_MME, folder, expected_md5=None)
    assert out.path.read_bytes() == (KIT / "data/Video-MME/Video-MME.tsv").read_bytes()
    for kit_file in (KIT / "data/Video-MME/video").iterdir():
        assert (folder / "video" / kit_file.name).read_bytes() == kit_file.read_bytes()
    assert sorted(p.name for p in (folder / "subtitle").iterdir()) == sorted(
        p.name for p in (KIT / "data/Video-MME/subtitle").iterdir()
    )


def test_a_dropped_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    dest = tmp_path / "Video-MME"
    repo = _video_mme_repo(tmp_path)
    body = repo[f"datasets/{HUB.repo}/resolve/main/{tsv.VIDEO_MME_PARQUET}"]
    part = dest / (tsv.VIDEO_MME_PARQUET + ".part")  # what a dropped connection left
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:100])
    with serve(repo) as server:
        endpoint = f"http://127.0.0.1:{server.port}/normal"
        snapshot.download_snapshot(HUB, dest, endpoint=endpoint)
        ranged = [(path, rng) for path, rng in server.requests if rng is not None]
        assert ranged == [(f"/normal/datasets/{HUB.repo}/resolve/main/{tsv.VIDEO_MME_PARQUET}", "bytes=100-")]
        server.requests.clear()
        snapshot.download_snapshot(HUB, dest, endpoint=endpoint)  # complete: only the listing is asked
        assert [path for path, _ in server.requests] == [f"/normal/api/datasets/{HUB.repo}/revision/main"]
    assert (dest / tsv.VIDEO_MME_PARQUET).read_bytes() == body
    assert not part.exists()


def test_a_dropped_listing_is_one_line(tmp_path: Path) -> None:
    with (
        serve(_video_mme_repo(tmp_path)) as server,
        pytest.raises(DownloadError, match="cannot list lmms-lab"),
    ):
        snapshot.download_snapshot(HUB, tmp_path / "d", endpoint=f"http://127.0.0.1:{server.port}/truncated")


def test_an_unknown_repo_is_one_line_naming_the_url(tmp_path: Path) -> None:
    with (
        serve({}) as server,
        pytest.raises(DownloadError, match=r"revision/main answered HTTP 404 .*repo and revision"),
    ):
        snapshot.download_snapshot(HUB, tmp_path, endpoint=f"http://127.0.0.1:{server.port}/normal")


def test_a_listing_cannot_write_outside_the_dataset_folder(tmp_path: Path) -> None:
    listing = {"siblings": [{"rfilename": "../evil.txt"}]}
    files = {f"api/datasets/{HUB.repo}/revision/main": json.dumps(listing).encode()}
    with serve(files) as server, pytest.raises(SnapshotError, match="outside the dataset folder"):
        snapshot.download_snapshot(HUB, tmp_path / "d", endpoint=f"http://127.0.0.1:{server.port}/normal")


def test_mmbench_video_pickles_become_mp4_files(tmp_path: Path) -> None:
    video = (KIT / "data/MMBench-Video/video/eoihoru6kg.mp4").read_bytes()
    (tmp_path / "video_pkl").mkdir()
    (tmp_path / "video_pkl" / "part_0.pkl").write_bytes(pickle.dumps({"eoihoru6kg": video, "other": b"x"}))
    snapshot.unpack(tmp_path)
    assert (tmp_path / "video" / "eoihoru6kg.mp4").read_bytes() == video
    assert (tmp_path / "video" / "other.mp4").read_bytes() == b"x"


def test_a_pickle_that_asks_for_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "video_pkl").mkdir()
    (tmp_path / "video_pkl" / "bad.pkl").write_bytes(pickle.dumps({"v": Path("/etc/passwd")}))
    with pytest.raises(SnapshotError, match="only plain data is read"):
        snapshot.unpack(tmp_path)
    assert not (tmp_path / "video").exists()  # nothing half-done is left to be trusted


def test_mvbench_zips_are_extracted_in_place_and_data0613_moved(tmp_path: Path) -> None:
    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "star.zip").write_bytes(_zip({"star/Charades_v1_480/CHPUZ.mp4": b"mp4"}))
    (tmp_path / "video" / "clevrer.zip").write_bytes(
        _zip({"data0613/clevrer/video_validation/video_10779.mp4": b"clevrer"})
    )
    snapshot.unpack(tmp_path)
    snapshot.unpack(tmp_path)  # idempotent
    assert (tmp_path / "video/star/Charades_v1_480/CHPUZ.mp4").read_bytes() == b"mp4"
    assert (tmp_path / "video/clevrer/video_validation/video_10779.mp4").read_bytes() == b"clevrer"


@contextmanager
def _http(handle: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_token_goes_to_the_hub_but_not_to_the_cdn_it_redirects_to(tmp_path: Path) -> None:
    """Gated datasets (MVBench) need the token at the hub, whose file URLs redirect to a CDN's signed
    URL on another host: that request must not carry the token."""
    seen: dict[str, str | None] = {}

    def cdn(h: BaseHTTPRequestHandler) -> None:
        seen["cdn"] = h.headers.get("Authorization")
        h.send_response(200)
        h.send_header("Content-Length", "4")
        h.end_headers()
        h.wfile.write(b"data")

    with _http(cdn) as cdn_port:

        def hub(h: BaseHTTPRequestHandler) -> None:
            seen[h.path.rsplit("/", 1)[-1]] = h.headers.get("Authorization")
            if h.path.endswith("/revision/main"):
                body = json.dumps({"siblings": [{"rfilename": "test.json"}]}).encode()
                h.send_response(200)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)
            else:
                h.send_response(302)
                h.send_header("Location", f"http://127.0.0.1:{cdn_port}/signed?sig=1")
                h.send_header("Content-Length", "0")
                h.end_headers()

        with _http(hub) as hub_port:
            hub_ds = HubDataset("OpenGVLab/MVBench")
            snapshot.download_snapshot(
                hub_ds, tmp_path, endpoint=f"http://127.0.0.1:{hub_port}", token="hf_x"
            )
    assert seen == {"main": "Bearer hf_x", "test.json": "Bearer hf_x", "cdn": None}
    assert (tmp_path / "test.json").read_bytes() == b"data"
