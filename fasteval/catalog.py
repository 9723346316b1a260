"""The benchmark catalog: one `benchmarks/<NAME>.toml` per benchmark, read into `BenchmarkSpec` and checked
against the kinds and scorers that exist (so it sits above both layers).

Adding a benchmark of a known kind is adding one TOML file; nothing in fasteval branches on a
dataset's name, so everything a layer needs to know about a benchmark is a field here.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from fasteval.errors import FastevalError
from fasteval.kinds import KINDS
from fasteval.resources import data_dir, unsafe_name
from fasteval.scoring import SCORERS
from fasteval.types import SAMPLERS, BenchmarkSpec, VideoSpec

OFFICIAL_RULES: frozenset[str] = frozenset({"mme", "pope", "mmstar", "seed"})
_REQUIRED = ("name", "kind", "scorer")
_STR_FIELDS = ("name", "kind", "scorer", "judge", "suffix", "description")
_OPTIONAL_STR_FIELDS = ("url", "md5", "official_rule")


class UnknownBenchmark(FastevalError):
    """A benchmark name with no `benchmarks/<NAME>.toml`."""


class DataNameError(FastevalError):
    """A `--data` value that is a path or cannot name files under the work dir."""


class BenchmarkSpecError(FastevalError):
    """A benchmark TOML file that does not describe a valid `BenchmarkSpec`."""


def get_spec(name: str) -> BenchmarkSpec:
    """The spec of benchmark `name` (case-sensitive, as VLMEvalKit's `--data`)."""
    specs = all_specs()
    if name in specs:
        return specs[name]
    same_case = [n for n in specs if n.lower() == name.lower()]  # `mme` -> MME first
    close = same_case or difflib.get_close_matches(name, specs, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(specs))}"
    raise UnknownBenchmark(f"unknown benchmark {name!r}: {hint} (or add benchmarks/{name}.toml)")


def resolve_spec(name: str, lmudata: Path) -> BenchmarkSpec:
    """`get_spec`, or, as VLMEvalKit does for an unknown `--data` name whose
    `$LMUData/{name}.tsv` exists with `A` and `B` columns, a custom multiple-choice benchmark."""
    check_data_name(name, lmudata)
    try:
        return get_spec(name)
    except UnknownBenchmark:
        tsv = lmudata / f"{name}.tsv"
        if not tsv.is_file():
            raise
        with tsv.open(encoding="utf-8", errors="replace") as f:
            header = f.readline().rstrip("\r\n").split("\t")
        if not {"A", "B"} <= set(header):
            raise UnknownBenchmark(
                f"{tsv} has no A and B option columns, so it is not a custom multiple-choice benchmark; "
                f"describe it in benchmarks/{name}.toml"
            ) from None
        return BenchmarkSpec(
            name=name,
            kind="mcq",
            url=None,
            md5=None,
            scorer="mcq",
            description=f"custom multiple-choice benchmark read from {tsv}",
        )


class MissingColumn(FastevalError):
    """A dataset file without a column its benchmark's kind or scorer reads."""


def input_columns(spec: BenchmarkSpec) -> tuple[str, ...]:
    """The dataset columns a benchmark needs beyond index, question and answer: its kind's (prompt and
    extraction) and its scorer's (grouping it cannot do without), as each declares them."""
    needed = (*KINDS[spec.kind].input_columns, *SCORERS[spec.scorer].requires)
    return tuple(dict.fromkeys(needed))


def check_columns(spec: BenchmarkSpec, columns: Collection[str], source: Path) -> None:
    """One line naming the first missing column and the file, before any request is sent."""
    present = {c.lower() if not (len(c) == 1 and c.isupper()) else c for c in columns}
    for col in input_columns(spec):
        if col not in present:
            raise MissingColumn(
                f"{source} has no `{col}` column, which {spec.name} ({spec.kind} kind, {spec.scorer} scorer) "
                "needs: use the full VLMEvalKit TSV, or add the column"
            )


def check_data_name(name: str, lmudata: Path) -> None:
    """`--data` takes names: a benchmark's name becomes part of every output path, and a custom TSV is
    found by name in `$LMUData` (as VLMEvalKit finds it), so a path is refused with how to register it."""
    looks_like_path = "/" in name or "\\" in name or name.lower().endswith((".tsv", ".csv", ".xlsx"))
    if looks_like_path:
        stem = Path(name.replace("\\", "/")).stem or "NAME"
        raise DataNameError(
            f"--data {name!r} is a path; --data takes benchmark names: copy the TSV to {lmudata}/{stem}.tsv "
            f"and pass --data {stem} (a multiple-choice TSV with A and B columns runs as is; any other "
            f"kind needs benchmarks/{stem}.toml)"
        )
    why = unsafe_name(name)
    if why is not None:
        raise DataNameError(f"--data {name!r} cannot be a benchmark name: {why}; use a plain name")


def all_specs() -> dict[str, BenchmarkSpec]:
    """Every benchmark defined in the `benchmarks` data folder, by name."""
    return dict(_load_dir(data_dir("benchmarks")))


@cache
def _load_dir(folder: Path) -> tuple[tuple[str, BenchmarkSpec], ...]:
    return tuple((path.stem, load_spec(path)) for path in sorted(folder.glob("*.toml")))


def load_spec(path: Path) -> BenchmarkSpec:
    """Parse and validate one benchmark TOML file; every problem is one line naming file and field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BenchmarkSpecError(f"{path}: invalid TOML ({exc}); fix the syntax") from None
    return spec_from_mapping(raw, source=str(path), expected_name=path.stem)


def spec_from_mapping(raw: dict[str, Any], *, source: str, expected_name: str | None = None) -> BenchmarkSpec:
    """Build a `BenchmarkSpec` from a parsed TOML table, checking names, types and allowed values."""

    def bad(field: str, why: str) -> BenchmarkSpecError:
        return BenchmarkSpecError(f"{source}: field {field!r} {why}")

    known = {f.name for f in fields(BenchmarkSpec)}
    for key in raw:
        if key not in known:
            raise bad(key, f"is not a benchmark field; use one of {', '.join(sorted(known))}")
    for key in _REQUIRED:
        if key not in raw:
            raise bad(key, "is missing; every benchmark needs name, kind and scorer")
    for key in _STR_FIELDS:
        if key in raw and not isinstance(raw[key], str):
            raise bad(key, f"must be a string, got {type(raw[key]).__name__}")
    for key in _OPTIONAL_STR_FIELDS:
        if key in raw and not isinstance(raw[key], str):
            raise bad(key, f"must be a string (omit it for none), got {type(raw[key]).__name__}")
    if expected_name is not None and raw["name"] != expected_name:
        raise bad("name", f"is {raw['name']!r} but the file is named {expected_name}.toml; make them equal")
    if raw["kind"] not in KINDS:
        raise bad("kind", f"is {raw['kind']!r}; use one of {', '.join(sorted(KINDS))}")
    if raw["scorer"] not in SCORERS:
        raise bad("scorer", f"is {raw['scorer']!r}; use one of {', '.join(sorted(SCORERS))}")
    official = raw.get("official_rule")
    if official is not None and official not in OFFICIAL_RULES:
        allowed = ", ".join(sorted(OFFICIAL_RULES))
        raise bad("official_rule", f"is {official!r}; use one of {allowed} or omit it")
    for flag in ("circular", "interleave_images"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise bad(flag, "must be true or false")
    md5 = raw.get("md5")
    if md5 is not None and (len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5)):
        raise bad("md5", f"is {md5!r}; expected 32 lowercase hex digits")
    suffixes = raw.get("style_suffix", {})
    if not isinstance(suffixes, dict) or not all(isinstance(v, str) for v in suffixes.values()):
        raise bad("style_suffix", 'must be a table of prompt style = "text"')
    video = raw.get("video")
    if video is not None and not isinstance(video, dict):
        raise bad("video", "must be a table ([video] with dataset, sampler and nframe or fps)")
    values = {k: v for k, v in raw.items() if k not in ("style_suffix", "video")}
    return BenchmarkSpec(
        **{"url": None, "md5": None, **values},
        style_suffix=tuple(sorted(suffixes.items())),
        video=None if video is None else video_from_mapping(video, source=source),
    )


_VIDEO_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,),
    "sampler": (str,),
    "nframe": (int,),
    "fps": (int, float),
    "subtitles": (bool,),
    "repo": (str,),
    "revision": (str,),
}


def video_from_mapping(raw: dict[str, Any], *, source: str) -> VideoSpec:
    """A benchmark's `[video]` table: VLMEvalKit's preset settings, checked as its `run.py` checks them
    (L188-192: exactly one of `nframe` and `fps`)."""

    def bad(field: str, why: str) -> BenchmarkSpecError:
        return BenchmarkSpecError(f"{source}: field 'video.{field}' {why}")

    for key, value in raw.items():
        if key not in _VIDEO_TYPES:
            close = difflib.get_close_matches(key, _VIDEO_TYPES, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(_VIDEO_TYPES)}"
            raise bad(key, f"is not a video field; {hint}")
        if isinstance(value, bool) and bool not in _VIDEO_TYPES[key]:  # TOML true is not a frame count
            raise bad(key, f"must be a {_VIDEO_TYPES[key][0].__name__}, got a boolean")
        if not isinstance(value, _VIDEO_TYPES[key]):
            raise bad(key, f"must be a {_VIDEO_TYPES[key][0].__name__}, got {type(value).__name__}")
    for key in ("dataset", "sampler"):
        if key not in raw:
            raise bad(key, "is missing; a [video] table names its dataset and its sampler")
    if raw["sampler"] not in SAMPLERS:
        close = difflib.get_close_matches(raw["sampler"], SAMPLERS, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(SAMPLERS)}"
        raise bad("sampler", f"is {raw['sampler']!r}; {hint}")
    nframe, fps = raw.get("nframe"), raw.get("fps")
    if (nframe is None) == (fps is None):
        both = "both are set" if nframe is not None else "neither is set"
        raise bad("nframe", f"and video.fps are exclusive and one is required ({both}): keep exactly one")
    if nframe is not None and nframe < 1:
        raise bad("nframe", f"is {nframe}; it must be at least 1")
    if fps is not None and not fps > 0:
        raise bad("fps", f"is {fps}; it must be above 0")
    if fps is not None and raw["sampler"] == "mvbench":  # mvbench.py MVBench.build_prompt raises
        raise bad("fps", "is set but MVBench samples a fixed frame count; use nframe, or MVBench_MP4 for fps")
    return VideoSpec(**{**raw, "fps": None if fps is None else float(fps)})
