"""The DAG's `publish` stage: `python -m services.airflow.publish [--user-id X]`.

Prints one JSON line: each answer's row count from `analytics/_run.json`, the rows read and
cleaned per table, and the run's accounting against Kafka: `lost` is what Kafka holds that
the batch never read, `doubled` the extra copies the batch removed. Exit 1 (with the reason
on stderr) when the summary or Kafka cannot be read, or when a record was lost.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from services.settings import TABLES, SettingsError, load_settings


def summarise(run: Mapping[str, Any], kafka_records: Mapping[str, int]) -> dict[str, Any]:
    """The published summary of one batch run (pure: `run` is `_run.json` as a dict)."""
    rows_read: Mapping[str, int] = run["rows_read"]
    lost = {t: max(0, kafka_records.get(t, 0) - rows_read.get(t, 0)) for t in TABLES}
    doubled = {t: int(run["duplicates_removed"].get(t, 0)) for t in TABLES}
    return {
        "answers": {name: len(rows) for name, rows in run["answers"].items()},
        "kafka_records": dict(kafka_records),
        "rows_read": dict(rows_read),
        "quarantined": dict(run["corrupt_lines"]),
        "cleaned_rows": dict(run["cleaned_rows"]),
        "lost": sum(lost.values()),
        "doubled": sum(doubled.values()),
        "lost_by_table": lost,
        "doubled_by_table": doubled,
        "started_at": run["started_at"],
    }


def _kafka_records(settings: Any) -> dict[str, int]:
    from services.landing.verify import verify

    report = verify(settings)
    return {t: report.topic(settings.topic(t)).total("expected") for t in TABLES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.airflow.publish", description=__doc__)
    parser.add_argument("--user-id", help="namespace (default: PIPELINE_USER_ID)")
    args = parser.parse_args(argv)
    from services.landing.verify import LandingError
    from spark.batch import BatchError, load_summary

    try:
        settings = load_settings(**({"pipeline_user_id": args.user_id} if args.user_id else {}))
        run = json.loads(load_summary(settings).to_json())
        summary = summarise(run, _kafka_records(settings))
    except (SettingsError, BatchError, LandingError) as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    if summary["lost"]:
        print(
            f"publish: {summary['lost']} records in Kafka were not read by the batch "
            f"({summary['lost_by_table']}): run `python -m services.landing verify "
            f"--user-id {settings.pipeline_user_id}` to see what did not land",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
