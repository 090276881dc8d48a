"""Every command the README shows a new user works as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from services.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.integration

README = (PROJECT_ROOT / "README.md").read_text()


def _sh(cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, shell=True, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_every_make_target_in_the_readme_exists() -> None:
    out = _sh("make help")
    assert out.returncode == 0, out.stderr
    listed = set(re.findall(r"^\s+(?:\x1b\[36m)?([a-z-]+)", out.stdout, re.M))
    mentioned = set(re.findall(r"make ([a-z][a-z-]+)", README))
    mentioned |= {
        t
        for group in re.findall(r"`make ([a-z-]+(?: / [a-z-]+)+)`", README)
        for t in group.split(" / ")
    }
    mentioned |= set(re.findall(r"/ `([a-z-]+)`", README))
    assert mentioned, "no make targets found in the README"
    assert mentioned <= listed, f"README names targets make lacks: {mentioned - listed}"


def test_looking_inside_commands_work(stack: Settings) -> None:
    from seed_data import load

    load.load(stack)  # the reader account and the default data set exist after `make seed`
    assert shutil.which("curl")
    topics = json.loads(_sh("curl -s 127.0.0.1:8082/topics").stdout)
    assert "local.pin" in topics
    detail = json.loads(_sh("curl -s 127.0.0.1:8082/topics/local.pin").stdout)
    assert detail["name"] == "local.pin" and detail["partitions"]
    verify = _sh(f"{sys.executable} -m services.landing verify")
    assert verify.returncode in (0, 1), verify.stderr
    assert "local.pin" in verify.stdout
    filer = _sh("curl -s -H 'Accept: application/json' http://127.0.0.1:9335/buckets/")
    assert "user-local-bucket" in filer.stdout
    mysql = _sh(
        "mysql -h 127.0.0.1 -u pinterest_reader -preader-local-only pinterest_data "
        "-N -e 'SELECT COUNT(*) FROM pinterest_data'"
    )
    assert mysql.returncode == 0, mysql.stderr
    assert int(mysql.stdout.strip()) == 11_153
