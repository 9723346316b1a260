"""`bench.py --dry-run N`: print the first N request bodies of each benchmark, contacting no server.

Published numbers depend on settings nobody sees in a score table (tile limits, pixel ranges, token
limits, prompts), so they are shown before anything is sent. The bodies come from
`runner.request_body`, the function a real run sends, with the run's own generation parameters; only
the image base64 is shortened (to its MIME type and decoded size), everything else is byte-for-byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

from fasteval.config import RunConfig
from fasteval.data.video_rows import frame_cache, open_dataset
from fasteval.errors import FastevalError
from fasteval.inference.runner import Target, job_keys, request_body, samples_to_send, target_params
from fasteval.types import BenchmarkSpec, GenParams

_DATA_URL = re.compile(r"data:([^;,]+);base64,(.*)", re.DOTALL)


def shorten_images(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with each image data URL replaced by `data:MIME;base64,<N bytes>` (N: the decoded size)."""
    out = json.loads(json.dumps(body))
    for message in out.get("messages", ()):
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            image = part.get("image_url") if isinstance(part, dict) else None
            url = image.get("url") if isinstance(image, dict) else None
            match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
            if match and image is not None:
                b64 = match.group(2)
                size = len(b64) * 3 // 4 - len(b64) + len(b64.rstrip("="))
                image["url"] = f"data:{match.group(1)};base64,<{size} bytes>"
    return dict(out)


def bodies(target: Target, spec: BenchmarkSpec, samples: Iterator[Any], params: GenParams) -> Iterator[str]:
    """One JSON line per sample: the body `target` would be sent, images shortened."""
    for sample in samples:
        body = json.loads(request_body(target, spec, sample, params))
        yield json.dumps(shorten_images(body), ensure_ascii=False)


def dry_run(
    cfg: RunConfig,
    specs: Sequence[BenchmarkSpec],
    targets: Sequence[Target],
    out: TextIO,
    err: TextIO,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Write the first `cfg.dry_run` bodies of each benchmark for each of `targets` (from
    `targets.resolve_targets(cfg, contact=False)`, the run's own resolver) to `out`, the rows and
    order `--limit N` sends; a header per (model, benchmark) to `err` says which settings they carry.
    `environ` locates video snapshots (the Hugging Face cache variables)."""
    n = cfg.dry_run or 0
    params = GenParams(max_tokens=cfg.max_tokens, temperature=cfg.temperature, timeout_s=cfg.timeout)
    for spec in specs:
        frames = frame_cache(cfg.dataset_cache, cfg.frame_cache)
        file, dataset = open_dataset(
            spec,
            cfg.lmudata,
            cache_dir=cfg.dataset_cache,
            frames=frames,
            env=environ or {},
            download=not cfg.no_download,
        )
        if not dataset.has_images:
            raise FastevalError(f"{file.path} has no image column: nothing would be sent for {spec.name}")
        wanted = set(job_keys(dataset, n))  # the rows `--limit N` sends, in the order it sends them
        for target in targets:
            plan = target.plan
            err.write(
                f"# {target.name} / {spec.name}: first {n} of {len(dataset)} requests; family {plan.family}, "
                f"engine form {plan.wire}, max_tokens {target_params(target, params).max_tokens}\n"
                f"# {target.origin['request_settings']['settings']}\n"
            )
            for line in bodies(target, spec, samples_to_send(dataset, wanted), params):
                out.write(line + "\n")
    out.flush()
    return 0
