"""`python -m services.airflow install|standalone|test|freeze`: `make airflow`, `airflow-test`."""

from __future__ import annotations

import argparse
import sys

from services.airflow import install, run
from services.airflow.env import DAG_FILE
from services.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.airflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="create the Airflow virtualenv if missing or outdated")
    sub.add_parser("standalone", help="Airflow (scheduler + API server + UI) on 127.0.0.1")
    test = sub.add_parser("test", help="one `airflow dags test` run of the DAG")
    test.add_argument("--user-id", help="namespace (default: PIPELINE_USER_ID)")
    sub.add_parser("freeze", help="print constraints.txt from the installed virtualenv")
    args = parser.parse_args(argv)
    try:
        overrides = {"pipeline_user_id": args.user_id} if getattr(args, "user_id", None) else {}
        settings = load_settings(**overrides)
        if args.command == "install":
            print(install.ensure(settings).venv)
        elif args.command == "standalone":
            return run.standalone(settings)
        elif args.command == "freeze":
            sys.stdout.write(install.freeze(install.ensure(settings)))
        else:
            result = run.dags_test(settings)
            if result.succeeded:
                print(f"{result.dag_id}: success in {result.seconds:.1f} s (log: {result.log})")
                return 0
            print(
                f"{result.dag_id}: FAILED in {result.seconds:.1f} s: "
                f"{result.failure or 'see the log'} (dags test log: {result.log}, DAG {DAG_FILE})",
                file=sys.stderr,
            )
            return 1
    except (SettingsError, install.AirflowInstallError, run.AirflowRunError) as exc:
        print(f"airflow: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
