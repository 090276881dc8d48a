"""`python -m services.s3_sink` refuses bad input with one clear line, before any service."""

from __future__ import annotations

import socket

import pytest

from services.s3_sink.__main__ import main

pytestmark = pytest.mark.unit


def test_bad_flush_size_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SINK_FLUSH_RECORDS", "0")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "SINK_FLUSH_RECORDS=0" in err and "Traceback" not in err


def test_bad_user_id_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--user-id", "Bad_Id"]) == 2
    assert "PIPELINE_USER_ID" in capsys.readouterr().err


def test_health_port_in_use_says_which_setting_to_change(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("SINK_HEALTH_PORT", str(port))
        assert main(["--user-id", "x"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "SINK_HEALTH_PORT" in err
