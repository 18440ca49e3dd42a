"""Branches as SDK users and infrahubctl drive them."""

from __future__ import annotations

import uuid

import pytest
from infrahub_sdk.exceptions import BranchNotFoundError, GraphQLError

from conftest import ctl


def test_branch_lifecycle_with_the_sdk(client, base_schema) -> None:
    name = f"feature/{uuid.uuid4().hex[:6]}"
    created = client.branch.create(branch_name=name, description="sdk test", sync_with_git=False)
    assert created.name == name
    assert name in client.branch.all()
    assert client.branch.get(branch_name=name).description == "sdk test"

    maker = client.create("OrganizationManufacturer", name=f"branch-maker-{uuid.uuid4().hex[:6]}", branch=name)
    maker.save()
    # Invisible on main until the merge.
    assert client.count("OrganizationManufacturer", name__value=maker.name.value) == 0
    assert client.count("OrganizationManufacturer", name__value=maker.name.value, branch=name) == 1

    client.branch.rebase(branch_name=name)
    client.branch.merge(branch_name=name)
    assert client.count("OrganizationManufacturer", name__value=maker.name.value) == 1

    client.branch.delete(branch_name=name)
    with pytest.raises(BranchNotFoundError):
        client.branch.get(branch_name=name)


def test_conflicting_changes_block_the_merge(client, base_schema) -> None:
    name = f"conflict-{uuid.uuid4().hex[:6]}"
    maker = client.create("OrganizationManufacturer", name=f"c-maker-{uuid.uuid4().hex[:6]}", description="base")
    maker.save()
    client.branch.create(branch_name=name, sync_with_git=False)
    on_branch = client.get("OrganizationManufacturer", id=maker.id, branch=name)
    on_branch.description.value = "branch"
    on_branch.save()
    on_main = client.get("OrganizationManufacturer", id=maker.id)
    on_main.description.value = "main"
    on_main.save()
    with pytest.raises(GraphQLError):
        client.branch.merge(branch_name=name)
    assert client.get("OrganizationManufacturer", id=maker.id).description.value == "main"


def test_branches_with_infrahubctl(server, base_schema) -> None:
    name = f"ctl-{uuid.uuid4().hex[:6]}"
    result = ctl(server, "branch", "create", name, "--description", "from infrahubctl")
    assert result.returncode == 0, result.stdout + result.stderr
    result = ctl(server, "branch", "list")
    assert result.returncode == 0, result.stdout + result.stderr
    assert name in result.stdout
    result = ctl(server, "branch", "rebase", name)
    assert result.returncode == 0, result.stdout + result.stderr
    result = ctl(server, "branch", "merge", name)
    assert result.returncode == 0, result.stdout + result.stderr
    result = ctl(server, "branch", "delete", name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert name not in ctl(server, "branch", "list").stdout


def test_diff_of_a_branch(client, base_schema) -> None:
    from datetime import datetime, timezone

    name = f"diff-{uuid.uuid4().hex[:6]}"
    existing = client.create("OrganizationManufacturer", name=f"d-maker-{uuid.uuid4().hex[:6]}", description="old")
    existing.save()
    client.branch.create(branch_name=name, sync_with_git=False)
    start = datetime.now(timezone.utc)
    added = client.create("OrganizationManufacturer", name=f"d-new-{uuid.uuid4().hex[:6]}", branch=name)
    added.save()
    changed = client.get("OrganizationManufacturer", id=existing.id, branch=name)
    changed.description.value = "new"
    changed.save()

    summary = client.get_diff_summary(branch=name)
    by_id = {node["id"]: node for node in summary}
    assert by_id[added.id]["action"] == "ADDED"
    assert by_id[existing.id]["action"] == "UPDATED"
    assert any(e["name"] == "description" for e in by_id[existing.id]["elements"])

    assert client.create_diff(branch=name, name="review", from_time=start, to_time=datetime.now(timezone.utc))
    tree = client.get_diff_tree(branch=name, name="review")
    assert tree is not None
    assert tree["num_added"] == 1 and tree["num_updated"] == 1
    client.branch.delete(branch_name=name)


def test_background_merge_waited_for_through_the_task_api(client, server, base_schema) -> None:
    from infrahub_sdk.task.models import TaskFilter, TaskState

    name = f"bg-merge-{uuid.uuid4().hex[:6]}"
    task_id = client.branch.create(branch_name=name, sync_with_git=False, wait_until_completion=False)
    assert isinstance(task_id, str)
    created = client.task.wait_for_completion(id=task_id, timeout=30)
    assert created.state == TaskState.COMPLETED
    assert created.workflow == "create-branch"
    assert created.branch == name

    maker = client.create("OrganizationManufacturer", name=f"bg-maker-{uuid.uuid4().hex[:6]}", branch=name)
    maker.save()
    response = client.execute_graphql(
        query='mutation { BranchMerge(wait_until_completion: false, data: {name: "%s"}) { ok task { id } object { name } } }'
        % name
    )
    assert response["BranchMerge"]["object"]["name"] == name
    merge_id = response["BranchMerge"]["task"]["id"]
    merged = client.task.wait_for_completion(id=merge_id, timeout=30)
    assert merged.state == TaskState.COMPLETED
    assert merged.workflow == "merge-branch-mutation"
    assert client.count("OrganizationManufacturer", name__value=maker.name.value) == 1

    # The merge is listed with its log, as `infrahubctl task list` shows it.
    tasks = client.task.filter(filter=TaskFilter(ids=[merge_id]), include_logs=True, include_related_nodes=True)
    assert [t.id for t in tasks] == [merge_id]
    assert any(f"Merging branch {name}" == log.message for log in tasks[0].logs)
    assert client.task.count(filters=TaskFilter(workflow=["merge-branch-mutation"])) >= 1
    result = ctl(server, "task", "list", "--state", "completed", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert merge_id in result.stdout
