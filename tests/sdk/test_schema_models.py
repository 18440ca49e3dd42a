"""Our rendering of processed schemas must parse with the SDK's own strict models, exactly as
`client.schema.fetch()` parses `GET /api/schema`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infrahub_sdk.schema import BranchSchema, GenericSchemaAPI, NodeSchemaAPI, ProfileSchemaAPI
from infrahub_sdk.schema.main import SchemaRootAPI

from conftest import run


def render(binary: Path, files: list[Path]) -> dict:
    result = run(binary, "schema", "check", "--json", *[str(f) for f in files])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def base_files(library: Path) -> list[Path]:
    return sorted((library / "base").glob("*.yml"))


def test_core_and_base_schema_parse_with_sdk_models(infrahub_bin: Path, library: Path) -> None:
    document = render(infrahub_bin, base_files(library))
    root = SchemaRootAPI(**document)
    branch = BranchSchema.from_api_response(document)

    kinds = {f"{item['namespace']}{item['name']}" for key in ("nodes", "generics", "profiles", "templates") for item in document[key]}
    assert set(branch.nodes) == kinds
    assert len(root.nodes) == len(document["nodes"])

    device = branch.nodes["DcimDevice"]
    assert isinstance(device, NodeSchemaAPI)
    assert "CoreArtifactTarget" in device.inherit_from
    assert {"member_of_groups", "subscriber_of_groups", "profiles"} <= set(device.relationship_names)
    assert device.get_attribute("name").kind == "Text"

    interface = branch.nodes["DcimInterface"]
    assert isinstance(interface, GenericSchemaAPI)
    assert "InterfacePhysical" in interface.used_by

    profile = branch.nodes["ProfileDcimDevice"]
    assert isinstance(profile, ProfileSchemaAPI)
    assert profile.get_attribute("profile_priority").default_value == 1000

    # The SDK detects resource pools and IP kinds by these generics.
    assert "CoreResourcePool" in branch.nodes["CoreIPPrefixPool"].inherit_from
    assert "BuiltinIPPrefix" in branch.nodes["IpamPrefix"].inherit_from


@pytest.mark.parametrize("extension", ["vlan/vlan.yml", "routing_bgp/bgp.yml", "location_minimal/location_minimal.yml"])
def test_extensions_parse_with_sdk_models(infrahub_bin: Path, library: Path, extension: str) -> None:
    needed = {
        "routing_bgp/bgp.yml": ["routing/routing.yml", "vrf/vrf.yml"],
    }.get(extension, [])
    files = base_files(library) + [library / "extensions" / p for p in needed] + [library / "extensions" / extension]
    document = render(infrahub_bin, files)
    branch = BranchSchema.from_api_response(document)
    for item in document["nodes"]:
        kind = f"{item['namespace']}{item['name']}"
        parsed = branch.nodes[kind]
        assert [a.name for a in parsed.attributes] == [a["name"] for a in item["attributes"]]
        assert [r.name for r in parsed.relationships] == [r["name"] for r in item["relationships"]]


def test_invalid_schema_is_refused_with_a_located_message(infrahub_bin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("version: '1.0'\nnodes:\n  - name: Device\n    namespace: Infra\n    attributes:\n      - name: name\n        kind: Txt\n")
    result = run(infrahub_bin, "schema", "check", str(bad))
    assert result.returncode != 0
    assert "nodes[0].attributes[0].kind" in result.stderr
    assert "Text" in result.stderr
