"""Live progress of a run: done/total per dataset, req/s, output tok/s, errors, ETA.

A rich live display on a terminal; one plain line per finished dataset otherwise (CI logs,
pipes), so non-interactive output stays quiet and greppable.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from fasteval.inference.runner import Job
from fasteval.kinds import kind_named
from fasteval.report.files import headline
from fasteval.scoring.evaluate import Scored
from fasteval.types import Completion, Sample


class RunProgress:
    def __init__(self, console: Console, jobs: list[Job], rules: str) -> None:
        self.console = console
        self.rules = rules
        self._hits: dict[int, list[int]] = {}  # id(job) -> [exact-match hits, rows checked]
        self.live = console.is_terminal
        self._tasks: dict[int, TaskID] = {}
        self._jobs = jobs
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            disable=not self.live,
            refresh_per_second=4,
        )

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        for job in self._jobs:
            self._tasks[id(job)] = self._progress.add_task(
                f"{job.target.name} {job.spec.name}", total=job.rows, rate="", start=True
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def on_result(self, job: Job, sample: Sample, completion: Completion) -> None:
        tally = self._hits.setdefault(id(job), [0, 0])
        hit = self._exact_hit(job, sample, completion.text) if completion.ok and completion.text else None
        if hit is not None:
            tally[0] += hit
            tally[1] += 1
        if not self.live:
            return
        elapsed = max(time.perf_counter() - job.started, 1e-9)
        already = job.rows - job.todo
        rate = f"{job.done / elapsed:.1f} req/s  {job.out_tokens / elapsed:.0f} tok/s"
        if tally[1]:
            rate += f"  acc~{tally[0] / tally[1]:.3f}"
        if job.failed:
            rate += f"  [red]{job.failed} failed[/]"
        self._progress.update(self._tasks[id(job)], completed=already + job.done, rate=rate)

    def running_accuracy(self, job: Job) -> float | None:
        hits, n = self._hits.get(id(job), (0, 0))
        return hits / n if n else None

    def _exact_hit(self, job: Job, sample: Sample, text: str) -> int | None:
        """Per-row exact-match hit: a live hint, not the score (no judge, no circular groups, no pairs);
        None where the kind has no per-row hit (graded metrics) or the row no ground truth."""
        kind = kind_named(job.spec.kind)
        hit = kind.live_hit(job.spec, kind.live_item(job.spec, sample, text), self.rules)
        return None if hit is None else int(hit)

    def job_finished(self, job: Job, scored: Scored | None) -> None:
        score = ""
        if scored is not None:
            head = headline(scored)
            score = "  " + "  ".join(f"{escape(k)}={v:.4g}" for k, v in list(head.items())[:3])
        if job.todo == 0:
            line = f"{job.target.name} {job.spec.name}: every row already answered in the store{score}"
        else:
            line = f"{job.target.name} {job.spec.name}: {job.ok} answered, {job.failed} failed{score}"
        if self.live:
            self._progress.update(self._tasks[id(job)], completed=job.rows - job.todo + job.done)
            self._progress.console.print(line)
        else:
            self.console.print(line)
