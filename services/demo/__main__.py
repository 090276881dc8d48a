"""python -m services.demo — the whole pipeline, every record accounted for."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from services.demo.run import DemoResult, StageFailed, run_demo
from services.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.demo",
        description=(
            "Bring the stack up, seed MySQL, replay every event through the REST proxy into "
            "Kafka, wait until the S3 sink has landed every record, run the Spark batch job, "
            "then print the answers, a reconciliation table (rows per stage, lost, doubled) "
            "and the seconds per stage, and write an HTML report. Each run uses a fresh "
            "namespace demo-<UTC time> so runs never mix; exit 0 only if nothing was lost."
        ),
    )
    parser.add_argument("--size", type=int, default=None, help="events to seed (default 11,153)")
    parser.add_argument(
        "--user-id", default=None, help="reuse this namespace instead of a fresh demo-<time> one"
    )
    args = parser.parse_args(argv)
    console = Console()
    try:
        settings = load_settings()
        result = run_demo(settings, size=args.size, user_id=args.user_id)
    except (StageFailed, SettingsError) as exc:
        console.print(f"[red]demo failed[/]: {exc}")
        return 1
    _print(result, console)
    return 0 if result.ok else 2


#: Short terminal headers for the reconciliation columns (the HTML report spells them out).
HEADERS = {
    "table": "table",
    "mysql_rows": "MySQL rows",
    "acknowledged": "proxy acked",
    "kafka_end_offsets": "Kafka offsets",
    "landed_distinct": "landed in S3",
    "cleaned_rows": "cleaned rows",
    "lost": "lost",
    "doubled": "doubled",
}


def _cell(column: str, value: object) -> str:
    if column in ("lost", "doubled"):
        return f"[red]{value}[/]" if value else f"[green]{value}[/]"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print(result: DemoResult, console: Console) -> None:
    from spark.batch import print_summary

    print_summary(result.batch, console)
    table = Table(title=f"reconciliation — namespace {result.user_id}", title_justify="left")
    for key, header in HEADERS.items():
        table.add_column(header, justify="left" if key == "table" else "right")
    for r in result.reconciliation:
        row = r.as_row()
        table.add_row(*[_cell(key, row[key]) for key in HEADERS])
    console.print(table)
    stages = Table(title="seconds per stage", title_justify="left")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, secs in result.seconds.items():
        stages.add_row(name, f"{secs:.1f}")
    stages.add_row("[bold]total[/]", f"[bold]{sum(result.seconds.values()):.1f}[/]")
    console.print(stages)
    verdict = "[green]nothing lost[/]" if result.ok else "[red]records were lost[/]"
    console.print(f"{verdict}. HTML report: {result.report_path}", soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
