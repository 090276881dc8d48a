"""The demo's HTML report: the answers as charts and tables, and the reconciliation table.

One self-contained file (inline CSS and SVG), readable offline in any browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from services.demo.charts import bar_chart, line_chart

Rows = Sequence[Mapping[str, Any]]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{color:#e60023}h2{margin-top:2.2rem;border-bottom:2px solid #eee;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left}
th{background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.bad{background:#ffe3e3;font-weight:bold}td.good{background:#e6fcf5}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
.chart{background:#fff;border:1px solid #eee;border-radius:6px}
.chart .grid{stroke:#eee}.chart .tick,.chart .label,.chart .note{font-size:11px;fill:#555}
.chart .value{font-size:11px;fill:#222}.chart .title{font-size:14px;font-weight:bold}
.verdict{font-size:1.2rem;padding:.6rem 1rem;border-radius:6px;display:inline-block}
.ok{background:#e6fcf5;color:#087f5b}.fail{background:#ffe3e3;color:#c92a2a}
details{margin:.4rem 0}
"""

#: Reconciliation columns, in the order of the pipeline's stages.
RECON_COLUMNS = (
    ("table", "table"),
    ("mysql_rows", "rows in MySQL"),
    ("acknowledged", "acknowledged by the proxy"),
    ("kafka_end_offsets", "Kafka end offsets"),
    ("landed_distinct", "distinct landed in S3"),
    ("cleaned_rows", "rows after cleaning"),
    ("lost", "lost"),
    ("doubled", "doubled"),
)


# Columns whose numbers are labels, not quantities: `2018` is a year, never `2,018`.
LABEL_SUFFIXES = ("year", "_id", "_index", "partition")
LABEL_COLUMNS = frozenset({"id", "ind", "index", "age"})


def is_label_column(column: str) -> bool:
    return column in LABEL_COLUMNS or column.endswith(LABEL_SUFFIXES)


def format_value(value: Any, column: str = "") -> str:
    """A value as the column means it: counts with thousands separators, measures with one
    decimal, years and ids as written."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if is_label_column(column):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _cell(value: Any, cls: str = "", column: str = "") -> str:
    text = format_value(value, column)
    num = " num" if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return f'<td class="{(cls + num).strip()}">{escape(text)}</td>'


def table(rows: Rows, columns: Sequence[str] | None = None, limit: int | None = None) -> str:
    if not rows:
        return "<p><em>no rows</em></p>"
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    shown = rows if limit is None else rows[:limit]
    body = "".join(
        "<tr>" + "".join(_cell(r.get(c, ""), column=c) for c in cols) + "</tr>" for r in shown
    )
    more = f"<p><em>{len(rows) - len(shown)} more rows</em></p>" if len(shown) < len(rows) else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def reconciliation_table(rows: Rows) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _k, title in RECON_COLUMNS)
    body = []
    for r in rows:
        cells = []
        for key, _title in RECON_COLUMNS:
            cls = ""
            if key in ("lost", "doubled"):
                cls = "bad" if r.get(key) else "good"
            cells.append(_cell(r.get(key, ""), cls, key))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="reconciliation"><tr>{head}</tr>{"".join(body)}</table>'


def charts(answers: Mapping[str, Rows]) -> list[str]:
    out = []
    by_age = answers.get("popular_category_by_age_group", [])
    if by_age:
        out.append(
            bar_chart(
                "Most posted category per age group (posts)",
                [r["age_group"] for r in by_age],
                [r["category_count"] for r in by_age],
                [r["category"] for r in by_age],
            )
        )
    joined = answers.get("users_joined_by_year", [])
    if joined:
        out.append(
            line_chart(
                "Users joined per year",
                [str(r["post_year"]) for r in joined],
                [r["number_users_joined"] for r in joined],
            )
        )
    med_age = answers.get("median_followers_by_age_group", [])
    if med_age:
        out.append(
            bar_chart(
                "Median follower count per age group",
                [r["age_group"] for r in med_age],
                [r["median_follower_count"] for r in med_age],
            )
        )
    by_year = answers.get("popular_category_by_year", [])
    if by_year:
        out.append(
            bar_chart(
                "Most posted category per year (posts)",
                [str(r["post_year"]) for r in by_year],
                [r["category_count"] for r in by_year],
                [r["category"] for r in by_year],
            )
        )
    med_join = answers.get("median_followers_by_join_year", [])
    if med_join:
        out.append(
            line_chart(
                "Median follower count by year joined",
                [str(r["post_year"]) for r in med_join],
                [r["median_follower_count"] for r in med_join],
            )
        )
    return out


def render(
    *,
    title: str,
    answers: Mapping[str, Rows],
    reconciliation: Rows,
    timings: Mapping[str, float],
    facts: Mapping[str, Any],
    ok: bool,
) -> str:
    verdict = (
        '<p class="verdict ok">Every record accounted for: nothing lost, nothing doubled.</p>'
        if ok
        else '<p class="verdict fail">Records were lost or doubled, or a stage failed.</p>'
    )
    facts_html = table([{"what": k, "value": v} for k, v in facts.items()])
    timing_rows = [{"stage": k, "seconds": round(v, 1)} for k, v in timings.items()]
    sections = []
    for name, rows in answers.items():
        sections.append(
            f"<details open><summary><strong>{escape(name)}</strong> ({len(rows)} rows)"
            f"</summary>{table(rows, limit=25)}</details>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{verdict}"
        f"<h2>Reconciliation</h2>{reconciliation_table(reconciliation)}"
        f'<h2>Charts</h2><div class="charts">{"".join(charts(answers))}</div>'
        f"<h2>Answers</h2>{''.join(sections)}"
        f"<h2>Stages</h2>{table(timing_rows)}"
        f"<h2>Run</h2>{facts_html}"
        "</body></html>\n"
    )
