"""`fasteval report [WORK_DIR ...]`: read the work dirs, write one HTML page or print Markdown.

The only module of the report with side effects (reading flags, writing the file, printing).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fasteval.cli.settings import load_settings
from fasteval.data.tabular import TableError, write_text_atomic
from fasteval.errors import FastevalError
from fasteval.report import board, html, markdown
from fasteval.report.collect import collect
from fasteval.report.resample import COMPOSITE_RESAMPLES

DEFAULT_WORK_DIR = "outputs"
LARGE_PAGE_BYTES = 5 << 20  # a browser still opens it, but it is no longer a page to mail around


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fasteval report",
        description="Compare models across benchmarks: one self-contained HTML page, or Markdown.",
    )
    p.add_argument("work_dirs", nargs="*", type=Path, default=[Path(DEFAULT_WORK_DIR)], metavar="WORK_DIR")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write")
    p.add_argument("--format", choices=("html", "md"), default="html", help="md prints to stdout")
    p.add_argument(
        "--samples",
        type=int,
        default=board.DEFAULT_SAMPLES,
        metavar="N",
        help=f"rows per sample-viewer filter (default {board.DEFAULT_SAMPLES})",
    )
    p.add_argument(
        "--lmudata",
        type=Path,
        help="dataset TSVs for questions and image thumbnails (default: $LMUData, else ~/LMUData)",
    )
    p.add_argument("--no-images", action="store_true", help="no image thumbnails in the sample viewer")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=COMPOSITE_RESAMPLES,
        metavar="N",
        help=f"resamples for composite headlines' intervals (MME...; default {COMPOSITE_RESAMPLES}, 0: none)",
    )
    p.add_argument("--title", default="fasteval report")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value in (("--samples", args.samples), ("--bootstrap", args.bootstrap)):
        if value < 0:  # a negative count once sliced rows off the end (`[:-5]`) without a word
            parser.error(f"{flag} {value}: must be 0 or more")
    missing = [str(d) for d in args.work_dirs if not d.is_dir()]
    if missing:
        print(f"fasteval report: error: no such work dir: {', '.join(missing)}", file=sys.stderr)
        return 2
    runs = collect(args.work_dirs)
    if not runs:
        dirs = ", ".join(map(str, args.work_dirs))
        print(f"fasteval report: error: no score files (*_acc.csv, *_score.csv) in {dirs}", file=sys.stderr)
        return 2
    try:
        lmudata = args.lmudata or load_settings().lmudata  # $LMUData (or .env), as bench.py reads it
    except FastevalError as exc:  # an unreadable .env
        print(f"fasteval report: error: {exc}", file=sys.stderr)
        return 2
    report = board.build(
        runs,
        samples=args.samples,
        sources=args.work_dirs,
        lmudata=lmudata,
        images=not args.no_images,
        resamples=args.bootstrap,
    )
    if args.format == "md":
        sys.stdout.write(markdown.render(report))
        return 0
    generated = time.strftime("Generated %Y-%m-%d %H:%M UTC.", time.gmtime())
    page = html.render(report, title=args.title, generated=generated)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, page)
    except FileExistsError:
        print(
            f"fasteval report: error: {args.out.parent} is a file: pass --out DIR/report.html",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"fasteval report: error: cannot write {args.out}: {exc.strerror}; pass a writable --out",
              file=sys.stderr)  # fmt: skip
        return 2
    except TableError as exc:
        print(f"fasteval report: error: {exc}".replace(" (stored answers are kept)", ""), file=sys.stderr)
        return 2
    size_bytes = len(page.encode())
    size = f"{size_bytes // 1024} KiB"
    if size_bytes > LARGE_PAGE_BYTES:
        print(f"fasteval report: the page is {size}: --samples fewer or --no-images makes it lighter")
    print(f"{args.out}: {len(report.models)} models × {len(report.datasets)} benchmarks, {size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
