"""The demo's pure parts: reconciliation arithmetic, charts and the HTML report."""

from __future__ import annotations

from typing import Any

import pytest

from services.demo import report_html
from services.demo.charts import bar_chart, line_chart, nice_peak
from services.demo.reconcile import reconcile

pytestmark = pytest.mark.unit

ANSWERS: dict[str, list[dict[str, Any]]] = {
    "popular_category_by_age_group": [
        {"age_group": "18-24", "category": "travel", "category_count": 264},
        {"age_group": "+50", "category": "home-decor", "category_count": 153},
    ],
    "users_joined_by_year": [
        {"post_year": 2015, "number_users_joined": 945},
        {"post_year": 2016, "number_users_joined": 924},
    ],
    "median_followers_by_age_group": [{"age_group": "18-24", "median_follower_count": 970.0}],
}


def _recon(**over: dict[str, int]) -> list[dict[str, object]]:
    base = {t: 100 for t in ("pin", "geo", "user")}
    args = {
        "mysql_rows": base,
        "acknowledged": base,
        "kafka_end_offsets": base,
        "landed_distinct": base,
        "landed_doubled": dict.fromkeys(base, 0),
        "cleaned_rows": base,
        **over,
    }
    return [r.as_row() for r in reconcile(**args)]


def test_a_clean_run_has_nothing_lost_or_doubled() -> None:
    for row in _recon():
        assert (row["lost"], row["doubled"]) == (0, 0)


def test_missing_cleaned_rows_count_as_lost() -> None:
    rows = _recon(cleaned_rows={"pin": 97, "geo": 100, "user": 100})
    assert [r["lost"] for r in rows] == [3, 0, 0]


def test_extra_kafka_records_and_doubled_offsets_count_as_doubled() -> None:
    rows = _recon(
        kafka_end_offsets={"pin": 102, "geo": 100, "user": 100},
        landed_doubled={"pin": 0, "geo": 1, "user": 0},
    )
    assert [r["doubled"] for r in rows] == [2, 1, 0]


@pytest.mark.parametrize(("value", "peak"), [(0, 1), (7, 10), (11, 20), (230, 250), (4100, 5000)])
def test_axis_peaks_are_round(value: float, peak: float) -> None:
    assert nice_peak(value) == peak


def test_charts_are_self_contained_svg() -> None:
    bar = bar_chart("t", ["a", "b"], [1, 2], ["x", "y"])
    line = line_chart("t", ["2015", "2016"], [3, 4])
    for svg in (bar, line):
        assert svg.startswith("<svg") and "http" not in svg.replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        )
    assert bar.count("<rect") == 2 and line.count("<circle") == 2


def test_report_marks_losses_and_escapes_text() -> None:
    rows = _recon(cleaned_rows={"pin": 99, "geo": 100, "user": 100})
    html = report_html.render(
        title="<demo>",
        answers=ANSWERS,
        reconciliation=rows,
        timings={"batch": 1.0},
        facts={"x": "<script>"},
        ok=False,
    )
    assert "&lt;demo&gt;" in html and "<script>" not in html
    assert 'class="bad num"' in html and "verdict fail" in html
    assert html.count('class="chart"') == 3
    assert "<link" not in html and "<script" not in html  # opens offline


def test_numbers_are_formatted_by_what_the_column_is() -> None:
    html = report_html.table(
        [{"post_year": 2018, "number_users_joined": 11153, "median_follower_count": 1234.5}]
    )
    assert '<td class="num">2018</td>' in html  # a year, not 2,018
    assert '<td class="num">11,153</td>' in html  # a count
    assert '<td class="num">1,234.5</td>' in html  # a measure
    assert report_html.format_value(2018, "join_year") == "2018"
    assert report_html.format_value(12345, "user_id") == "12345"
    assert report_html.format_value(True, "ok") == "True"


def test_the_rendered_report_shows_years_as_written() -> None:
    answers = {"users_joined_by_year": [{"post_year": 2018, "number_users_joined": 1500}]}
    html = report_html.render(
        title="t", answers=answers, reconciliation=_recon(), timings={}, facts={}, ok=True
    )
    assert ">2018<" in html and "2,018" not in html
    assert ">1,500<" in html
