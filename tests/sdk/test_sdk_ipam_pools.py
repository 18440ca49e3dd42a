"""IPAM and resource pools as a bootstrap script uses them through the SDK: a namespace, a
container prefix, prefix, address and number pools, allocations with the SDK's helpers and with
`from_pool` inside a batch, and the hierarchy and utilization that follow."""

from __future__ import annotations

import uuid

import pytest
from infrahub_sdk.exceptions import GraphQLError

VLAN_SCHEMA = {
    "version": "1.0",
    "nodes": [
        {
            "name": "Vlan",
            "namespace": "Testing",
            "human_friendly_id": ["name__value"],
            "attributes": [
                {"name": "name", "kind": "Text", "unique": True},
                {"name": "vlan_id", "kind": "Number", "parameters": {"min_value": 1, "max_value": 4094}},
            ],
        }
    ],
}


def prefix_query(client, prefix_id: str) -> dict:
    result = client.execute_graphql(
        query="""query($id: ID!) { IpamPrefix(ids: [$id]) { edges { node {
            prefix { value } utilization { value } is_top_level { value } netmask { value }
            parent { node { id } } children { count } ip_addresses { count } } } } }""",
        variables={"id": prefix_id},
    )
    return result["IpamPrefix"]["edges"][0]["node"]


def test_a_bootstrap_script_allocates_from_pools(server, client, base_schema) -> None:
    suffix = uuid.uuid4().hex[:6]
    namespace = client.get("IpamNamespace", default__value=True)
    container = client.create("IpamPrefix", prefix="10.100.0.0/16", member_type="prefix", status="active")
    container.save()
    loopbacks = client.create("IpamPrefix", prefix="10.200.0.0/24", member_type="address", status="active")
    loopbacks.save()

    prefix_pool = client.create(
        "CoreIPPrefixPool",
        name=f"links-{suffix}",
        default_prefix_length=24,
        default_prefix_type="IpamPrefix",
        default_member_type="address",
        resources=[container],
        ip_namespace=namespace,
    )
    prefix_pool.save()
    first = client.allocate_next_ip_prefix(prefix_pool, identifier="site-a", data={"status": "active"})
    again = client.allocate_next_ip_prefix(prefix_pool, identifier="site-a", data={"status": "active"})
    other = client.allocate_next_ip_prefix(prefix_pool, identifier="site-b", data={"status": "active"})
    assert first.id == again.id, "the same identifier gets the same prefix back"
    assert str(first.prefix.value) == "10.100.0.0/24"
    assert str(other.prefix.value) == "10.100.1.0/24"
    sixteen = client.allocate_next_ip_prefix(prefix_pool, prefix_length=20, data={"status": "active"})
    assert str(sixteen.prefix.value) == "10.100.16.0/20"

    # The allocated prefixes sit under the container, which reports their space used.
    allocated = prefix_query(client, first.id)
    assert allocated["parent"]["node"]["id"] == container.id
    assert allocated["netmask"]["value"] == "255.255.255.0"
    held = prefix_query(client, container.id)
    assert held["children"]["count"] == 3
    assert held["is_top_level"]["value"] is True
    # (256 + 256 + 4096) of 65536 addresses.
    assert held["utilization"]["value"] == 7

    # The pool reports what it handed out and how full it is, as the SDK reads them.
    handed_out = prefix_pool.get_pool_allocated_resources(resource=container)
    assert sorted(str(p.prefix.value) for p in handed_out) == ["10.100.0.0/24", "10.100.1.0/24", "10.100.16.0/20"]
    report = prefix_pool.get_pool_resources_utilization()
    assert len(report) == 1 and report[0]["id"] == container.id
    assert 7 <= report[0]["utilization"] < 8
    # The IPAM helpers find the next free prefix and address.
    free = client.execute_graphql(
        query='query($id: String!) { InfrahubIPPrefixGetNextAvailable(prefix_id: $id, prefix_length: 24) { prefix } }',
        variables={"id": container.id},
    )
    assert free["InfrahubIPPrefixGetNextAvailable"]["prefix"] == "10.100.2.0/24"

    address_pool = client.create(
        "CoreIPAddressPool",
        name=f"loopbacks-{suffix}",
        default_address_type="IpamIPAddress",
        default_prefix_length=32,
        resources=[loopbacks],
        ip_namespace=namespace,
    )
    address_pool.save()
    loopback = client.allocate_next_ip_address(address_pool, identifier="router-1")
    assert str(loopback.address.value) == "10.200.0.1/32"
    assert client.allocate_next_ip_address(address_pool, identifier="router-1").id == loopback.id

    # `from_pool` on a relationship: the gateway of a new prefix comes from the address pool.
    with_gateway = client.create(
        "IpamPrefix", prefix="10.100.200.0/24", status="active", gateway=address_pool
    )
    with_gateway.save()
    gateway = client.get("IpamPrefix", id=with_gateway.id, prefetch_relationships=True).gateway
    assert gateway.id is not None and gateway.id != loopback.id
    assert prefix_query(client, loopbacks.id)["ip_addresses"]["count"] == 2
    free = client.execute_graphql(
        query='query($id: String!) { InfrahubIPAddressGetNextAvailable(prefix_id: $id) { address } }',
        variables={"id": loopbacks.id},
    )
    assert free["InfrahubIPAddressGetNextAvailable"]["address"] == "10.200.0.3/24"

    # Number pools in a batch, as bootstrap scripts create VLANs.
    client.schema.load(schemas=[VLAN_SCHEMA])
    vlan_pool = client.create(
        "CoreNumberPool",
        name=f"vlans-{suffix}",
        node="TestingVlan",
        node_attribute="vlan_id",
        start_range=100,
        end_range=102,
    )
    vlan_pool.save()
    batch = client.create_batch()
    for index in range(3):
        vlan = client.create("TestingVlan", name=f"vlan-{suffix}-{index}", vlan_id=vlan_pool)
        batch.add(task=vlan.save, node=vlan)
    for _, _ in batch.execute():
        pass
    numbers = sorted(v.vlan_id.value for v in client.filters(kind="TestingVlan", name__values=[f"vlan-{suffix}-{i}" for i in range(3)]))
    assert numbers == [100, 101, 102]
    with pytest.raises(GraphQLError) as exhausted:
        client.create("TestingVlan", name=f"vlan-{suffix}-late", vlan_id=vlan_pool).save()
    assert "exhausted" in str(exhausted.value)
    # Saving a node again keeps its number.
    kept = client.get("TestingVlan", name__value=f"vlan-{suffix}-0")
    before = kept.vlan_id.value
    kept.save()
    assert client.get("TestingVlan", id=kept.id).vlan_id.value == before
