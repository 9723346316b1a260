"""Where a video dataset's published files are: found locally, else downloaded, then unpacked.

VLMEvalKit keeps each video dataset as a Hugging Face snapshot (`get_cache_path`, `smp/misc.py`
L71-94, in the hub cache of `HFCacheRoot`, `smp/file.py` L90-101) and downloads it with
`snapshot_download` when absent. fasteval looks in this order:

1. `$LMUData/<repo name>/` (e.g. `$LMUData/Video-MME/`, `$LMUData/MVBench/`), then `$LMUData/<dataset>/`:
   a plain folder laid out as the snapshot (the video kit's `data/` and fasteval's own downloads);
2. the Hugging Face cache: `$HF_HUB_CACHE`, `$HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`, else
   `~/.cache/huggingface/hub`, at `datasets--<org>--<name>/snapshots/<commit of refs/<revision>>/`.

A folder counts when it holds the dataset's TSV or the files VLMEvalKit generates it from. Otherwise
`download_snapshot` fetches every file of the revision into `$LMUData/<repo name>/` through
Hugging Face's `resolve/<revision>/<path>` URLs, resumably (`fasteval.data.download`), and `unpack`
lays the archives out as VLMEvalKit's `prepare_dataset` does.
"""

from __future__ import annotations

import http.client
import json
import os
import pickle
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fasteval.data.download import DownloadError, download_md5
from fasteval.data.video.cache import write_atomic
from fasteval.data.video.plan import Sampler, VideoPreset
from fasteval.data.video.tsv import VIDEO_MME_PARQUET, SnapshotError, tsv_path

HF_ENDPOINT = "https://huggingface.co"
LISTING_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class HubDataset:
    """A dataset as published on the Hugging Face hub: `repo` (`org/name`) at `revision`."""

    repo: str
    revision: str = "main"

    @property
    def name(self) -> str:
        return self.repo.rsplit("/", 1)[-1]


def hf_hub_cache(env: Mapping[str, str]) -> Path:
    """VLMEvalKit's `HFCacheRoot` (`smp/file.py` L90-101): the first existing of these variables, with
    `/hub` appended unless it already ends so, else `~/.cache/huggingface/hub`."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME"):
        value = env.get(name)
        if value and Path(value).exists():
            path = Path(value)
            return path if path.name == "hub" else path / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def has_dataset_files(preset: VideoPreset, folder: Path) -> bool:
    """The folder holds the preset's TSV, or what VLMEvalKit generates it from."""
    if tsv_path(preset, folder).is_file():
        return True
    if preset.sampler is Sampler.MVBENCH:
        return (folder / "json").is_dir()
    if preset.sampler is Sampler.MVBENCH_MP4:
        return (folder / "test.json").is_file()
    return (folder / VIDEO_MME_PARQUET).is_file()


def locate_snapshot(
    preset: VideoPreset, hub: HubDataset, lmudata: Path, env: Mapping[str, str]
) -> Path | None:
    """The first folder of the search order above that has the dataset's files, or None."""
    for folder in (lmudata / hub.name, lmudata / preset.dataset):
        if folder.is_dir() and has_dataset_files(preset, folder):
            return folder
    org, _, name = hub.repo.partition("/")
    repo_dir = hf_hub_cache(env) / f"datasets--{org}--{name}"
    ref = repo_dir / "refs" / hub.revision
    commit = ref.read_text().strip() if ref.is_file() else hub.revision
    folder = repo_dir / "snapshots" / commit
    if folder.is_dir() and has_dataset_files(preset, folder):
        return folder
    return None


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteFile:
    path: str  # inside the repository, '/'-separated
    size: int | None


def list_files(hub: HubDataset, *, endpoint: str = HF_ENDPOINT, token: str | None = None) -> list[RemoteFile]:
    """Every file of the revision (`GET /api/datasets/<repo>/revision/<revision>`, its `siblings`)."""
    quoted = urllib.parse.quote(hub.revision, safe="")
    url = f"{endpoint}/api/datasets/{hub.repo}/revision/{quoted}"
    request = urllib.request.Request(url, headers=_auth(token))
    try:
        with urllib.request.urlopen(request, timeout=LISTING_TIMEOUT_S) as response:
            listing = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise DownloadError(
                f"{url} answered HTTP {exc.code}: {hub.repo} is gated; accept its terms on the hub and set "
                "HF_TOKEN, or place the dataset under $LMUData yourself"
            ) from None
        raise DownloadError(
            f"{url} answered HTTP {exc.code} {exc.reason}; check the dataset's repo and revision"
        ) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot list {hub.repo} at {url} ({reason}); check the network, "
            "or place the dataset under $LMUData"
        ) from None
    files = []
    for sibling in listing.get("siblings", []):
        path = str(sibling["rfilename"])
        size = sibling.get("size")
        files.append(RemoteFile(path, int(size) if isinstance(size, int) else None))
    return files


def download_snapshot(
    hub: HubDataset,
    dest: Path,
    *,
    endpoint: str = HF_ENDPOINT,
    token: str | None = None,
    progress: bool = False,
    on_file: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Every file of the revision into `dest` (skipping complete ones, resuming partial ones).

    `on_file(path, done, total)` is called after each file, for a caller's progress line.
    """
    files = list_files(hub, endpoint=endpoint, token=token)
    quoted = urllib.parse.quote(hub.revision, safe="")
    for done, remote in enumerate(files, 1):
        target = _inside(dest, remote.path)
        if not (target.is_file() and (remote.size is None or target.stat().st_size == remote.size)):
            url = f"{endpoint}/datasets/{hub.repo}/resolve/{quoted}/{urllib.parse.quote(remote.path)}"
            download_md5(url, target, md5=None, progress=progress, headers=_auth(token))
        if on_file is not None:
            on_file(remote.path, done, len(files))
    return dest


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _inside(root: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        raise SnapshotError(
            f"the dataset listing names {rel!r}, outside the dataset folder; refusing to write it"
        )
    return root.joinpath(*parts)


# ---------------------------------------------------------------------------------------------
# Unpacking the published archives as VLMEvalKit's prepare_dataset does
# ---------------------------------------------------------------------------------------------


def unpack(snapshot: Path) -> None:
    """Lay the snapshot's archives out where VLMEvalKit's classes read them; idempotent.

    * `video*.zip` at the top (Video-MME): every member into `video/` by its base name, and
      `subtitle.zip` into `subtitle/` (`videomme.py` L93-135);
    * `video/*.zip` (MVBench): extracted in place, then `video/data0613/<a>/<b>/*` moved to
      `video/<a>/<b>/` (`mvbench.py` L113-122, L160-179);
    * `video_pkl/*.pkl` (MMBench-Video): each `{name: mp4 bytes}` written as `video/<name>.mp4`
      (`mmbench_video.py` L21-39), read with an unpickler that admits only dicts, strings and bytes.

    A folder is filled under a temporary name and renamed when complete, so an interrupted unpack
    is redone rather than trusted (VLMEvalKit skips any existing `video/`).
    """
    top_zips = sorted(p for p in snapshot.glob("video*.zip") if p.is_file())
    if top_zips:
        _fill(snapshot / "video", lambda tmp: _flatten_zips(top_zips, tmp))
    if (snapshot / "subtitle.zip").is_file():
        _fill(snapshot / "subtitle", lambda tmp: _flatten_zips([snapshot / "subtitle.zip"], tmp))
    if (snapshot / "video_pkl").is_dir():
        pickles = sorted(p for p in (snapshot / "video_pkl").iterdir() if p.is_file())
        _fill(snapshot / "video", lambda tmp: _unwrap_pickles(pickles, tmp))
    video = snapshot / "video"
    if video.is_dir() and not top_zips:
        for archive in sorted(video.glob("*.zip")):
            done = video / f".{archive.name}.unpacked"
            if not done.exists():
                with _zip(archive) as zf:
                    zf.extractall(video)
                write_atomic(done, b"")
        _move_data0613(video)


def _fill(folder: Path, build: Callable[[Path], None]) -> None:
    if folder.exists():
        return
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    os.replace(tmp, folder)


def _zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SnapshotError(
            f"{path} is not a readable zip ({exc}); delete it and download the dataset again"
        ) from None


def _flatten_zips(archives: list[Path], target: Path) -> None:
    for archive in archives:
        with _zip(archive) as zf:
            for member in zf.namelist():
                if member.endswith("/"):
                    continue
                with zf.open(member) as src, (target / PurePosixPath(member).name).open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


class _VideoPickle(pickle.Unpickler):
    """MMBench-Video's pickles hold `{name: bytes}`: anything that needs a class is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise SnapshotError(
            f"a video pickle asks for {module}.{name}; only plain data is read: download it again"
        )


def _unwrap_pickles(pickles: list[Path], target: Path) -> None:
    for path in pickles:
        with path.open("rb") as fh:
            try:
                data = _VideoPickle(fh).load()
            except (pickle.UnpicklingError, EOFError, ValueError) as exc:
                raise SnapshotError(
                    f"{path} cannot be read ({exc}); delete it and download the dataset again"
                ) from None
        if not isinstance(data, dict):
            raise SnapshotError(f"{path} does not hold a {{name: video}} dict; download it again")
        for name, content in data.items():
            (target / f"{name}.mp4").write_bytes(content)


def _move_data0613(video: Path) -> None:
    src = video / "data0613"
    if not src.is_dir():
        return
    for sub in sorted(p for p in src.iterdir() if p.is_dir()):
        for subsub in sorted(p for p in sub.iterdir() if p.is_dir()):
            target = video / sub.name / subsub.name
            target.mkdir(parents=True, exist_ok=True)
            for item in sorted(subsub.iterdir()):
                if not (target / item.name).exists():
                    shutil.move(str(item), str(target / item.name))
