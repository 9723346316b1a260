"""Video datasets as VLMEvalKit reads them: published snapshots -> TSV rows -> sampled frames as JPEGs.

Everything here reproduces VLMEvalKit's video classes (`VideoBaseDataset`, `VideoMME`, `MVBench`,
`MVBench_MP4`, `MMBenchVideo`; open-compass/VLMEvalKit e8e78f05, same rules in ms-vlmeval 0.0.20 and
nvidia-vlmeval 26.3) and is checked against the video conformance kit. Modules, one job each:

    sampling   pure index rules: uniform nframe / fps, MVBench get_index, MVBench_MP4
    decode     PyAV decoding with decord's frame count, average fps and RGB frames; frame folders
    cache      $LMUData/images/<dataset>/<video>/frame-{i}-of-{N}[-{fps}fps].jpg, atomic JPEG writes
    plan       VideoPreset, a row's VideoSource, FramePlan = indices + cache paths, ensure_frames
    subtitles  Video-MME's subtitle lines at the sampled frames (pysubs2)
    tsv        VLMEvalKit's TSV generated from the published files, MD5 against the pinned one
    snapshot   find the snapshot ($LMUData/<repo name>/, Hugging Face cache), download, unpack
    dataset    prepare_dataset: the three steps above in order -> VideoDataset(snapshot, tsv, rows())
    rows       row_frames: one row's frame files (+ subtitle listing), the unit a request needs
    extract    a whole preset's frames ahead of time in worker processes, with progress

API for the pipeline (vpipe):

    preset = VideoPreset.of(spec.video)        # from the TOML's [video] table: dataset, sampler
                                               # ("uniform" | "mvbench" | "mvbench_mp4"), nframe xor
                                               # fps, subtitles; PresetError if VLMEvalKit would refuse
    hub = HubDataset(spec.video.repo, spec.video.revision or "main")
    ds = prepare_dataset(preset, hub, lmudata, env, expected_md5=spec.md5,
                         download=..., token=env HF_TOKEN, endpoint=env HF_ENDPOINT or HF_ENDPOINT)
    ds.tsv.warning                             # one line when the TSV's MD5 is not VLMEvalKit's pin
    for row in ds.rows():                      # dicts, typed as VLMEvalKit's pandas reads the TSV
        got = row_frames(preset, ds.snapshot, row, lmudata)   # CPU-bound: run in a process pool
        got.files                              # tuple[Path, ...]: JPEGs in prompt order (may be empty:
                                               #   Video-MME / MMBench-Video fps mode on a short video)
        got.subtitles                          # str listing for FRAMES_TMPL_SUB, or None
    # errors: VideoError (missing / undecodable video; NoFrames = MVBench_MP4 fps row where
    # VLMEvalKit raises), FrameCacheError (unwritable cache): all FastevalError, one line each.

    # finer-grained pieces, if needed:
    source = video_source(preset, ds.snapshot, row)           # path, file/folder, cache key, bound
    plan = sample_frames(preset, source, lmudata)             # FramePlan: indices, info, paths
    files = ensure_frames(plan)                               # decode + write only missing files
    frame_files(preset, source, lmudata)                      # cache hit without opening the video
    subtitle_lines(srt, plan.indices, plan.info.avg_fps)      # list[str]

    # ahead of time (`fasteval frames --data PRESET`):
    extract_frames(preset, dataset_sources(preset, ds.snapshot, ds.rows()), lmudata,
                   workers=N, on_progress=callback)           # ExtractResult, ExtractProgress

Frame caches are shared with VLMEvalKit both ways (same names, same JPEG bytes, same reuse rule,
including MVBench's cache keyed by video name only).
"""

from fasteval.data.video.cache import FrameCacheError
from fasteval.data.video.dataset import VideoDataset, prepare_dataset
from fasteval.data.video.decode import VideoError, VideoInfo
from fasteval.data.video.extract import (
    ExtractProgress,
    ExtractResult,
    VideoFailure,
    dataset_sources,
    extract_frames,
)
from fasteval.data.video.plan import (
    FramePlan,
    NoFrames,
    PresetError,
    Sampler,
    SourceKind,
    VideoPreset,
    VideoSource,
    ensure_frames,
    frame_files,
    sample_frames,
    video_source,
)
from fasteval.data.video.rows import RowFrames, row_frames
from fasteval.data.video.snapshot import HF_ENDPOINT, HubDataset, download_snapshot, locate_snapshot, unpack
from fasteval.data.video.subtitles import subtitle_lines, subtitle_listing
from fasteval.data.video.tsv import DatasetTsv, SnapshotError, build_tsv

__all__ = [
    "HF_ENDPOINT",
    "DatasetTsv",
    "ExtractProgress",
    "ExtractResult",
    "FrameCacheError",
    "FramePlan",
    "HubDataset",
    "NoFrames",
    "PresetError",
    "RowFrames",
    "Sampler",
    "SnapshotError",
    "SourceKind",
    "VideoDataset",
    "VideoError",
    "VideoFailure",
    "VideoInfo",
    "VideoPreset",
    "VideoSource",
    "build_tsv",
    "dataset_sources",
    "download_snapshot",
    "ensure_frames",
    "extract_frames",
    "frame_files",
    "locate_snapshot",
    "prepare_dataset",
    "row_frames",
    "sample_frames",
    "subtitle_lines",
    "subtitle_listing",
    "unpack",
    "video_source",
]
