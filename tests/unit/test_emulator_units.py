"""Pure pieces of the emulator: value conversion, retry policy, URL checks, checkpoints."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import requests

from services.contracts.rows import to_json_row
from services.emulator import checkpoint as ckpt
from services.emulator.cli import _parser
from services.emulator.errors import DeliveryError, EmulatorError
from services.emulator.sender import RetryPolicy, _unacknowledged, check_url

pytestmark = pytest.mark.unit


def test_rows_keep_mysql_values_but_datetimes_become_strings() -> None:
    row = {
        "ind": 7,
        "timestamp": dt.datetime(2018, 1, 2, 3, 4, 5),
        "latitude": -12.5,
        "follower_count": "51k",
        "price": Decimal("1.25"),
        "day": dt.date(2020, 2, 29),
    }
    assert to_json_row(row) == {
        "ind": 7,
        "timestamp": "2018-01-02 03:04:05",
        "latitude": -12.5,
        "follower_count": "51k",
        "price": 1.25,
        "day": "2020-02-29",
    }


def test_backoff_grows_with_jitter_and_caps() -> None:
    policy = RetryPolicy(max_retries=None, base_s=0.1, cap_s=2.0)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (10, 2.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    assert not policy.exhausted(10**6)
    assert RetryPolicy(max_retries=2).exhausted(2)
    assert not RetryPolicy(max_retries=2).exhausted(1)


@pytest.mark.parametrize("url", ["127.0.0.1:8082", "localhost", "", "ftp://x"])
def test_url_without_scheme_names_the_setting(url: str) -> None:
    with pytest.raises(EmulatorError, match="REST_PROXY_URL"):
        check_url(url, "REST_PROXY_URL")


def test_url_keeps_the_api_gateway_stage() -> None:
    url = "https://abc.execute-api.us-east-1.amazonaws.com/prod/"
    assert check_url(url, "REST_PROXY_URL") == url.rstrip("/")


def _response(body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = orjson.dumps(body)
    return response


def _entry(code: int | None) -> dict[str, object]:
    ok = code is None
    return {
        "partition": 0 if ok else None,
        "offset": 1 if ok else None,
        "error_code": code,
        "error": None if ok else "x",
    }


def test_per_record_errors_are_checked() -> None:
    rows = [{"i": 0}, {"i": 1}, {"i": 2}]
    ok = _response({"offsets": [_entry(None), _entry(50003), _entry(None)]})
    assert _unacknowledged("u", ok, rows) == [{"i": 1}]
    with pytest.raises(DeliveryError, match="refused"):
        _unacknowledged("u", _response({"offsets": [_entry(50002)] * 3}), rows)
    with pytest.raises(DeliveryError, match="2 offsets for 3 records"):
        _unacknowledged("u", _response({"offsets": [_entry(None)] * 2}), rows)
    with pytest.raises(DeliveryError, match="without an `offsets`"):
        _unacknowledged("u", _response({"ok": True}), rows)


def test_checkpoint_round_trip_and_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cp.json"
    assert ckpt.load(path) is None
    point = ckpt.Checkpoint(
        next_index=500, last_index=999, database="d", user_id="u", target="rest"
    )
    ckpt.save(path, point)
    assert ckpt.load(path) == point
    assert [p.name for p in path.parent.iterdir()] == ["cp.json"]  # no temp file left
    path.write_text("{broken")
    with pytest.raises(EmulatorError, match="--restart"):
        ckpt.load(path)


def test_cli_defaults() -> None:
    args = _parser().parse_args(["replay"])
    assert (args.target, args.batch_size, args.max_retries, args.start) == ("rest", 500, None, None)
    args = _parser().parse_args(["stream", "--order", "replay", "--rate", "20", "--count", "5"])
    assert (args.mode, args.order, args.rate, args.count) == ("stream", "replay", 20.0, 5)
    assert _parser().parse_args(["replay", "--target", "kinesis"]).target == "kinesis"
    with pytest.raises(SystemExit):
        _parser().parse_args(["replay", "--target", "firehose"])
