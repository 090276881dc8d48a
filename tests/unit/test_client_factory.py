"""The client factory is the one place that knows the target: `clients_for` builds one per
settings object (every call site shares it and, on AWS, one botocore session), it tells the
user how to fix a missing bucket or topic on that target, and it gives the emulator its
endpoint and HTTP session. No network beyond a refused loopback port."""

from __future__ import annotations

import copy
import pickle
from typing import Any, get_args

import certifi
import pytest

from services.clients import clients_for
from services.clients.aws import AwsClients
from services.clients.base import Missing
from services.clients.local import LocalClients
from services.emulator.errors import EmulatorError
from services.emulator.sender import RetryPolicy, Sender
from services.settings import Settings, SettingsError
from tests.support.fake_aws import free_port

pytestmark = pytest.mark.unit

AWS: dict[str, Any] = {
    "pipeline_target": "aws",
    "pipeline_user_id": "0a1b2c3d4e5f",
    "rest_proxy_url": "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    "s3_region": "eu-central-1",
}


def test_the_same_settings_give_the_same_factory_and_one_botocore_session() -> None:
    settings = Settings(_env_file=None, **AWS)
    first, second = clients_for(settings), clients_for(settings)
    assert first is second
    assert isinstance(first, AwsClients) and isinstance(second, AwsClients)
    assert first.botocore_session() is second.botocore_session()


def test_a_copy_of_the_settings_gets_its_own_factory() -> None:
    settings = Settings(_env_file=None, **AWS)
    original = clients_for(settings)
    assert isinstance(original, AwsClients)
    session = original.botocore_session()
    other = settings.model_copy(update={"pipeline_user_id": "f5e4d3c2b1a0"})
    theirs = clients_for(other)
    assert isinstance(theirs, AwsClients)
    assert theirs is not original
    assert theirs.settings is other
    assert theirs.botocore_session() is not session
    # The copy did not take the original's place.
    assert clients_for(settings) is original
    assert clients_for(other) is theirs


def test_settings_with_a_factory_still_copy_pickle_and_compare() -> None:
    settings = Settings(_env_file=None, **AWS)
    clients = clients_for(settings)
    assert isinstance(clients, AwsClients)
    clients.botocore_session()  # holds a lock: must not travel with a copy or a pickle
    for twin in (copy.deepcopy(settings), pickle.loads(pickle.dumps(settings))):
        assert twin == settings
        assert clients_for(twin) is not clients
        assert clients_for(twin).settings is twin
    assert "_pipeline_clients" not in settings.model_dump()
    # A child process's environment carries settings, never the factory.
    assert not any("CLIENTS" in name for name in settings.to_env())


def test_changing_the_target_changes_the_factory() -> None:
    settings = Settings(_env_file=None)
    assert isinstance(clients_for(settings), LocalClients)
    settings.pipeline_target = "aws"
    assert isinstance(clients_for(settings), AwsClients)


# --- target-aware hints ------------------------------------------------------------------------

ALL_MISSING: tuple[Missing, ...] = get_args(Missing)


def test_local_hints_say_make_up_creates_and_starts_everything() -> None:
    clients = clients_for(Settings(_env_file=None, pipeline_user_id="ns-1"))
    for missing in ALL_MISSING:
        assert "`make up`" in clients.setup_hint(missing), missing
    assert clients.setup_hint("bucket") == (
        "`make up` creates it for PIPELINE_USER_ID=ns-1 (or check that user id)"
    )
    assert "S3_ENDPOINT=http://127.0.0.1:9000" in clients.setup_hint("s3")


def test_aws_hints_name_what_to_create_and_never_make_up() -> None:
    clients = clients_for(Settings(_env_file=None, **AWS))
    for missing in ALL_MISSING:
        hint = clients.setup_hint(missing)
        assert "make up" not in hint, missing
        assert "`make check-aws`" in hint, missing
    bucket = clients.setup_hint("bucket")
    assert "aws s3 mb s3://user-0a1b2c3d4e5f-bucket --region eu-central-1" in bucket
    assert "PIPELINE_USER_ID=0a1b2c3d4e5f" in bucket
    assert "KAFKA_BOOTSTRAP_SERVERS" in clients.setup_hint("topics")
    assert "KAFKA_AUTH=iam" in clients.setup_hint("kafka")
    assert "streaming-0a1b2c3d4e5f-<table>" in clients.setup_hint("streams")
    assert "invoke URL" in clients.setup_hint("rest")


def test_the_emulator_gets_its_endpoint_and_session_from_the_factory() -> None:
    aws = Settings(_env_file=None, **AWS)
    sender = Sender(aws, "rest", RetryPolicy(max_retries=0))
    assert sender.base == AWS["rest_proxy_url"]
    session = sender._session()
    assert session.verify == certifi.where()
    assert session is sender._session()  # one per thread, kept

    local = Settings(_env_file=None, rest_proxy_url=f"http://127.0.0.1:{free_port()}/")
    sender = Sender(local, "rest", RetryPolicy(max_retries=0))
    assert sender.base == local.rest_proxy_url.rstrip("/")
    with pytest.raises(EmulatorError, match=r"cannot reach the rest endpoint .*`make up`"):
        sender.preflight([local.topic("pin")])


def test_the_emulator_refuses_an_aws_invoke_url_that_is_not_one() -> None:
    aws = Settings(_env_file=None, **{**AWS, "rest_proxy_url": "http://127.0.0.1:8082"})
    with pytest.raises(SettingsError, match="REST_PROXY_URL"):
        Sender(aws, "rest", RetryPolicy(max_retries=0))


def test_aws_without_the_aws_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from services.settings import SettingsError

    # As after `make up` alone: the AWS SDK is not installed.
    monkeypatch.delitem(sys.modules, "services.clients.aws", raising=False)
    monkeypatch.setitem(sys.modules, "botocore.session", None)
    settings = Settings(_env_file=None, pipeline_target="aws")
    with pytest.raises(SettingsError) as info:
        clients_for(settings)
    message = str(info.value)
    assert "PIPELINE_TARGET=aws needs the [aws] extra" in message
    assert "botocore.session is not installed" in message
    assert "make check-aws" in message
