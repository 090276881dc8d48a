"""Pure logic of the MariaDB lock-down: grant targets, SHOW GRANTS parsing, the path check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.settings import Settings
from services.stack import mysql_accounts, mysql_layout
from services.stack.errors import StackError


def test_grant_targets_escape_wildcards() -> None:
    assert mysql_accounts.grant_pattern("pinterest_data") == "`pinterest\\_data`"
    assert mysql_accounts.scratch_pattern("pinterest_data") == "`pinterest\\_data\\_%`"
    settings = Settings(mysql_database="pinterest_data", mysql_user="pinterest_reader")
    assert mysql_accounts.scratch_database(settings, "t_1") == "pinterest_data_t_1"
    assert mysql_accounts.scratch_reader(settings) == "pinterest_reader_scratch"
    nested = settings.model_copy(update={"mysql_user": "pinterest_reader_scratch"})
    assert mysql_accounts.scratch_reader(nested) == "pinterest_reader_scratch"


@pytest.mark.parametrize("bad", ["", "a b", "db`; DROP", "x" * 49, "pinterest-data"])
def test_unusable_database_names_name_the_setting(bad: str) -> None:
    with pytest.raises(StackError, match="MYSQL_DATABASE"):
        mysql_accounts.check_database(bad)


def test_parse_grants_keeps_what_matters_and_flags_grant_option() -> None:
    lines = [
        "GRANT USAGE ON *.* TO `a`@`127.0.0.1` IDENTIFIED BY PASSWORD '*ABC'",
        "GRANT ALL PRIVILEGES ON `pinterest\\_data`.* TO `a`@`127.0.0.1`",
        "GRANT SELECT ON `x`.* TO `a`@`127.0.0.1` WITH GRANT OPTION",
        "GRANT ALL PRIVILEGES ON *.* TO `a`@`127.0.0.1` WITH GRANT OPTION",
    ]
    assert mysql_accounts.parse_grants(lines) == {
        "GRANT ALL PRIVILEGES ON `pinterest\\_data`.*",
        "GRANT SELECT ON `x`.* WITH GRANT OPTION",
        "GRANT ALL PRIVILEGES ON *.* WITH GRANT OPTION",
    }


def test_a_folder_another_user_cannot_enter_is_found(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = home / "project" / ".local" / "data"
    data.mkdir(parents=True)
    home.chmod(0o700)
    try:
        stranger = os.geteuid() + 12345  # owns nothing here, in no group of these folders
        blocked = mysql_layout.first_blocked_dir(data, stranger, {stranger})
        if os.stat(tmp_path).st_mode & 0o001:
            assert blocked == home
        else:  # pytest's own temp root is private: the walk stops there first
            assert blocked is not None and blocked in home.parents
        assert mysql_layout.first_blocked_dir(data, os.geteuid(), set()) is None
        home.chmod(0o701)  # search (x) without read is enough to pass through
        assert mysql_layout.first_blocked_dir(data, stranger, {stranger}) in (
            None,
            *home.parents,
        )
    finally:
        home.chmod(0o755)


def test_folders_of_the_server_live_in_the_state_folder(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    for folder in mysql_layout.owned_dirs(settings):
        assert tmp_path in folder.parents
    assert mysql_layout.socket_path(settings).parent == mysql_layout.run_dir(settings)
