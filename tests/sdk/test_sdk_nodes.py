"""Node CRUD, relationships, pagination, upsert, batches, groups, time travel and bad input,
through the official SDK exactly as users script it."""

from __future__ import annotations

import time
import uuid

import pytest
from infrahub_sdk.exceptions import GraphQLError, NodeNotFoundError, SchemaNotFoundError
from infrahub_sdk.timestamp import Timestamp


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def manufacturer(client, base_schema):
    node = client.create("OrganizationManufacturer", name=unique("acme"))
    node.save()
    return node


def test_schema_load_is_idempotent(client, base_schema) -> None:
    again = client.schema.load(schemas=base_schema["schemas"])
    assert not again.errors
    assert not again.schema_updated
    schema = client.schema.get("DcimDevice", refresh=True)
    assert schema.kind == "DcimDevice"


def test_create_get_update_delete(client, manufacturer) -> None:
    name = unique("platform")
    platform = client.create("DcimPlatform", name=name, description="first", manufacturer=manufacturer)
    platform.save()
    assert platform.id

    fetched = client.get("DcimPlatform", id=platform.id)
    assert fetched.name.value == name
    assert fetched.description.value == "first"
    assert fetched.manufacturer.id == manufacturer.id
    assert fetched.hfid == [name]
    assert client.get("DcimPlatform", name__value=name).id == platform.id
    assert client.get("DcimPlatform", hfid=[name]).id == platform.id

    fetched.description.value = "second: with 'quotes' and ümlauts # @"
    fetched.save()
    assert client.get("DcimPlatform", id=platform.id).description.value == "second: with 'quotes' and ümlauts # @"

    fetched.delete()
    with pytest.raises(NodeNotFoundError):
        client.get("DcimPlatform", id=platform.id)
    # An id that is no UUID is sent as it is (or through the kind's default filter): not found.
    with pytest.raises(NodeNotFoundError):
        client.get("OrganizationManufacturer", id="no-such-maker")


def test_filters_with_characters_outside_ascii(client, manufacturer) -> None:
    # The SDK sends such values as variables in mutations but writes them inline in filters,
    # escaped the JSON way: every non-ASCII character as \uXXXX, emoji as surrogate pairs.
    name = unique("caf\u00e9 \U0001F600 \u6771\u4eac")
    platform = client.create("DcimPlatform", name=name, manufacturer=manufacturer)
    platform.save()
    assert client.get("DcimPlatform", name__value=name).id == platform.id
    assert client.get("DcimPlatform", hfid=[name]).name.value == name
    found = client.filters("DcimPlatform", name__values=[name, "other \U0001F680"])
    assert [node.id for node in found] == [platform.id]


def test_pagination_and_count(client, base_schema) -> None:
    prefix = unique("tag")
    batch = client.create_batch()
    for index in range(260):
        node = client.create("BuiltinTag", name=f"{prefix}-{index:04d}")
        batch.add(task=node.save, node=node)
    results = list(batch.execute())
    assert len(results) == 260

    assert client.count("BuiltinTag", name__value=prefix, partial_match=True) == 260
    tags = client.filters("BuiltinTag", name__value=prefix, partial_match=True)
    names = [t.name.value for t in tags]
    assert len(names) == 260
    assert names == sorted(names)
    parallel = client.filters("BuiltinTag", name__value=prefix, partial_match=True, parallel=True)
    assert sorted(t.id for t in parallel) == sorted(t.id for t in tags)
    page = client.filters("BuiltinTag", name__value=prefix, partial_match=True, offset=250, limit=50)
    assert [t.name.value for t in page] == names[250:]


def test_relationships_one_and_many(client, manufacturer) -> None:
    tags = []
    for color in ("red", "green", "blue"):
        tag = client.create("BuiltinTag", name=unique(color))
        tag.save()
        tags.append(tag)
    name = unique("devtype")
    device_type = client.create(
        "DcimDeviceType", name=name, manufacturer=manufacturer, tags=[tags[0], tags[1]]
    )
    device_type.save()

    fetched = client.get("DcimDeviceType", id=device_type.id, include=["tags"])
    assert fetched.height.value == 1  # schema default stored
    assert fetched.full_depth.value is True
    assert sorted(p.id for p in fetched.tags.peers) == sorted([tags[0].id, tags[1].id])
    assert fetched.manufacturer.id == manufacturer.id

    # A many-relationship given in an update replaces the set.
    fetched.tags.remove(tags[0].id)
    fetched.tags.remove(tags[1].id)
    fetched.tags.add(tags[2])
    fetched.save()
    again = client.get("DcimDeviceType", id=device_type.id, include=["tags"])
    assert [p.id for p in again.tags.peers] == [tags[2].id]

    # Filter through a relationship, and by peer attribute.
    found = client.filters("DcimDeviceType", tags__ids=[tags[2].id])
    assert [n.id for n in found] == [device_type.id]
    found = client.filters("DcimDeviceType", manufacturer__name__value=manufacturer.name.value)
    assert device_type.id in [n.id for n in found]

    # The other side of a bidirectional relationship sees the link.
    platform = client.create("DcimPlatform", name=unique("os"), manufacturer=manufacturer)
    platform.save()
    maker = client.get("OrganizationManufacturer", id=manufacturer.id, include=["platform"])
    assert platform.id in [p.id for p in maker.platform.peers]


def test_prefetch_and_property(client, manufacturer) -> None:
    platform = client.create("DcimPlatform", name=unique("nos"), manufacturer=manufacturer)
    platform.save()
    node = client.get("DcimPlatform", id=platform.id, prefetch_relationships=True, property=True)
    assert node.manufacturer.peer.name.value == manufacturer.name.value
    assert node.name.is_protected is False
    assert node.name.updated_at


def test_upsert(client, manufacturer) -> None:
    name = unique("upsert")
    first = client.create("DcimPlatform", name=name, description="one", manufacturer=manufacturer)
    first.save(allow_upsert=True)
    second = client.create("DcimPlatform", name=name, description="two", manufacturer=manufacturer)
    second.save(allow_upsert=True)
    assert second.id == first.id
    assert client.get("DcimPlatform", name__value=name).description.value == "two"
    assert client.count("DcimPlatform", name__value=name) == 1

    # A node exported from another instance keeps its id there (as `infrahubctl load` sends
    # it): the node with the same human-friendly id here is updated.
    exported = client.create(
        "DcimPlatform", id=str(uuid.uuid4()), name=name, description="three", manufacturer=manufacturer
    )
    exported.save(allow_upsert=True)
    assert client.count("DcimPlatform", name__value=name) == 1
    assert client.get("DcimPlatform", name__value=name).description.value == "three"


def test_generic_query_returns_concrete_kinds(client, base_schema) -> None:
    maker = client.create("OrganizationManufacturer", name=unique("gen"))
    maker.save()
    provider = client.create("OrganizationProvider", name=unique("gen"))
    provider.save()
    nodes = client.filters("OrganizationGeneric", ids=[maker.id, provider.id])
    assert sorted(n.typename for n in nodes) == ["OrganizationManufacturer", "OrganizationProvider"]


def test_groups_and_relationship_add_remove(client, base_schema) -> None:
    members = []
    for _ in range(3):
        tag = client.create("BuiltinTag", name=unique("member"))
        tag.save()
        members.append(tag)
    group = client.create("CoreStandardGroup", name=unique("group"), members=[members[0]])
    group.save()

    group.add_relationships(relation_to_update="members", related_nodes=[members[1].id, members[2].id])
    fetched = client.get("CoreStandardGroup", id=group.id, include=["members"])
    assert sorted(p.id for p in fetched.members.peers) == sorted(m.id for m in members)
    assert client.filters("BuiltinTag", member_of_groups__ids=[group.id], ids=[m.id for m in members])

    group.remove_relationships(relation_to_update="members", related_nodes=[members[0].id])
    fetched = client.get("CoreStandardGroup", id=group.id, include=["members"])
    assert sorted(p.id for p in fetched.members.peers) == sorted([members[1].id, members[2].id])
    tag = client.get("BuiltinTag", id=members[1].id, include=["member_of_groups"])
    assert group.id in [g.id for g in tag.member_of_groups.peers]


def test_time_travel(client, manufacturer) -> None:
    platform = client.create("DcimPlatform", name=unique("tt"), description="before", manufacturer=manufacturer)
    platform.save()
    time.sleep(0.05)
    before = Timestamp()
    time.sleep(0.05)
    platform.description.value = "after"
    platform.save()
    assert client.get("DcimPlatform", id=platform.id).description.value == "after"
    assert client.get("DcimPlatform", id=platform.id, at=before).description.value == "before"


def test_bad_input_is_refused_and_changes_nothing(client, manufacturer) -> None:
    with pytest.raises(SchemaNotFoundError):
        client.create("NoSuchKind", name="x")

    name = unique("dup")
    original = client.create("DcimPlatform", name=name, manufacturer=manufacturer)
    original.save()
    count = client.count("DcimPlatform")

    duplicate = client.create("DcimPlatform", name=name, manufacturer=manufacturer)
    with pytest.raises(GraphQLError) as error:
        duplicate.save()
    assert "name" in str(error.value)

    missing = client.create("DcimDeviceType", description="no name")
    with pytest.raises(GraphQLError) as error:
        missing.save()
    assert "name" in str(error.value)

    invalid = client.create("DcimDeviceType", name=unique("bad"), height="tall", manufacturer=manufacturer)
    with pytest.raises(GraphQLError) as error:
        invalid.save()
    assert "height" in str(error.value)

    assert client.count("DcimPlatform") == count
    assert client.count("DcimDeviceType", description__value="no name") == 0


def test_profiles_supply_values_that_filters_see(client, manufacturer) -> None:
    profile = client.create(
        "ProfileDcimPlatform",
        profile_name=unique("profile"),
        profile_priority=10,
        description="from the profile",
    )
    profile.save()
    name = unique("platform")
    platform = client.create("DcimPlatform", name=name, manufacturer=manufacturer, profiles=[profile])
    platform.save()

    fetched = client.get("DcimPlatform", id=platform.id, property=True)
    assert fetched.description.value == "from the profile"
    assert fetched.description.is_from_profile
    assert fetched.description.source.id == profile.id
    found = client.filters("DcimPlatform", description__value="from the profile")
    assert platform.id in [node.id for node in found]

    # Changing the profile changes the node; a value set on the node is the user's.
    profile.description.value = "changed in the profile"
    profile.save()
    assert client.get("DcimPlatform", id=platform.id).description.value == "changed in the profile"
    fetched = client.get("DcimPlatform", id=platform.id)
    fetched.description.value = "set on the node"
    fetched.save()
    profile.description.value = "changed again"
    profile.save()
    kept = client.get("DcimPlatform", id=platform.id, property=True)
    assert kept.description.value == "set on the node"
    assert not kept.description.is_from_profile
