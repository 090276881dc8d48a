"""The seed_data command line and its input checks (no database needed)."""

from __future__ import annotations

import json
import socket

import pymysql
import pytest

from seed_data import SeedConnectionError, SeedInputError, SeedPermissionError
from seed_data.__main__ import main
from seed_data.generate import checksum
from seed_data.load import check_seed, check_size, explain
from seed_data.reader import db_grant_pattern
from seed_data.schema import META_TABLE, SOURCE_TABLES, create_statement, quote_ident, statements
from services.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1.5", "", "100000001"])
def test_bad_sizes_are_refused_naming_the_flag(bad: str) -> None:
    with pytest.raises(SeedInputError, match="--size"):
        check_size(bad)


def test_sizes_may_use_separators() -> None:
    assert check_size("1_000_000") == 1_000_000
    assert check_size("11,153") == 11_153
    assert check_size(5) == 5


def test_bad_seed_is_refused() -> None:
    with pytest.raises(SeedInputError, match="--seed"):
        check_seed("x")
    assert check_seed("-3") == -3


def test_cli_rejects_bad_size_with_a_message_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["load", "--size", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and "Traceback" not in err


def test_cli_checksum_and_sample_need_no_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checksum", "--size", "20", "--seed", "4"]) == 0
    assert capsys.readouterr().out.strip() == checksum(20, 4)
    assert main(["sample", "--size", "20", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"pin", "geo", "user"}
    assert first["pin"]["index"] == first["geo"]["ind"] == first["user"]["ind"] == 0


def test_help_names_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("MYSQL_HOST", "MYSQL_PORT", "MYSQL_ADMIN_USER", "load", "bench", "status"):
        assert name in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_cli_unreachable_mysql_names_host_and_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MYSQL_PORT", str(_free_port()))
    assert main(["load", "--size", "10"]) == 1
    err = capsys.readouterr().err
    assert "MYSQL_HOST" in err and "MYSQL_PORT" in err and "Traceback" not in err


def test_driver_errors_become_messages_naming_the_setting() -> None:
    settings = Settings()
    refused = explain(pymysql.err.OperationalError(1045, "Access denied"), settings)
    assert isinstance(refused, SeedConnectionError)
    assert "MYSQL_ADMIN_USER" in str(refused) and "MYSQL_ADMIN_PASSWORD" in str(refused)
    down = explain(pymysql.err.OperationalError(2003, "Can't connect"), settings)
    assert isinstance(down, SeedConnectionError) and "MYSQL_PORT" in str(down)
    denied = explain(pymysql.err.OperationalError(1227, "need CREATE USER"), settings)
    assert isinstance(denied, SeedPermissionError) and "MYSQL_ADMIN_USER" in str(denied)


def test_schema_has_the_three_tables_and_the_metadata_table() -> None:
    assert list(statements()) == [*SOURCE_TABLES, META_TABLE]
    assert META_TABLE not in SOURCE_TABLES
    staged = create_statement("user_data", "_stage_user_data")
    assert staged.startswith("CREATE TABLE IF NOT EXISTS `_stage_user_data`")
    assert "`index` INT NOT NULL" in create_statement("pinterest_data")


def test_identifiers_are_quoted_or_refused() -> None:
    assert quote_ident("pinterest_data") == "`pinterest_data`"
    with pytest.raises(ValueError):
        quote_ident("bad`name")
    # Grants escape LIKE wildcards so they cover exactly one database.
    assert db_grant_pattern("pinterest_data") == "`pinterest\\_data`"
