"""infrahubctl against the server: info, schema load/check, object load."""

from __future__ import annotations

import uuid
from pathlib import Path

from conftest import ctl


def test_info(server, base_schema) -> None:
    result = ctl(server, "info")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection Error" not in result.stdout


def test_schema_load_and_check(server, library: Path, base_schema) -> None:
    files = [str(p) for p in sorted((library / "base").glob("*.yml"))]
    result = ctl(server, "schema", "load", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    # The session fixture loaded these files already: nothing changes.
    assert "already up to date" in result.stdout, result.stdout

    result = ctl(server, "schema", "check", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_load_extension(server, library: Path, base_schema, tmp_path: Path) -> None:
    extension = library / "extensions" / "location_minimal" / "location_minimal.yml"
    result = ctl(server, "schema", "load", str(extension))
    assert result.returncode == 0, result.stdout + result.stderr


def test_object_load(server, client, base_schema, tmp_path: Path) -> None:
    maker = f"maker-{uuid.uuid4().hex[:6]}"
    objects = tmp_path / "objects.yml"
    objects.write_text(
        f"""---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: OrganizationManufacturer
  data:
    - name: {maker}
---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: DcimPlatform
  data:
    - name: {maker}-os
      manufacturer: {maker}
"""
    )
    result = ctl(server, "object", "load", str(objects))
    assert result.returncode == 0, result.stdout + result.stderr
    platform = client.get("DcimPlatform", name__value=f"{maker}-os")
    assert platform.manufacturer.id == client.get("OrganizationManufacturer", name__value=maker).id
    # Loading again is idempotent (upserts).
    result = ctl(server, "object", "load", str(objects))
    assert result.returncode == 0, result.stdout + result.stderr
    assert client.count("DcimPlatform", name__value=f"{maker}-os") == 1
