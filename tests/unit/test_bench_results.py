"""bench/results.json: every section carries its provenance, and the README figures trace to it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench import __main__ as bench
from services.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def sections(monkeypatch: pytest.MonkeyPatch) -> dict[str, bench.Section]:
    registry: dict[str, bench.Section] = {}
    monkeypatch.setattr(bench, "SECTIONS", registry)

    @bench.section("fast", "a section that works")
    def fast(_settings: Settings, quick: bool) -> dict[str, Any]:
        return {"value": 2 if quick else 1}

    @bench.section("broken", "a section that fails")
    def broken(_settings: Settings, _quick: bool) -> dict[str, Any]:
        raise RuntimeError("no broker")

    @bench.section("kept", "a section measured earlier")
    def kept(_settings: Settings, _quick: bool) -> dict[str, Any]:
        raise AssertionError("not run in these tests")

    return registry


def test_each_section_run_carries_its_own_date_and_commit(sections: Any) -> None:
    doc = bench.run_sections(Settings(), ["fast"], quick=True, previous={})
    fast = doc["fast"]
    assert fast["value"] == 2 and fast["quick"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", fast["measured_at"])
    assert re.fullmatch(r"[0-9a-f]{40}", fast["commit"]) and isinstance(fast["dirty"], bool)
    assert doc["machine"]["cores"] and doc["machine"]["memory_gib"] > 0


def test_only_merges_and_drops_figures_without_provenance(sections: Any) -> None:
    earlier = {"value": 7, "measured_at": "2026-01-01 00:00:00 UTC", "commit": "a" * 40}
    previous = {"kept": earlier, "fast": {"value": 9}, "date": "old", "quick": False}
    doc = bench.run_sections(Settings(), ["broken"], quick=False, previous=previous)
    assert doc["kept"] == earlier, "a section not run keeps its figures and provenance"
    assert "fast" not in doc, "a figure without commit/date cannot be traced: dropped"
    assert "date" not in doc and "quick" not in doc
    assert doc["broken"]["error"] == "RuntimeError: no broker"
    assert "measured_at" in doc["broken"]
    assert list(doc)[-2:] == ["broken", "kept"], "sections follow the registry's order"


def test_a_section_cannot_be_registered_twice(sections: Any) -> None:
    with pytest.raises(ValueError, match="twice"):
        bench.section("fast", "again")(lambda _s, _q: {})


def _traced(figures: dict[str, Any]) -> dict[str, Any]:
    return {**figures, "measured_at": "2026-12-02 06:00:00 UTC", "commit": "b" * 40}


def test_the_readme_paragraph_quotes_only_traced_figures() -> None:
    doc = {
        "machine": {"cores": 2, "memory_gib": 23.5},
        "up": _traced({"warm_make_up_s": 0.7}),
        "up-cold": _traced({"cold_make_up_s": 23.4}),
        "seed": _traced(
            {"events": 1_000_000, "seconds": 24.3, "innodb": {"innodb_flush_log_at_trx_commit": 2}}
        ),
        "ingest": _traced({"b_proxy_batched_records_per_s": 150_000, "b_over_a_json": 0.66}),
        "streaming": _traced(
            {
                "committed_events_per_s": 2650.0,
                "at_load": {
                    "50%": {
                        "latency_p50_s": 2.1,
                        "latency_p95_s": 3.2,
                        "offered_events_per_s": 1325,
                    },
                },
            }
        ),
        # Figures without provenance, or with an error, are never quoted.
        "landing": {"throughput": {"landing_records_per_s": 99_999}},
        "demo": _traced({"error": "boom", "warm_make_demo_s": 55.5}),
    }
    text = bench.readme_paragraph(doc)
    assert "2-core, 23.5 GiB" in text and "commit bbbbbbbbbb" in text
    assert "`make up` 0.7 s when running, 23 s from stopped" in text
    assert "1,000,000 events seeded in 24 s (InnoDB `innodb_flush_log_at_trx_commit=2`)" in text
    assert "150,000 records/s batched (0.66 of a plain producer" in text
    assert "2.1/3.2 s at 50% of it (1,325 events/s)" in text
    assert "99,999" not in text and "55" not in text


def test_the_readme_paragraph_refuses_a_file_without_provenance() -> None:
    with pytest.raises(ValueError, match="make bench"):
        bench.readme_paragraph({"up": {"warm_make_up_s": 0.7}, "date": "2026-11-30"})


def test_the_batch_targets_judge_the_warm_service_and_show_the_fresh_process_for_reference() -> (
    None
):
    run = {
        "events": 1_000_000,
        "service_seconds": 36.0,
        "service_stages": {"read": 10.0},
        "service_over_duckdb": 3.2,
        "service_incremental_seconds": 21.0,
        "spark_seconds": 58.0,
        "spark_stages": {"read": 16.0},
        "spark_over_duckdb": 5.2,
        "incremental_seconds": 39.0,
    }
    demo = {"first_stages_s": {"batch": 9.3}, "stages_s": {"batch": 16.0}}
    rows = {
        name: (value, target, met)
        for name, value, target, met in bench._targets({"spark": {"runs": [run]}, "demo": demo})
    }
    assert rows["Spark job at 1,000,000 events (warm service, s)"] == (36.0, "<= 45", True)
    assert rows["Spark incremental +0 on 1,000,000 (warm service, s)"][2] is False
    fresh = rows["Spark job at 1,000,000 events (fresh process, s)"]
    assert fresh[0] == 58.0 and fresh[2] is None and "reference" in fresh[1]
    assert rows["batch stage of the first make demo after make up (s)"][2] is True
    assert rows["batch stage of the next make demo (s)"][2] is False
    assert rows["batch stage of make demo at once after the service starts (s)"][2] is None
