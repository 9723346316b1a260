"""A video benchmark's data, ready to read: snapshot found or downloaded, unpacked, TSV generated."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasteval.data.tabular import read_table
from fasteval.data.video.plan import VideoPreset
from fasteval.data.video.snapshot import (
    HF_ENDPOINT,
    HubDataset,
    download_snapshot,
    locate_snapshot,
    unpack,
)
from fasteval.data.video.tsv import DatasetTsv, SnapshotError, build_tsv


@dataclass(frozen=True, slots=True)
class VideoDataset:
    """Where a preset's rows and videos are: the snapshot folder and its TSV."""

    snapshot: Path
    tsv: DatasetTsv
    downloaded: bool

    def rows(self) -> list[dict[str, Any]]:
        """The TSV's rows as VLMEvalKit's pandas reads them (`fasteval.data.tabular.read_table`)."""
        return read_table(self.tsv.path).to_dicts()


def prepare_dataset(
    preset: VideoPreset,
    hub: HubDataset | None,
    lmudata: Path,
    env: Mapping[str, str],
    *,
    expected_md5: str | None,
    download: bool = True,
    token: str | None = None,
    endpoint: str = HF_ENDPOINT,
    progress: bool = False,
    on_file: Callable[[str, int, int], None] | None = None,
) -> VideoDataset:
    """Find the preset's snapshot (`locate_snapshot`), else download it into `$LMUData/<repo name>/`;
    unpack its archives and generate its TSV as VLMEvalKit does (`build_tsv`)."""
    folder = locate_snapshot(preset, hub or HubDataset(preset.dataset), lmudata, env)
    downloaded = False
    if folder is None:
        if hub is None or not download:
            where = f"$LMUData/{hub.name if hub else preset.dataset}/"
            why = "downloading is off" if hub is not None else "the benchmark names no Hugging Face repo"
            raise SnapshotError(
                f"no {preset.dataset} dataset under {lmudata} or in the Hugging Face cache and {why}; "
                f"place the published files in {where} (laid out as the hub's snapshot)"
            )
        folder = download_snapshot(
            hub, lmudata / hub.name, endpoint=endpoint, token=token, progress=progress, on_file=on_file
        )
        downloaded = True
    unpack(folder)
    return VideoDataset(folder, build_tsv(preset, folder, expected_md5=expected_md5), downloaded)
