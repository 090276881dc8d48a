"""`python -m services.aws check|export|env`: the AWS preflight, the AWS-side configuration, and
`.env.example`'s AWS block rewritten from the settings fields.

Exit status: 0 all good; 1 `check` found a FAIL; 2 bad settings or the folder is unwritable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.landing.connector import SinkConfigError
from services.settings import PROJECT_ROOT, Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.aws", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="try every AWS endpoint; print a table with fixes")
    check.add_argument(
        "--deadline", type=float, default=15.0, help="seconds for all checks together (15)"
    )
    check.add_argument(
        "--step-timeout", type=float, default=5.0, help="seconds per network step (5)"
    )
    export = sub.add_parser("export", help="write the AWS-side configuration into build/aws/")
    export.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "aws")
    sub.add_parser("env", help="rewrite .env.example's AWS block from the settings fields")
    return parser


def _env_example() -> int:
    from services.aws_settings import ENV_HEADER, env_example_block

    path = PROJECT_ROOT / ".env.example"
    text = path.read_text(encoding="utf-8")
    # The block is the file's tail: everything above it is written by hand.
    head = text[: text.index(ENV_HEADER)] if ENV_HEADER in text else text.rstrip("\n") + "\n\n"
    path.write_text(head + env_example_block(), encoding="utf-8")
    print(path)
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from services.aws.preflight import print_table, run_preflight

    rows = run_preflight(settings, deadline_s=args.deadline, step_timeout_s=args.step_timeout)
    print_table(rows)
    return 0 if all(r.ok for r in rows) else 1


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from services.aws.export import export_all

    try:
        written = export_all(settings, args.out)
    except OSError as exc:
        print(f"error: cannot write into {args.out} ({exc}): pass --out DIR", file=sys.stderr)
        return 2
    for path in written.files:
        print(f"  {path.relative_to(written.folder)}")
    for note in written.notes:
        print(f"note: {note}")
    print(written.folder)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "env":
        return _env_example()
    try:
        settings = load_settings()
        return _check(settings, args) if args.command == "check" else _export(settings, args)
    except (SettingsError, SinkConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
