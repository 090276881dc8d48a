"""The CI check that a test can fail: it names the tests that assert nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.check_asserts import main

pytestmark = pytest.mark.unit

SOURCE = """
import pytest

def helper(x):
    assert x

def only_returns(x):
    return x

def test_calls_a_helper_that_returns():
    only_returns(1)

def test_calls_a_helper_that_asserts():
    helper(1)

def test_expects_an_error():
    with pytest.raises(ValueError):
        int("x")

def test_asserts():
    assert 1 + 1 == 2

class TestGroup:
    def test_prints(self):
        print("nothing checked")
"""


def test_names_each_test_without_an_assertion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test_sample.py").write_text(SOURCE)
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "test_calls_a_helper_that_returns asserts nothing" in err
    assert "test_prints asserts nothing" in err
    for fine in ("test_calls_a_helper_that_asserts", "test_expects_an_error", "test_asserts "):
        assert fine not in err
    assert "2 test(s) without an assertion" in err


def test_passes_a_module_whose_tests_all_assert(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text("def test_x():\n    assert True\n")
    assert main([str(tmp_path)]) == 0
