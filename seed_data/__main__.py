"""Command line: `python -m seed_data {load,status,checksum,sample,bench}`; see `--help`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from seed_data import generate
from seed_data.errors import SeedError, SeedInputError
from seed_data.load import MAX_SIZE, Progress, check_seed, check_size
from services.settings import Settings, SettingsError, load_settings

DESCRIPTION = """\
Generate the spoof Pinterest database (tables pinterest_data, geolocation_data,
user_data: one row each per event) and load it into MySQL.

The rows depend only on --size and --seed: the same pair gives byte-identical rows on
any machine, and a smaller size is a prefix of a larger one. Placeholders such as
"User Info Error" or "No Title Data Available" appear at fixed rates, as in the original.

Connection settings come from the environment or .env (see .env.example):
  MYSQL_HOST, MYSQL_PORT          where MySQL listens (default 127.0.0.1:3306)
  MYSQL_DATABASE                  database to (re)create (default pinterest_data)
  MYSQL_ADMIN_USER/_PASSWORD      account that creates and loads it
  MYSQL_USER/_PASSWORD            the emulator's read-only account (`make up` creates it)
"""

EPILOG = """\
examples:
  python -m seed_data load                      # 11,153 events (the original's size)
  python -m seed_data load --size 1000000       # replaces the tables cleanly
  python -m seed_data status                    # what is loaded now
  python -m seed_data sample --limit 2          # look at rows without a database
  python -m seed_data checksum --size 11153     # sha256 of the rows, no database
  python -m seed_data bench --size 1000000      # time a load into a scratch database
"""


def _size(text: str) -> int:
    try:
        return check_size(text)
    except SeedInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seed(text: str) -> int:
    try:
        return check_seed(text)
    except SeedInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seed_data",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, size_default: int = generate.DEFAULT_SIZE) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--size",
            type=_size,
            default=size_default,
            help=f"number of events, 1..{MAX_SIZE:,} (default {size_default:,})",
        )
        p.add_argument(
            "--seed",
            type=_seed,
            default=generate.DEFAULT_SEED,
            help=f"random seed (default {generate.DEFAULT_SEED})",
        )
        return p

    p = add(
        "load",
        "Create the database and tables if missing and load the events. A no-op when the "
        "same size and seed are already loaded; another size replaces the tables in one "
        "atomic swap. Checks first that the read-only account MYSQL_USER can read it.",
    )
    p.add_argument("--force", action="store_true", help="reload even if already loaded")
    sub.add_parser("status", help="show what is loaded in MYSQL_DATABASE")
    add("checksum", "print the sha256 of the generated rows (no database needed)")
    p = add("sample", "print events as JSON lines, one per event (no database needed)")
    p.add_argument("--limit", type=_size, default=3, help="events to print (default 3)")
    from bench.seed import DEFAULT_BENCH_SIZE

    add(
        "bench",
        "time a load into a scratch database (dropped afterwards) and print the figures",
        size_default=DEFAULT_BENCH_SIZE,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (SeedError, SettingsError) as exc:
        print(f"seed_data: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("seed_data: interrupted; the live tables are unchanged", file=sys.stderr)
        return 130


def _settings() -> Settings:
    return load_settings()


def cmd_load(args: argparse.Namespace) -> int:
    from seed_data.load import load

    settings = _settings()
    with _progress_reporter(f"loading {args.size:,} events", args.size) as progress:
        result = load(settings, args.size, args.seed, progress=progress, force=args.force)
    if result.loaded:
        print(
            f"loaded {result.size:,} events (seed {result.seed}) into "
            f"{settings.mysql_host}:{settings.mysql_port}/{result.database} in "
            f"{result.seconds:.1f}s ({result.rows_per_second:,.0f} events/s, {result.method}); "
            f"checksum {result.checksum[:16]}"
        )
    else:
        print(
            f"{result.database} already holds {result.size:,} events (seed {result.seed}, "
            f"checksum {result.checksum[:16]}): nothing to do (--force reloads)"
        )
    print(f"read-only account {settings.mysql_user!r} can read {result.database}")
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    from seed_data.load import read_meta

    settings = _settings()
    meta = read_meta(settings)
    if meta is None:
        print(f"{settings.mysql_database}: not seeded (run `make seed`)")
        return 1
    for key, value in meta.items():
        print(f"{key:>18}: {value}")
    return 0


def cmd_checksum(args: argparse.Namespace) -> int:
    print(generate.checksum(args.size, args.seed))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    for event in islice(generate.events(args.size, args.seed), args.limit):
        print(json.dumps(event._asdict(), default=str, ensure_ascii=False))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.seed import run

    settings = _settings()
    with _progress_reporter(f"bench: loading {args.size:,} events", args.size) as progress:
        figures = run(settings, args.size, args.seed, progress=progress)
    print(
        f"loaded {figures['events']:,} events ({figures['rows']:,} rows) in "
        f"{figures['seconds']}s: {figures['events_per_second']:,} events/s ({figures['method']})"
    )
    print(json.dumps(figures))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "load": cmd_load,
    "status": cmd_status,
    "checksum": cmd_checksum,
    "sample": cmd_sample,
    "bench": cmd_bench,
}


@contextmanager
def _progress_reporter(label: str, total: int) -> Iterator[Progress]:
    """A rich progress bar on a terminal; otherwise one plain line per 10% (logs, CI)."""
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        with RichProgress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update
        return

    started = time.monotonic()
    next_report = [0.0]

    def report(done: int, total: int) -> None:
        share = done / total if total else 1.0
        if share >= next_report[0] or done == total:
            print(
                f"{label}: {done:,}/{total:,} ({share:.0%}) after "
                f"{time.monotonic() - started:.1f}s",
                file=sys.stderr,
                flush=True,
            )
            next_report[0] = share + 0.1

    yield report


if __name__ == "__main__":
    sys.exit(main())
