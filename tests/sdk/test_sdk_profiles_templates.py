"""Profiles and object templates through the SDK as upstream 1.11 serves them: a profile that
sets a relationship (reported `is_from_profile`, as the SDK's own integration suite checks),
a profile supplying a mandatory attribute, and a template naming the number pool its objects
take a value from."""

from __future__ import annotations

import uuid

import pytest
from infrahub_sdk.exceptions import GraphQLError

SCHEMA = {
    "version": "1.0",
    "nodes": [
        {
            "name": "Router",
            "namespace": "Testing",
            "generate_template": True,
            "human_friendly_id": ["name__value"],
            "attributes": [
                {"name": "name", "kind": "Text", "unique": True},
                {"name": "role", "kind": "Text"},
                {"name": "asn", "kind": "Number", "optional": True},
            ],
            "relationships": [
                {"name": "tags", "peer": "BuiltinTag", "kind": "Attribute", "cardinality": "many", "optional": True},
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def router_schema(client) -> None:
    client.schema.load(schemas=[SCHEMA], wait_until_converged=True)


def test_a_relationship_set_by_a_profile_is_from_profile(client, router_schema) -> None:
    suffix = uuid.uuid4().hex[:6]
    tag = client.create(kind="BuiltinTag", name=f"profile-tag-{suffix}")
    tag.save()
    profile = client.create(
        kind="ProfileTestingRouter",
        profile_name=f"edge-{suffix}",
        profile_priority=1000,
        role="edge",
        tags=[tag],
    )
    profile.save()
    # `role` is mandatory: the profile supplies it.
    router = client.create(kind="TestingRouter", name=f"r-{suffix}", profiles=[profile])
    router.save()

    fetched = client.get(kind="TestingRouter", id=router.id, property=True, include=["tags"])
    assert fetched.role.value == "edge"
    assert fetched.role.is_from_profile
    assert fetched.tags.initialized
    assert len(fetched.tags.peers) == 1
    assert fetched.tags.peers[0].id == tag.id
    assert fetched.tags.peers[0].is_from_profile
    assert fetched.tags.is_from_profile


def test_an_object_created_from_a_template_takes_a_number_from_its_pool(client, router_schema) -> None:
    suffix = uuid.uuid4().hex[:6]
    pool = client.create(
        kind="CoreNumberPool",
        name=f"asns-{suffix}",
        node="TestingRouter",
        node_attribute="asn",
        start_range=64512,
        end_range=64520,
    )
    pool.save()
    both = client.create(
        kind="TemplateTestingRouter",
        template_name=f"both-{suffix}",
        asn=64600,
        asn_from_resource_pool=pool,
    )
    with pytest.raises(GraphQLError, match="Cannot set 'asn_from_resource_pool'"):
        both.save()
    template = client.create(
        kind="TemplateTestingRouter",
        template_name=f"leaf-{suffix}",
        role="leaf",
        asn_from_resource_pool=pool,
    )
    template.save()
    numbers = []
    for index in range(2):
        router = client.create(kind="TestingRouter", name=f"leaf{index}-{suffix}", object_template=template)
        router.save()
        fetched = client.get(kind="TestingRouter", id=router.id)
        assert fetched.role.value == "leaf"
        numbers.append(fetched.asn.value)
    assert numbers == [64512, 64513]
