"""`python -m services.emulator replay|random|stream [flags]`

Exit status: 0 all acknowledged; 1 delivery stopped (4xx, permanent Kafka error, retries
exhausted); 2 bad input or configuration; 130 interrupted. The summary is printed always.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from services.emulator import checkpoint as ckpt
from services.emulator import live, replay
from services.emulator.errors import EmulatorError
from services.emulator.summary import INTERRUPTED, Summary
from services.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--target",
        choices=["rest", "legacy", "kinesis"],
        default="rest",
        help="rest: POST /topics/<topic> on REST_PROXY_URL (default); legacy: POST /pin/ "
        "etc. on LEGACY_API_URL; kinesis: PUT /streams/streaming-<user_id>-<table>/record(s) "
        "on REST_PROXY_URL, API Gateway's Kinesis routes (always the streaming topics)",
    )
    common.add_argument(
        "--max-retries",
        type=int,
        default=None,
        help="give up on a request after this many retries (default: retry forever)",
    )
    common.add_argument(
        "--rate",
        type=float,
        help="events per second (default: as fast as possible "
        "for replay, a random 0-2 s pause otherwise)",
    )
    common.add_argument("--count", type=int, help="stop after this many events")
    common.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )

    parser = argparse.ArgumentParser(
        prog="python -m services.emulator",
        description="Read Pinterest events from MySQL and post them to the Kafka REST proxy.",
    )
    modes = parser.add_subparsers(dest="mode", required=True)

    rep = modes.add_parser(
        "replay", parents=[common], help="every event once, in index order, batched"
    )
    rep.add_argument(
        "--start", type=int, help="first event index (default: the checkpoint, or the first)"
    )
    rep.add_argument(
        "--batch-size",
        type=int,
        default=replay.DEFAULT_BATCH_SIZE,
        help="events per request and topic (default %(default)s)",
    )
    rep.add_argument(
        "--checkpoint", type=Path, help="checkpoint file (default under STATE_DIR/emulator/)"
    )
    rep.add_argument(
        "--no-checkpoint", action="store_true", help="neither read nor write a checkpoint"
    )
    rep.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    rep.add_argument(
        "--streaming", action="store_true", help="post to the streaming topics instead"
    )

    rnd = modes.add_parser(
        "random", parents=[common], help="random events with replacement, like the original"
    )
    rnd.add_argument("--seed", type=int, help="random seed (repeatable runs)")

    stream = modes.add_parser(
        "stream", parents=[common], help="events to the streaming topics, one at a time"
    )
    stream.add_argument("--order", choices=["random", "replay"], default="random")
    stream.add_argument("--start", type=int, help="first index for --order replay")
    stream.add_argument("--seed", type=int, help="random seed (repeatable runs)")
    return parser


def _run(args: argparse.Namespace) -> Summary:
    settings = load_settings()
    if args.mode == "replay":
        path = (
            None
            if args.no_checkpoint
            else (args.checkpoint or ckpt.default_path(settings, args.target))
        )
        return replay.run(
            settings,
            start=args.start,
            count=args.count,
            batch_size=args.batch_size,
            target=args.target,
            # Kinesis streams are the streaming topics (issue 15).
            streaming=args.streaming or args.target == "kinesis",
            checkpoint=path,
            restart=args.restart,
            max_retries=args.max_retries,
            rate=args.rate,
            progress=args.progress,
        )
    return live.run(
        settings,
        streaming=args.mode == "stream" or args.target == "kinesis",
        order=getattr(args, "order", "random"),
        count=args.count,
        rate=args.rate,
        start=getattr(args, "start", None),
        target=args.target,
        max_retries=args.max_retries,
        seed=args.seed,
        progress=args.progress,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        summary = _run(args)
    except (EmulatorError, SettingsError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    print(summary.line())
    if summary.error == INTERRUPTED:
        print("emulator: interrupted (a replay resumes from its checkpoint)", file=sys.stderr)
        return 130
    if summary.error:
        print(f"emulator: stopped: {summary.error}", file=sys.stderr)
        return 1
    return 0
