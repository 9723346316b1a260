"""The report as one self-contained HTML page: inline CSS, inline SVG, a little inline script.

Nothing is fetched (no CDN, font or image URL), so the file works opened from disk offline. Every
table is plain HTML, readable with JavaScript off; the script only adds filters and pair selection.
Each number carries its exact value in `data-value`, so tests (and readers) can check it against
the score file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from typing import Any

from fasteval.report.board import Cell, Comparison, Report, SampleRow, Section, Speed
from fasteval.report.chart import bar_chart, histogram_chart
from fasteval.report.compare import Interval

MAX_TEXT = 600  # characters of a prediction or question shown in the sample viewer
SPEED_FIELDS = (
    ("completed", "rows", "{:.0f}"),
    ("duration", "s", "{:.1f}"),
    ("request_throughput", "req/s", "{:.2f}"),
    ("output_throughput", "out tok/s", "{:.1f}"),
    ("mean_ttft_ms", "TTFT mean", "{:.1f}"),
    ("p50_ttft_ms", "TTFT p50", "{:.1f}"),
    ("p99_ttft_ms", "TTFT p99", "{:.1f}"),
    ("mean_tpot_ms", "TPOT mean", "{:.2f}"),
    ("p50_tpot_ms", "TPOT p50", "{:.2f}"),
    ("p99_tpot_ms", "TPOT p99", "{:.2f}"),
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1500px;
padding:12px 24px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}
th,td{border:1px solid #ddd;padding:3px 7px;vertical-align:top;text-align:left}
th{background:#f5f5f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ci,.meta{color:#666;font-size:12px}
.badge{display:inline-block;padding:0 5px;border-radius:3px;font-size:11px;background:#fde8c8;color:#8a4b00}
.hit{color:#1a7f37}.miss{color:#c62828}.pre{white-space:pre-wrap;max-width:420px;
overflow-wrap:anywhere;max-height:9em;overflow:auto}
nav a{margin-right:12px}.controls{margin:6px 0}.controls select{margin-right:12px}
svg.chart text{font-size:11px;fill:#333}svg.chart .legend{font-size:12px}
img.thumb{max-width:96px;max-height:96px;display:block;margin-bottom:4px}
svg.chart .whisker{stroke:#222;stroke-width:1}details{margin:6px 0}.note{color:#555;font-size:13px}
"""

SCRIPT = """
(function(){
  function rows(tbody){return Array.prototype.slice.call(tbody.querySelectorAll('tr'));}
  document.querySelectorAll('select[data-filter]').forEach(function(sel){
    var body=document.getElementById(sel.getAttribute('data-filter'));
    sel.addEventListener('change',function(){
      var tag=sel.value;
      rows(body).forEach(function(tr){
        var tags=(tr.getAttribute('data-tags')||'').split(' ');
        tr.hidden=!(tag==='*'||tags.indexOf(tag)>=0);
      });
    });
  });
  var pa=document.getElementById('pair-a'), pb=document.getElementById('pair-b');
  function pairs(){
    var a=pa.value,b=pb.value;
    rows(document.getElementById('pairs-body')).forEach(function(tr){
      var x=tr.getAttribute('data-a'),y=tr.getAttribute('data-b');
      var ok=(a==='*'||a===x||a===y)&&(b==='*'||b===x||b===y);
      tr.hidden=!ok;
    });
  }
  if(pa&&pb){pa.addEventListener('change',pairs);pb.addEventListener('change',pairs);}
  document.querySelectorAll('.js-only').forEach(function(el){el.hidden=false;});
})();
"""


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if abs(value) <= 1 else f"{value:.2f}"


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _td_num(value: float | None, extra: str = "") -> str:
    data = "" if value is None else f' data-value="{value!r}"'
    return f'<td class="num"{data}>{_num(value)}{extra}</td>'


def _interval(iv: Interval | None) -> str:
    if iv is None:
        return ""
    return f'<span class="ci" data-lo="{iv.lo!r}" data-hi="{iv.hi!r}">[{_num(iv.lo)}, {_num(iv.hi)}]</span>'


def _cell_interval(c: Cell) -> str:
    if c.interval is None:
        return '<span class="ci">no interval</span>'
    return f'{_interval(c.interval)} <span class="ci">{escape(c.interval.method)}</span>'


def _coverage(c: Cell) -> str:
    if c.scored is None:
        return "rows: -"
    total = f"/{c.total}" if c.total is not None else ""
    badge = ' <span class="badge">partial</span>' if c.partial else ""
    return f"{c.scored}{total} rows{badge}"


def _leaderboard(report: Report) -> str:
    head = "".join(
        f'<th><a href="#bench-{_attr(d)}">{escape(d)}</a><br><span class="meta">'
        f"{escape(_metric(report, d))}</span></th>"
        for d in report.datasets
    )
    body = []
    for m in report.models:
        tds = []
        for d in report.datasets:
            c = report.cells.get((m, d))
            if c is None:
                tds.append('<td class="num">-</td>')
                continue
            meta = f"{escape(c.rules)} · {escape(c.judge)} · {_coverage(c)}"
            tds.append(
                f'<td class="num" data-model="{_attr(m)}" data-dataset="{_attr(d)}" '
                f'data-metric="{_attr(c.metric)}" data-value="{c.value!r}" title="{_attr(c.note)}">'
                f"<b>{_num(c.value)}</b><br>{_cell_interval(c)}"
                f'<br><span class="meta">{meta}</span></td>'
            )
        body.append(f"<tr><th>{escape(m)}</th>{''.join(tds)}</tr>")
    return (
        f'<table id="leaderboard"><thead><tr><th>model</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _metric(report: Report, dataset: str) -> str:
    metrics = sorted({c.metric for (_, d), c in report.cells.items() if d == dataset})
    return " / ".join(metrics)


def _select(id_: str, options: Iterable[tuple[str, str]], *, label: str, filter_for: str = "") -> str:
    data = f' data-filter="{_attr(filter_for)}"' if filter_for else ""
    opts = "".join(f'<option value="{_attr(v)}">{escape(t)}</option>' for v, t in options)
    return f'<label>{escape(label)} <select id="{_attr(id_)}"{data}>{opts}</select></label>'


def _comparisons(report: Report) -> str:
    if not report.comparisons:
        return '<p class="note">No benchmark has per-sample results from two models.</p>'
    models = [("*", "any"), *((m, m) for m in report.models)]
    controls = (
        '<div class="controls js-only" hidden>'
        + _select("pair-a", models, label="model")
        + _select("pair-b", models, label="vs")
        + "</div>"
    )
    rows = "".join(_comparison_row(c) for c in report.comparisons)
    return (
        controls + '<table id="pairs"><thead><tr><th>benchmark</th><th>A</th><th>B</th><th>unit</th>'
        "<th>n</th><th>A</th><th>B</th><th>B − A</th><th>95% interval</th><th>p</th><th>test</th>"
        f'<th>B only / A only</th></tr></thead><tbody id="pairs-body">{rows}</tbody></table>'
    )


def _comparison_row(c: Comparison) -> str:
    p = c.paired
    discordant = f"{p.b_only} / {p.a_only}" if p.test.startswith("mid-p") else "-"
    return (
        f'<tr data-a="{_attr(c.model_a)}" data-b="{_attr(c.model_b)}" data-dataset="{_attr(c.dataset)}">'
        f"<td>{escape(c.dataset)}</td><td>{escape(c.model_a)}</td><td>{escape(c.model_b)}</td>"
        f"<td>{escape(c.unit)}</td><td class=num>{p.n}</td>{_td_num(p.mean_a)}{_td_num(p.mean_b)}"
        f'{_td_num(p.diff.value)}<td class="num">{_interval(p.diff)}</td>'
        f'<td class="num" data-value="{p.p_value!r}">{p.p_value:.3g}</td><td>{escape(p.test)}</td>'
        f'<td class="num">{discordant}</td></tr>'
    )


def _speeds(speeds: tuple[Speed, ...]) -> str:
    if not speeds:
        return '<p class="note">No serving figures: these scores come from rescored files.</p>'
    head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in SPEED_FIELDS)
    rows = []
    for s in speeds:
        cells = "".join(_speed_cell(s.perf.get(key), fmt) for key, _, fmt in SPEED_FIELDS)
        rows.append(
            f'<tr data-model="{_attr(s.model)}"><td>{escape(s.model)}</td><td>{escape(s.dataset)}</td>'
            f'<td title="{_attr(s.command)}">{escape(s.engine)}</td>{cells}'
            f"<td class=meta>{escape(s.settings)}</td></tr>"
        )
    return (
        '<table id="speed"><thead><tr><th>model</th><th>benchmark</th><th>engine</th>'
        f"{head}<th>settings</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Times in ms; TTFT to the first token chunk, TPOT = (E2EL − TTFT)/(n_out − 1), '
        "as vLLM's benchmark defines them, measured on the requests that produced the scores; "
        "hover an engine for its command line.</p>"
    )


def _speed_cell(value: Any, fmt: str) -> str:
    if not isinstance(value, int | float):
        return '<td class="num">-</td>'
    return f'<td class="num" data-value="{float(value)!r}">{fmt.format(value)}</td>'


def _breakdown(s: Section) -> str:
    head = "".join(f"<th>{escape(m)}</th>" for m in s.models)
    rows = "".join(
        f"<tr><td>{escape(k)}</td>{''.join(_td_num(per.get(m)) for m in s.models)}</tr>"
        for k, per in s.breakdown
    )
    return (
        f"<details open><summary>score file ({len(s.breakdown)} entries)</summary>"
        f"<table><thead><tr><th>entry</th>{head}</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " …"


def _outcome(value: float | None) -> str:
    if value is None:
        return "<td>-</td>"
    if value in (0.0, 1.0):
        cls, mark = ("hit", "✓") if value else ("miss", "✗")
        return f'<td class="{cls}" data-value="{value!r}">{mark}</td>'
    return _td_num(value)


def _thumb(uri: str) -> str:
    return f'<img class="thumb" alt="" src="{_attr(uri)}">' if uri.startswith("data:image/") else ""


def _sample_row(row: SampleRow, models: tuple[str, ...]) -> str:
    cells = [
        f"<td>{escape(row.index)}</td>"
        f"<td>{_thumb(row.thumbnail)}<div class=pre>{escape(_clip(row.question))}</div></td>"
        f"<td>{escape(row.answer)}</td>"
    ]
    for m in models:
        a = row.answers.get(m)
        if a is None:
            cells.append("<td>-</td><td>-</td><td>-</td><td>-</td>")
            continue
        how = escape(a.method)
        if a.judge_reply:
            how = f'<span title="{_attr(_clip(a.judge_reply))}">{how}: {escape(_clip(a.judge_reply))}</span>'
        cells.append(
            f"<td><div class=pre>{escape(_clip(a.prediction))}</div></td><td>{escape(a.extracted)}</td>"
            f"<td>{how}</td>{_outcome(a.outcome)}"
        )
    return f'<tr data-tags="{_attr(" ".join(row.tags))}">{"".join(cells)}</tr>'


def _samples(s: Section, slug: str) -> str:
    if not s.samples:
        return '<p class="note">No per-sample results (VLMEvalKit score files only).</p>'
    body_id = f"samples-{slug}"
    options = [("*", "every row below"), *s.filters]
    select = _select(f"filter-{slug}", options, label="show", filter_for=body_id)
    control = f'<div class="controls js-only" hidden>{select}</div>'
    head = "<th>index</th><th>question</th><th>truth</th>" + "".join(
        f'<th colspan="4">{escape(m)}: answer · extracted · how · hit</th>' for m in s.models
    )
    rows = "".join(_sample_row(r, s.models) for r in s.samples)
    filters = ", ".join(t for _, t in s.filters)
    return (
        f'{control}<table><thead><tr>{head}</tr></thead><tbody id="{body_id}">{rows}</tbody></table>'
        f'<p class="note">{len(s.samples)} rows: up to the cap per filter ({escape(filters)}).</p>'
    )


def _section(s: Section, i: int) -> str:
    slug = f"b{i}"
    chart = (
        bar_chart(s.categories, s.models, title=f"{s.dataset}: {s.category_measure} by category")
        if s.categories
        else ""
    )
    caption = (
        f'<p class="note">Per-category {s.category_measure} from the samples, 95% intervals as whiskers.</p>'
        if chart
        else ""
    )
    spread = ""
    if s.histogram and s.distribution is not None:
        spread = (
            f"<h3>Distribution of {escape(s.distribution)}</h3>"
            + histogram_chart(s.histogram, title=f"{s.dataset}: {s.distribution} per row")
            + f'<p class="note">Rows per bin of {escape(s.distribution)} (ten equal bins over [0, 1]).</p>'
        )
    return (
        f'<section id="bench-{_attr(s.dataset)}"><h2>{escape(s.dataset)}</h2>'
        f"<h3>By category</h3>{chart}{caption}{spread}{_breakdown(s)}<h3>Samples</h3>{_samples(s, slug)}"
        "</section>"
    )


def render(report: Report, *, title: str = "fasteval report", generated: str = "") -> str:
    """The whole page as one string."""
    nav = "".join(f'<a href="#bench-{_attr(d)}">{escape(d)}</a>' for d in report.datasets)
    sources = ", ".join(escape(s) for s in report.sources)
    sections = "".join(_section(s, i) for i, s in enumerate(report.sections))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="note">{len(report.models)} models × {len(report.datasets)} benchmarks from {sources}. '
        f"{escape(generated)}</p><nav>{nav}</nav>"
        "<h2>Leaderboard</h2>"
        '<p class="note">Each benchmark\'s headline as its score file reports it, with a 95% interval '
        "(Wilson for hit-rates, normal for mean scores, bootstrap through the benchmark's scorer for "
        "composites such as MME's sum; hover a cell for details), the rule set "
        "and judge that produced it, and rows scored / rows in the benchmark.</p>"
        f"{_leaderboard(report)}"
        "<h2>Paired comparisons</h2>"
        '<p class="note">B − A in hit-rate (or mean score) on the units both models answered '
        "(MMBench circular: one unit per question group), not in the composite headline. Hits: Newcombe "
        "interval and mid-p McNemar; graded scores: paired bootstrap.</p>"
        f"{_comparisons(report)}"
        f"<h2>Speed</h2>{_speeds(report.speeds)}"
        f"{sections}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
