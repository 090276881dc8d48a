"""`clients_for` builds one factory per settings object: every call site shares it (and, on
AWS, one botocore session, so the credential chain is read once). No network."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from services.clients import clients_for
from services.clients.aws import AwsClients
from services.clients.local import LocalClients
from services.settings import Settings

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


def test_changing_the_target_changes_the_factory() -> None:
    settings = Settings(_env_file=None)
    assert isinstance(clients_for(settings), LocalClients)
    settings.pipeline_target = "aws"
    assert isinstance(clients_for(settings), AwsClients)
