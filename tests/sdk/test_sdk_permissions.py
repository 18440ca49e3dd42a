"""Permissions as SDK and infrahubctl users meet them: accounts in roles, what they may read
and change, and the messages refusals carry."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from infrahub_sdk.exceptions import AuthenticationError

from conftest import ctl, make_client


def account_in_role(client, name: str, permissions: list[tuple[str, str, str, int]], group: str | None = None):
    """Creates account `name` (password `<name>-password`) in a new group whose role holds the
    object `permissions` (namespace, name, action, decision), or in the existing `group`."""
    account = client.create("CoreAccount", name=name, password=f"{name}-password", account_type="User")
    account.save()
    if group is not None:
        existing = client.get("CoreAccountGroup", name__value=group)
        existing.members.fetch()
        existing.members.add(account)
        existing.save()
        return account
    ids = []
    for namespace, kind_name, action, decision in permissions:
        permission = client.create(
            "CoreObjectPermission", namespace=namespace, name=kind_name, action=action, decision=decision
        )
        permission.save(allow_upsert=True)
        ids.append(permission.id)
    role = client.create("CoreAccountRole", name=f"{name}-role", permissions=ids)
    role.save()
    group_node = client.create("CoreAccountGroup", name=f"{name}-group", roles=[role.id], members=[account.id])
    group_node.save()
    return account


def api_token_of(server, name: str) -> str:
    """Logs `name` in and creates an API token for it, as a user would."""
    user = make_client(server.address, username=name, password=f"{name}-password")
    result = user.execute_graphql(
        query='mutation { InfrahubAccountTokenCreate(data: {name: "sdk"}) { object { token { value } } } }'
    )
    return result["InfrahubAccountTokenCreate"]["object"]["token"]["value"]


def test_a_user_limited_to_one_namespace(server, client, base_schema) -> None:
    suffix = uuid.uuid4().hex[:6]
    maker = client.create("OrganizationManufacturer", name=f"perm-maker-{suffix}")
    maker.save()
    tag = client.create("BuiltinTag", name=f"perm-tag-{suffix}")
    tag.save()
    name = f"orga-{suffix}"
    account_in_role(client, name, [("Organization", "*", "view", 6)])
    user = make_client(server.address, username=name, password=f"{name}-password")

    assert user.get("OrganizationManufacturer", name__value=maker.name.value).id == maker.id
    with pytest.raises(AuthenticationError) as refused:
        user.get("BuiltinTag", name__value=tag.name.value)
    assert "object:Builtin:Tag:view:allow_default" in str(refused.value)
    # Viewing is not changing.
    with pytest.raises(AuthenticationError) as refused:
        user.create("OrganizationManufacturer", name=f"perm-other-{suffix}").save()
    assert "You are not allowed to change data in the default branch" in str(refused.value)


def test_a_user_cannot_change_another_accounts_password(server, client, base_schema) -> None:
    suffix = uuid.uuid4().hex[:6]
    name = f"general-{suffix}"
    account_in_role(client, name, [], group="Infrahub Users")
    user = make_client(server.address, username=name, password=f"{name}-password")
    admin = user.get("CoreAccount", name__value="admin")
    branch = f"perm-{suffix}"
    user.branch.create(branch_name=branch, sync_with_git=False)
    on_branch = user.get("CoreAccount", id=admin.id, branch=branch)
    on_branch.password.value = "taken-over"
    with pytest.raises(AuthenticationError) as refused:
        on_branch.save()
    assert "You are not allowed to manage user accounts, groups or roles" in str(refused.value)
    # Data on a branch is theirs to change (General Access allows any action off main).
    user.create("BuiltinTag", name=f"perm-branch-tag-{suffix}", branch=branch).save()
    # The admin's password still works.
    assert make_client(server.address, username="admin", password="infrahub").get("CoreAccount", name__value="admin")


def test_infrahubctl_as_a_read_only_account_fails_writes(server, client, base_schema, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    name = f"reader-{suffix}"
    account_in_role(client, name, [("*", "*", "view", 6)])
    token = api_token_of(server, name)
    objects = tmp_path / "objects.yml"
    objects.write_text(
        f"""---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: OrganizationManufacturer
  data:
    - name: reader-maker-{suffix}
"""
    )
    result = ctl(server, "object", "load", str(objects), token=token)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "You are not allowed to change data in the default branch" in result.stdout + result.stderr
    assert client.count("OrganizationManufacturer", name__value=f"reader-maker-{suffix}") == 0
    # Reading works, its own groups and permissions included.
    result = ctl(server, "info", "--detail", token=token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Groups:" in result.stdout, result.stdout
