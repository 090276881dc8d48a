"""`python -m services.landing verify [--user-id X] [--json] [--wait SECONDS]`.

Exit status: 0 when every offset in Kafka landed exactly once (or was dead-lettered),
1 when something is missing, doubled or unparseable, 2 when Kafka or S3 cannot be asked.
"""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.console import Console
from rich.table import Table

from services.landing.report import LandingReport
from services.landing.verify import LandingError, verify, wait_until_landed
from services.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.landing",
        description="Compare each batch topic's Kafka offsets with the records landed in S3.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("verify", help="count landed, missing, doubled and unparseable records")
    cmd.add_argument("--user-id", help="namespace to check (default: PIPELINE_USER_ID)")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="poll until complete or this many seconds pass (default: check once)",
    )
    args = parser.parse_args(argv)
    if args.wait < 0:
        print(f"landing: --wait {args.wait} must be 0 or more seconds", file=sys.stderr)
        return 2
    try:
        settings = load_settings(**({"pipeline_user_id": args.user_id} if args.user_id else {}))
        report = wait_until_landed(settings, args.wait) if args.wait else verify(settings)
    except (SettingsError, LandingError) as exc:
        print(f"landing: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print(report)
    return 0 if report.complete else 1


def _print(report: LandingReport) -> None:
    # Piped output (CI logs, `| less`) would otherwise be squeezed to 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 150)
    verdict = "[green]COMPLETE[/]" if report.complete else "[red]INCOMPLETE[/]"
    table = Table(title=f"namespace {report.user_id} · s3://{report.bucket} · {verdict}")
    for column in (
        "topic",
        "partition",
        "kafka offsets [low, high)",
        "expected",
        "landed",
        "dead-lettered",
        "missing",
        "doubled",
        "unparseable",
        "objects",
    ):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for t in report.topics:
        if not t.exists:
            table.add_row(t.topic, "-", "no such topic", *["-"] * 7)
        for p in t.partitions:
            table.add_row(
                p.topic,
                str(p.partition),
                f"\\[{p.low}, {p.high})",
                *(
                    str(v)
                    for v in (
                        p.expected,
                        p.landed,
                        p.dead_lettered,
                        p.missing,
                        p.doubled,
                        p.unparseable,
                        p.objects,
                    )
                ),
            )
    console.print(table)
    for line in report.problems():
        console.print(f"  [red]✗[/] {line}", highlight=False)


if __name__ == "__main__":
    sys.exit(main())
