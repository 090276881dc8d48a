"""The native stack's generated configuration: loopback listeners, supervised programs."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.settings import Settings, load_settings
from services.stack import configs
from services.stack.definitions import all_services
from services.stack.supervisor import render

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path)


def test_kafka_binds_and_advertises_loopback_only(settings: Settings) -> None:
    props = dict(
        line.split("=", 1)
        for line in configs.kafka_properties(settings).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["process.roles"] == "broker,controller"
    assert props["auto.create.topics.enable"] == "false"


def test_connect_listens_on_loopback(settings: Settings) -> None:
    text = configs.connect_properties(settings).read_text()
    assert "listeners=http://127.0.0.1:8083" in text
    assert "value.converter.schemas.enable=false" in text


def test_cluster_id_is_stable(settings: Settings) -> None:
    first = configs.kafka_cluster_id(settings)
    assert len(first) == 22
    assert configs.kafka_cluster_id(settings) == first


def test_s3_identities_are_private(settings: Settings) -> None:
    path = configs.s3_identities(settings)
    assert path.stat().st_mode & 0o077 == 0
    assert settings.s3_access_key.get_secret_value() in path.read_text()


def test_every_server_binds_loopback(settings: Settings) -> None:
    for svc in all_services(settings):
        cmd = " ".join(svc.command)
        if svc.name == "mysql":
            assert "--bind-address=127.0.0.1" in cmd
        if svc.name == "s3":
            assert "-ip.bind=127.0.0.1" in cmd


def test_supervisor_config_lists_each_program_manual_start(settings: Settings) -> None:
    services = all_services(settings)
    text = render(settings, services)
    for svc in services:
        assert f"[program:{svc.name}]" in text
        assert f"stdout_logfile={svc.log(settings)}" in text
    assert text.count("autostart=false") == len(services)
    assert text.count("autorestart=false") == len([s for s in services if s.name != "s3-sink"])
    assert "chmod=0700" in text


def test_services_are_in_dependency_order(settings: Settings) -> None:
    names = [s.name for s in all_services(settings)]
    for i, svc in enumerate(all_services(settings)):
        for dep in svc.depends_on:
            assert names.index(dep) < i, f"{svc.name} starts before its dependency {dep}"


def test_copied_settings_follow_a_new_state_dir(settings: Settings, tmp_path: Path) -> None:
    # model_copy must not carry paths derived from the old state_dir.
    other = settings.model_copy(update={"state_dir": tmp_path / "other"})
    assert other.data_dir == tmp_path / "other" / "data"
    assert other.logs_dir == tmp_path / "other" / "logs"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_building_the_definitions_writes_nothing(settings: Settings) -> None:
    """`make status` and `make logs` build them: a never-started state folder stays empty."""
    services = all_services(settings)
    render(settings, services)
    assert _tree(settings.state_dir) == set()
    # What they name is written by `make up`'s prepare step, and all of it is there after.
    configs.prepare(settings)
    written = _tree(settings.state_dir)
    named = {
        configs.kafka_properties_path(settings),
        configs.connect_properties_path(settings),
        configs.log4j2_properties_path(settings),
        configs.s3_identities_path(settings),
        configs.seaweedfs_conf_dir(settings) / "master.toml",
        *configs.scratch_dirs(settings).values(),
    }
    assert {str(p.relative_to(settings.state_dir)) for p in named} <= written
    for svc in services:
        assert svc.cwd.is_dir(), f"{svc.name} would start in a missing folder {svc.cwd}"


def test_seaweedfs_ports_are_settings(tmp_path: Path) -> None:
    moved = load_settings(
        state_dir=tmp_path,
        seaweedfs_master_port=29333,
        seaweedfs_volume_port=29334,
        seaweedfs_filer_port=29335,
    )
    s3 = next(s for s in all_services(moved) if s.name == "s3")
    cmd = " ".join(s3.command)
    assert "-master.port=29333" in cmd and "-volume.port=29334" in cmd
    assert "-filer.port=29335" in cmd and "9333" not in cmd.replace("29333", "")
    # make up refuses to start over any of them, gRPC (+10000) included.
    assert {29333, 29334, 29335, 39333, 39334, 39335} <= set(s3.ports)


def test_the_command_lines_do_not_depend_on_how_python_was_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    first = render(settings, all_services(settings))
    monkeypatch.setattr(sys, "executable", sys.executable + "3.11-elsewhere")
    assert render(settings, all_services(settings)) == first


def test_start_order_comes_from_depends_on_and_keeps_todays_order(settings: Settings) -> None:
    from services.stack.definitions import start_order

    services = all_services(settings)
    assert [s.name for s in services] == ["mysql", "kafka", "connect", "s3", "rest-proxy"]
    # Declared in a wrong order, each still starts after what it depends on, and the others
    # keep their declared place: whatever can start is started first.
    by_name = {s.name: s for s in services}
    shuffled = [by_name[n] for n in ("rest-proxy", "connect", "s3", "kafka", "mysql")]
    assert [s.name for s in start_order(shuffled)] == [
        "s3",
        "kafka",
        "rest-proxy",
        "connect",
        "mysql",
    ]


def test_a_dependency_cycle_or_an_unknown_name_is_refused_with_the_culprits(
    settings: Settings,
) -> None:
    from dataclasses import replace

    from services.stack.definitions import DependencyError, start_order

    by_name = {s.name: s for s in all_services(settings)}
    # kafka -> connect -> kafka: nothing of the two could start first.
    looped = [
        by_name["mysql"],
        replace(by_name["kafka"], depends_on=("connect",)),
        by_name["connect"],
        by_name["s3"],
    ]
    with pytest.raises(DependencyError) as raised:
        start_order(looped)
    assert "cycle (kafka -> connect -> kafka)" in str(raised.value)
    assert "depends_on in services/stack/definitions.py" in str(raised.value)

    typo = [by_name["kafka"], replace(by_name["connect"], depends_on=("kafak",))]
    with pytest.raises(DependencyError, match="'connect' depends on 'kafak', which is not"):
        start_order(typo)
