"""`python -m services.s3_sink [--user-id X] [--group-id G]`: run the sink until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from services.s3_sink.config import SinkConfigError, sink_config
from services.s3_sink.health import HealthBoard, serve
from services.s3_sink.sink import S3Sink, SinkError
from services.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.s3_sink",
        description="Land the batch topics of every namespace (<user_id>.pin|geo|user) in S3.",
    )
    parser.add_argument(
        "--user-id",
        help="serve only this namespace (default: every namespace on the broker)",
    )
    parser.add_argument(
        "--group-id",
        help="Kafka consumer group (default: s3-sink, or s3-sink-<user id> with --user-id)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Only the Kafka client's own chatter is noisy; keep ours.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        overrides = {"pipeline_user_id": args.user_id} if args.user_id else {}
        settings = load_settings(**overrides)
        config = sink_config(settings, user_id=args.user_id, group_id=args.group_id)
    except (SettingsError, SinkConfigError) as exc:
        print(f"s3-sink: {exc}", file=sys.stderr)
        return 2
    board = HealthBoard(config.name)
    try:
        server = serve(board, settings.sink_health_port, settings.bind_host)
    except OSError as exc:
        print(
            f"s3-sink: cannot listen on 127.0.0.1:{settings.sink_health_port} for /health "
            f"({exc.strerror}): another sink may be running; set SINK_HEALTH_PORT to a free port",
            file=sys.stderr,
        )
        return 2
    sink = S3Sink(settings, config, board)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        sink.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sink.run()
    except SinkError as exc:
        print(f"s3-sink: {exc}", file=sys.stderr)
        return 1
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
