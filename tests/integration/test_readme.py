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
    filer = _sh("curl -s -H 'Accept: application/json' http://127.0.0.1:9335/buckets/")
    assert "user-local-bucket" in filer.stdout
    mysql = _sh(
        "mysql -h 127.0.0.1 -u pinterest_reader -preader-local-only pinterest_data "
        "-N -e 'SELECT COUNT(*) FROM pinterest_data'"
    )
    assert mysql.returncode == 0, mysql.stderr
    assert int(mysql.stdout.strip()) == 11_153


def test_landing_verify_as_written_reports_a_complete_landing(ns: Settings) -> None:
    """The README's `services.landing verify`, on a namespace of our own whose records the
    running sink has landed: it must exit 0 and say COMPLETE (1 means something is missing)."""
    import os

    import requests

    from services.landing import wait_until_landed

    for topic in ns.topics:
        sent = requests.post(
            f"{ns.rest_proxy_url}/topics/{topic}",
            json={"records": [{"value": {"i": i}} for i in range(3)]},
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
            timeout=30,
        )
        assert sent.status_code == 200, sent.text
        assert not any(o.get("error") for o in sent.json()["offsets"]), sent.text
    landed = wait_until_landed(ns, 120)
    assert landed.complete and landed.total("landed") == 3 * len(ns.topics), landed.problems()

    verify = subprocess.run(
        [sys.executable, "-m", "services.landing", "verify"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PIPELINE_USER_ID": ns.pipeline_user_id},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "COMPLETE" in verify.stdout and "INCOMPLETE" not in verify.stdout
    assert f"{ns.pipeline_user_id}.pin" in verify.stdout
