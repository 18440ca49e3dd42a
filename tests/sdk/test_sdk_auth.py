"""Authentication as the SDK performs it: API token, password login, anonymous access."""

from __future__ import annotations

import pytest
from infrahub_sdk.exceptions import AuthenticationError, GraphQLError

from conftest import ADMIN_PASSWORD, make_client


def test_token_auth(server, client) -> None:
    info = client.get_server_information()
    assert info.deployment_id
    assert client.get_version() == info.version
    user = client.get_user()
    assert user["AccountProfile"]["name"]["value"] == "admin"


def test_password_login(server, base_schema) -> None:
    client = make_client(server.address, username="admin", password=ADMIN_PASSWORD)
    tag = client.create("BuiltinTag", name="created-with-password-login")
    tag.save()
    assert client.get("BuiltinTag", id=tag.id).name.value == "created-with-password-login"


def test_wrong_password(server) -> None:
    import httpx

    client = make_client(server.address, username="admin", password="wrong")
    with pytest.raises((httpx.HTTPStatusError, AuthenticationError)):
        client.get_version()


def test_anonymous_reads_but_cannot_write(server, base_schema) -> None:
    client = make_client(server.address)
    assert client.count("BuiltinTag") >= 0
    tag = client.create("BuiltinTag", name="anonymous")
    with pytest.raises((AuthenticationError, GraphQLError)):
        tag.save()


def test_invalid_token(server) -> None:
    client = make_client(server.address, api_token="not-a-token")
    with pytest.raises(AuthenticationError):
        client.get_version()
