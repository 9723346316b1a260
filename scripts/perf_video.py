"""`make perf`, video section: frame extraction, the client's cost per 8- and 64-frame request, time to
first request, and the CPU engine's utilisation against a minimal client sending the same bodies.

Data: a synthetic Video-MME snapshot made here (H.264 at 640x360, 30 fps, textured moving content so
the JPEGs are not trivially small), read through the real presets `Video-MME_8frame` and
`Video-MME_64frame` with `LMUData` pointing at it.

1. Extraction: `VideoRows.aiter_samples` over every video with an empty frame cache (the worker
   processes a run uses), frames written per second of wall time.
2. Client side, against tests/fault_server.py on loopback (no model): `bench.py --mode infer` CPU per
   request with the frames cached (a `--limit 1` run's CPU subtracted), and the time from the command
   to the server's first request with the frames cached and with an empty frame cache.
3. Engine: tiny-vlm on vLLM's CPU build; `bench.py --mode infer` at its default concurrency vs the
   best of a minimal aiohttp client (scripts/perf_suite.py's) sending the very bodies fasteval builds
   (`runner.request_body`), frames cached: request throughput ratio (target >= 0.95).

Run alone: `python -m scripts.perf_video --append perf/RESULTS.md` (`--no-engine`: parts 1-2 only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from scripts.perf_suite import (
    MINIMAL_CLIENT,
    REPO,
    TestServer,
    restore_cpus,
    run_process,
    run_timed,
    split_cpus,
)

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 30, 10
VIDEOS = 8
QUESTIONS_PER_VIDEO = 16  # rows share a video's frames, as Video-MME's three questions per video do
ENGINE_ROWS = {8: 128, 64: 48}  # rows per preset on the CPU engine
MINIMAL_CONCURRENCIES = (16, 64, 256)  # the engine serves 64 sequences at once; fasteval's default is 256
FASTEVAL_CONCURRENCIES = ("64", "256")
ROUNDS = 3
MAX_TOKENS = 16
SECTION = "## Video benchmarks (scripts/perf_video.py)"


def write_clip(path: Path, seed: int) -> None:
    """A textured clip: a blocky noise background scrolling under a moving bright block, H.264 (PyAV)."""
    import av

    rng = np.random.default_rng(seed)  # 8x8-pixel blocks: detail at about a natural frame's JPEG size
    coarse = rng.integers(0, 256, size=(HEIGHT // 8, WIDTH * 2 // 8, 3), dtype=np.uint8)
    texture = coarse.repeat(8, axis=0).repeat(8, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for k in range(FPS * SECONDS):
            shift = k * 2 % WIDTH
            frame = texture[:, shift : shift + WIDTH].copy()
            x = k * 3 % (WIDTH - 80)
            frame[100:180, x : x + 80] = (250, 250, 250)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_snapshot(lmudata: Path) -> Path:
    """`lmudata/Video-MME/`: the videos and a TSV in Video-MME's columns and categories."""
    root = lmudata / "Video-MME"
    for v in range(VIDEOS):
        write_clip(root / "video" / f"perf{v:02d}.mp4", seed=v)
    columns = (
        "index video video_path duration domain candidates sub_category task_type subtitle_path question"
    )
    header = "\t".join([*columns.split(), "answer"])
    lines = [header]
    rng = random.Random(0)
    for i in range(VIDEOS * QUESTIONS_PER_VIDEO):
        v = f"perf{i // QUESTIONS_PER_VIDEO:02d}"
        options = repr([f"{c}. option {c} of question {i}" for c in "ABCD"])
        lines.append(
            f"{i}\t{v}\t./video/{v}.mp4\tshort\tLife Record\t{options}\tDaily Life\tCounting Problem\t"
            f"./subtitle/{v}.srt\tHow often does the block cross the frame in clip {i}?\t{rng.choice('ABCD')}"
        )
    (root / "Video-MME.tsv").write_text("\n".join(lines) + "\n")
    return root


def frames_on_disk(folder: Path) -> tuple[int, int]:
    files = list(folder.rglob("*.jpg"))
    return len(files), sum(f.stat().st_size for f in files)


def extraction(lmudata: Path, work: Path) -> dict[str, Any]:
    """Part 1: every video of each preset extracted by the run's worker processes into an empty cache."""
    from fasteval.catalog import get_spec
    from fasteval.data.video_rows import default_workers, open_video

    out: dict[str, Any] = {"workers": default_workers()}
    for preset in ("Video-MME_8frame", "Video-MME_64frame"):
        frames = work / f"extract-{preset}"
        _, dataset = open_video(get_spec(preset), lmudata, cache_dir=work / "cache", frames=frames)

        t0 = time.perf_counter()
        rows = asyncio.run(_drain(dataset))
        wall = time.perf_counter() - t0
        n, size = frames_on_disk(frames)
        out[preset] = {
            "rows": rows,
            "videos": VIDEOS,
            "frames_written": n,
            "wall_s": round(wall, 3),
            "frames_per_s": round(n / wall, 1),
            "jpeg_kb_per_frame": round(size / n / 1024, 1),
        }
    return out


async def _drain(dataset: Any) -> int:
    return sum([1 async for _ in dataset.aiter_samples()])


def client_side(lmudata: Path, work: Path) -> dict[str, Any]:
    """Part 2: the client's own cost per video request and its time to the first request."""
    server = TestServer()
    out: dict[str, Any] = {}
    try:
        base = [sys.executable, str(REPO / "bench.py"), "--mode", "infer", "--api-base", server.url]
        for preset, frames in (("Video-MME_8frame", 8), ("Video-MME_64frame", 64)):
            cache = work / f"cache-{frames}"
            env = dict(os.environ, LMUData=str(lmudata), FASTEVAL_CACHE=str(cache), PRED_FORMAT="tsv")

            def bench(work_dir: str, *extra: str, env: dict[str, str] = env, preset: str = preset) -> Any:
                cmd = [*base, "--data", preset, "--work-dir", str(work / work_dir), *extra]
                return run_process(cmd, env, server)

            cold = bench(f"cold{frames}", "--limit", "1")  # empty frame cache: workers start, decode
            bench(f"warm{frames}")  # every frame extracted once
            one = bench(f"one{frames}", "--limit", "1")
            full = bench(f"full{frames}")
            out[preset] = {
                "frames_per_request": frames,
                "requests": full.requests,
                "cpu_ms_per_request": round((full.cpu_s - one.cpu_s) / max(full.requests - 1, 1) * 1000, 3),
                "max_rss_mb": round(full.max_rss_mb, 1),
                "first_request_cached_s": round(one.first_request_s or float("nan"), 3),
                "first_request_empty_cache_s": round(cold.first_request_s or float("nan"), 3),
            }
    finally:
        server.close()
    return out


def write_bodies(
    preset: str, lmudata: Path, frames: Path, cache: Path, rows: int, served: str, path: Path
) -> None:
    """The exact bodies `bench.py` sends for the first `rows` rows (`runner.request_body`), one per line."""
    from fasteval.catalog import get_spec
    from fasteval.data.video_rows import open_video
    from fasteval.inference.runner import Target, request_body
    from fasteval.models.registry import get_model
    from fasteval.types import GenParams

    spec = get_spec(preset)
    _, dataset = open_video(spec, lmudata, cache_dir=cache, frames=frames)
    target = Target(served, served, (), prompt_style=get_model(served).prompt_style)
    params = GenParams(max_tokens=MAX_TOKENS)
    with path.open("wb") as f:
        for i, sample in enumerate(dataset.iter_samples()):
            if i == rows:
                break
            f.write(request_body(target, spec, sample, params) + b"\n")


def engine(lmudata: Path, work: Path) -> dict[str, Any]:
    """Part 3: fasteval vs a minimal client on the tiny VLM served by vLLM's CPU build.

    As in perf_suite's side-by-side, the engine's threads are kept off one CPU and every client runs
    on it, so a client's own CPU use does not slow the engine it measures; the CPU engine's throughput
    swings from run to run, so the two alternate over `ROUNDS` rounds and each keeps its best.
    """
    from fasteval.cli.args import DEFAULT_CONCURRENCY
    from fasteval.models.registry import get_model
    from fasteval.serving.serve import ensure_cpu_engine, serve, stop

    ensure_cpu_engine()
    entry = get_model("tiny-vlm")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    state = work / "servers"
    extra = ("--no-enable-prefix-caching", "--mm-processor-cache-gb", "0")
    started = serve(entry, port=port, state_dir=state, timeout_s=300, extra=extra).state
    out: dict[str, Any] = {"engine_argv": " ".join(started.argv), "fasteval_concurrency": DEFAULT_CONCURRENCY}
    script = work / "minimal_client.py"
    script.write_text(MINIMAL_CLIENT)
    endpoint = f"{started.base_url}/chat/completions"
    client_cpus, before = split_cpus(started.pgid)
    out["client_cpus"] = None if client_cpus is None else sorted(client_cpus)
    try:
        for frames, rows in ENGINE_ROWS.items():
            preset = f"Video-MME_{frames}frame"
            cache = work / f"engine-cache-{frames}"
            env = dict(os.environ, LMUData=str(lmudata), FASTEVAL_CACHE=str(cache), PRED_FORMAT="tsv")
            bodies = work / f"bodies{frames}.jsonl"
            write_bodies(
                preset, lmudata, cache / "frames", cache / "datasets", rows, started.served_name, bodies
            )
            cmd = [
                sys.executable, str(REPO / "bench.py"), "--mode", "infer", "--data", preset,
                "--api-base", started.base_url, "--model", started.served_name, "--limit", str(rows),
                "--max-tokens", str(MAX_TOKENS),
            ]  # fmt: skip
            runs: dict[str, list[float]] = {
                c: [] for c in {*FASTEVAL_CONCURRENCIES, str(DEFAULT_CONCURRENCY)}
            }
            points: list[dict[str, Any]] = []
            for i in range(ROUNDS):
                minimal = [
                    sys.executable,
                    str(script),
                    endpoint,
                    str(bodies),
                    ",".join(map(str, MINIMAL_CONCURRENCIES)),
                ]
                points += json.loads(run_timed(minimal, cpus=client_cpus).stdout)
                for c in runs:
                    wd = work / f"fe{frames}-c{c}-{i}"
                    run_timed(
                        [*cmd, "--concurrency", str(c), "--work-dir", str(wd)], env=env, cpus=client_cpus
                    )
                    summary = json.loads((wd / started.served_name / "summary.json").read_text())
                    runs[c].append(summary["datasets"][preset]["perf"]["request_throughput"])
            best_by_c: dict[str, float] = {}
            for pt in points:
                c = str(pt["concurrency"])
                best_by_c[c] = max(best_by_c.get(c, 0.0), pt["request_throughput"])
            best = max(best_by_c.values())
            fe = {c: max(v) for c, v in runs.items()}
            out[preset] = {
                "rows": rows,
                "fasteval_req_s": {c: round(v, 3) for c, v in fe.items()},
                "fasteval_runs": runs,
                "minimal_best_req_s": round(best, 3),
                "minimal_best_by_concurrency": {c: round(v, 3) for c, v in best_by_c.items()},
                "minimal_points": points,
                "ratio": round(fe[str(DEFAULT_CONCURRENCY)] / best, 3),
                "ratio_equal_concurrency": {
                    c: round(fe[c] / best_by_c[c], 3) for c in FASTEVAL_CONCURRENCIES
                },
            }
    finally:
        restore_cpus(before)
        stop(state_dir=state)
    return out


def disk_per_frame() -> dict[str, Any]:
    """JPEG size per frame at VLMEvalKit's settings (Pillow, quality 75) on a natural photograph
    (matplotlib's bundled grace_hopper.jpg, 512x600), as bits per pixel, scaled to common video sizes:
    synthetic frames compress unlike real ones, so the README's estimate comes from a real photo."""
    import io

    import matplotlib
    from PIL import Image

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(photo) as im:
        rgb = im.convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG")
    bpp = buf.tell() * 8 / (rgb.width * rgb.height)
    sizes = {"640x360": 640 * 360, "1280x720": 1280 * 720, "1920x1080": 1920 * 1080}
    return {
        "bits_per_pixel": round(bpp, 3),
        "kb_per_frame": {k: round(px * bpp / 8 / 1024, 1) for k, px in sizes.items()},
    }


def _spread(point: dict[str, Any]) -> str:
    rates = [p["request_throughput"] for p in point["minimal_points"]]
    return f"{min(rates):.2f}-{max(rates):.2f} req/s"


def markdown(r: dict[str, Any]) -> str:
    ex, cl = r["extraction"], r["client"]
    lines = [
        SECTION,
        "",
        f"Measured {r['date']} on {os.cpu_count()} cores"
        + (f" (load average {r['load_average']} at the start)" if "load_average" in r else "")
        + f". Synthetic Video-MME snapshot: {VIDEOS} H.264 "
        "videos "
        f"of {WIDTH}x{HEIGHT} at {FPS} fps, {SECONDS} s each, {QUESTIONS_PER_VIDEO} questions per video; the "
        "real presets `Video-MME_8frame` / `Video-MME_64frame`.",
        "",
        "| figure | 8 frames | 64 frames | target |",
        "|---|---|---|---|",
    ]
    a, b = ex["Video-MME_8frame"], ex["Video-MME_64frame"]
    lines.append(
        f"| frame extraction, {ex['workers']} worker process(es), empty cache | {a['frames_per_s']} frames/s "
        f"({a['frames_written']} in {a['wall_s']} s) | {b['frames_per_s']} frames/s "
        f"({b['frames_written']} in "
        f"{b['wall_s']} s) | |"
    )
    a, b = cl["Video-MME_8frame"], cl["Video-MME_64frame"]
    lines += [
        f"| client CPU per request, frames cached | {a['cpu_ms_per_request']} ms | "
        f"{b['cpu_ms_per_request']} ms | |",
        f"| peak RSS, {a['requests']} requests | {a['max_rss_mb']} MB | {b['max_rss_mb']} MB | flat |",
        f"| command to first request, frames cached | {a['first_request_cached_s']} s | "
        f"{b['first_request_cached_s']} s | < 1 s |",
        f"| command to first request, empty frame cache | {a['first_request_empty_cache_s']} s | "
        f"{b['first_request_empty_cache_s']} s | |",
    ]
    if "engine" in r and "error" not in r["engine"]:
        e = r["engine"]
        a, b = e["Video-MME_8frame"], e["Video-MME_64frame"]
        c = str(e["fasteval_concurrency"])
        fc, mc = " / ".join(FASTEVAL_CONCURRENCIES), " / ".join(map(str, MINIMAL_CONCURRENCIES))

        def each(point: dict[str, Any], key: str, keys: Any) -> str:
            return " / ".join(f"{point[key][str(k)]}" for k in keys)

        lines += [
            f"| engine ({a['rows']} / {b['rows']} rows): fasteval at --concurrency {fc} (default {c}), "
            f"req/s | {each(a, 'fasteval_req_s', FASTEVAL_CONCURRENCIES)} | "
            f"{each(b, 'fasteval_req_s', FASTEVAL_CONCURRENCIES)} | |",
            f"| engine: minimal client, same bodies, at {mc}, req/s | "
            f"{each(a, 'minimal_best_by_concurrency', MINIMAL_CONCURRENCIES)} | "
            f"{each(b, 'minimal_best_by_concurrency', MINIMAL_CONCURRENCIES)} | |",
            f"| engine utilisation: fasteval's default vs the minimal client's best | {a['ratio']} | "
            f"{b['ratio']} | >= 0.95 |",
            f"| engine utilisation at equal concurrency {fc} | "
            f"{each(a, 'ratio_equal_concurrency', FASTEVAL_CONCURRENCIES)} | "
            f"{each(b, 'ratio_equal_concurrency', FASTEVAL_CONCURRENCIES)} | |",
            f"| minimal client's own spread over the rounds (noise floor) | {_spread(a)} | {_spread(b)} | |",
        ]
    elif "engine" in r:
        lines.append(f"| engine | not measured: {r['engine']['error']} | | |")
    d = r["disk"]
    lines += [
        "",
        "Frame cache on disk: Pillow's JPEG at quality 75 (VLMEvalKit's) takes "
        f"{d['bits_per_pixel']} bits per "
        "pixel on a natural photograph (matplotlib's grace_hopper.jpg, 512x600), so about "
        + ", ".join(f"{v} KB at {k}" for k, v in d["kb_per_frame"].items())
        + " per frame (the synthetic frames above: "
        f"{ex['Video-MME_8frame']['jpeg_kb_per_frame']} KB at {WIDTH}x{HEIGHT}).",
        "",
    ]
    if "engine" in r and "error" not in r["engine"]:
        lines += [f"Engine: `{r['engine']['engine_argv']}`", ""]
    return "\n".join(lines)


def _replace_section(path: Path, text: str) -> None:
    """Add the section to `path`, or replace it there, keeping every other section."""
    old = path.read_text() if path.is_file() else ""
    if SECTION in old:
        head, _, tail = old.partition(SECTION)
        nxt = tail.find("\n## ")
        old = head + (tail[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--append", type=Path, help="add (or replace) the section in this markdown file")
    p.add_argument("--no-engine", action="store_true", help="parts 1-2 only (no vLLM server)")
    p.add_argument(
        "--render", type=Path, help="write the section from a saved RESULTS_video.json, measure nothing"
    )
    args = p.parse_args(argv)
    if args.render is not None:
        text = markdown(json.loads(args.render.read_text()))
        if args.append is not None:
            _replace_section(args.append, text)
        print(text)
        return 0
    work = Path(tempfile.mkdtemp(prefix="fasteval-perf-video-"))
    try:
        lmudata = work / "LMUData"
        write_snapshot(lmudata)
        results: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "load_average": round(os.getloadavg()[0], 1),  # other work on the machine skews every figure
            "disk": disk_per_frame(),
        }
        results["extraction"] = extraction(lmudata, work)
        results["client"] = client_side(lmudata, work)
        if not args.no_engine:
            try:
                results["engine"] = engine(lmudata, work)
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                results["engine"] = {"error": str(exc)[-500:]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = markdown(results)
    if args.append is not None:
        _replace_section(args.append, text)
        args.append.with_name("RESULTS_video.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
