"""`python -m services.rest_proxy [--host H] [--log-level L]`"""

from __future__ import annotations

import argparse
import logging
import sys

from services.rest_proxy.server import ProxyConfigError, serve
from services.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.rest_proxy",
        description="Serve the Kafka REST proxy (v2 API on REST_PROXY_URL's port) and the "
        "legacy event API (on LEGACY_API_URL's port) from one process.",
    )
    parser.add_argument(
        "--host", help="bind address for both ports (default 127.0.0.1; 0.0.0.0 in a container)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
        serve(settings, host=args.host or settings.bind_host, log_level=args.log_level)
    except (ProxyConfigError, SettingsError) as exc:
        print(f"rest_proxy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
