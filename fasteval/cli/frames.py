"""`fasteval frames --data PRESET ...` (or `python -m fasteval.cli.frames`): a video benchmark's frames,
extracted ahead of a run into VLMEvalKit's frame cache, with a progress line.

Per preset: find (or download) the dataset snapshot, generate its TSV, then decode and JPEG-encode
every video's sampled frames in worker processes. A later `bench.py --data PRESET` (or VLMEvalKit)
finds the frames in `$LMUData/images/<dataset>/` and decodes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from fasteval.catalog import get_spec
from fasteval.cli.settings import load_settings, merged_env
from fasteval.data.video.dataset import prepare_dataset
from fasteval.data.video.extract import ExtractProgress, dataset_sources, extract_frames
from fasteval.data.video.plan import PresetError, VideoPreset
from fasteval.data.video.snapshot import HF_ENDPOINT, HubDataset
from fasteval.errors import FastevalError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fasteval frames",
        description="Extract the frames of video benchmarks ahead of a run, in VLMEvalKit's frame cache.",
    )
    p.add_argument(
        "--data", nargs="+", required=True, metavar="PRESET", help="video benchmarks, e.g. Video-MME_8frame"
    )
    p.add_argument("--lmudata", type=Path, help="dataset and frame cache (default: $LMUData, else ~/LMUData)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="decoding processes (default: one per core)"
    )
    p.add_argument("--no-download", action="store_true", help="never download a missing dataset")
    return p


def video_preset(name: str) -> tuple[VideoPreset, HubDataset | None, str | None]:
    """The benchmark's video settings (its TOML's `[video]` table), its hub dataset and pinned TSV MD5."""
    spec = get_spec(name)
    video: Any = getattr(spec, "video", None)
    if video is None:
        raise PresetError(
            f"{name} is not a video benchmark (its TOML has no [video] table); name a video preset"
        )
    repo = getattr(video, "repo", None)
    hub = HubDataset(repo, getattr(video, "revision", None) or "main") if repo else None
    return VideoPreset.of(video), hub, spec.md5


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = merged_env(os.environ if environ is None else environ, Path.cwd() / ".env")
    try:
        settings = load_settings(env, Path.cwd())
        lmudata = args.lmudata or settings.lmudata
        frames = settings.cache_dir / "frames"  # where a run writes and reads them (cli.config)
        presets = [(name, *video_preset(name)) for name in args.data]  # unknown names fail first
        failed = 0
        for name, preset, hub, md5 in presets:
            failed += _run(name, preset, hub, md5, (lmudata, frames), env, args, sys.stderr)
    except FastevalError as exc:
        print(f"fasteval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "fasteval: interrupted; every frame written is kept: run the same command to go on",
            file=sys.stderr,
        )
        return 130
    return 1 if failed else 0


def _run(
    name: str,
    preset: VideoPreset,
    hub: HubDataset | None,
    md5: str | None,
    where: tuple[Path, Path],
    env: Mapping[str, str],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    """One preset: its dataset prepared under `$LMUData`, its frames written where a run writes them
    (fasteval's frame cache), VLMEvalKit's complete frames under `$LMUData/images` left as they are."""
    lmudata, frames = where
    dataset = prepare_dataset(
        preset,
        hub,
        lmudata,
        env,
        expected_md5=md5,
        download=not args.no_download,
        token=env.get("HF_TOKEN") or env.get("HUGGINGFACE_TOKEN") or None,
        endpoint=env.get("HF_ENDPOINT") or HF_ENDPOINT,
        progress=out.isatty(),
    )
    if dataset.tsv.warning:
        print(f"fasteval: warning: {dataset.tsv.warning}", file=out)
    sources = dataset_sources(preset, dataset.snapshot, dataset.rows())
    line = _ProgressLine(name, out)
    result = extract_frames(
        preset, sources, frames, workers=args.workers, on_progress=line.update, reuse=lmudata
    )
    line.close()
    for failure in result.failures:
        print(f"fasteval: error: {failure.error}", file=out)
    print(
        f"{name}: {result.total} videos ({result.cached} already cached, {result.extracted} extracted, "
        f"{len(result.failures)} failed), {result.frames} frames written in {result.elapsed_s:.1f}s "
        f"to {frames / 'images' / preset.dataset}",
        file=out,
    )
    return len(result.failures)


class _ProgressLine:
    """One rewritten line on a terminal; elsewhere a line per tenth of the videos (quiet, greppable logs)."""

    def __init__(self, name: str, out: TextIO) -> None:
        self.name, self.out, self.live = name, out, out.isatty()
        self._tenth = -1

    def update(self, p: ExtractProgress) -> None:
        eta = "?" if p.eta_s is None else _duration(p.eta_s)
        text = (
            f"{self.name}: {p.done}/{p.total} videos ({p.cached} cached, {p.failed} failed), "
            f"{p.frames_per_s:.1f} frames/s, ETA {eta}"
        )
        if self.live:
            self.out.write(f"\r{text}\x1b[K")
            self.out.flush()
            return
        tenth = p.done * 10 // max(p.total, 1)
        if tenth != self._tenth:
            self._tenth = tenth
            print(text, file=self.out)

    def close(self) -> None:
        if self.live:
            self.out.write("\n")


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


if __name__ == "__main__":
    sys.exit(main())
