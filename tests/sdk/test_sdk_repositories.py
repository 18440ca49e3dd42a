"""Git repositories as Infrahub users drive them: `infrahubctl repository add` and `list`, the
server's import, `infrahubctl render` (the SDK renders locally with Python's Jinja2) beside the
server's own rendering over REST, and artifacts generated and fetched through the SDK."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from conftest import ADMIN_TOKEN, ctl

MANIFEST = """\
schemas: [schemas]
queries:
  - name: rack_config
    file_path: queries/rack_config.gql
python_transforms:
  - name: rack_json
    file_path: transforms/rack_json.py
    class_name: RackJson
jinja2_transforms:
  - name: rack_config
    description: a rack's label sheet
    query: rack_config
    template_path: templates/rack.j2
artifact_definitions:
  - name: rack-sheet
    artifact_name: rack-sheet
    parameters: {name: name__value}
    content_type: text/plain
    targets: repo-racks
    transformation: rack_config
  - name: rack-json
    artifact_name: rack-json
    parameters: {name: name__value}
    content_type: application/json
    targets: repo-racks
    transformation: rack_json
"""

PYTHON = """\
from infrahub_sdk.transforms import InfrahubTransform

from .shared import units


class RackJson(InfrahubTransform):
    query = "rack_config"
    timeout = 20

    async def transform(self, data):
        rack = data["RepoRack"]["edges"][0]["node"]
        print("a print goes to the log, not into the answer")
        return {
            "name": rack["name"]["value"],
            "units": units(rack["height"]["value"] or 42),
            "label": "Bâtiment é",
        }
"""

SHARED = """\
def units(height):
    return list(range(1, min(height, 4) + 1))
"""

SCHEMA = """\
version: "1.0"
nodes:
  - name: Rack
    namespace: Repo
    inherit_from: [CoreArtifactTarget]
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: height, kind: Number, optional: true}
      - {name: tags_text, kind: Text, optional: true}
"""

QUERY = """\
query ($name: String!) {
  RepoRack(name__value: $name) {
    edges { node { name { value } height { value } tags_text { value } } }
  }
}
"""

# Whitespace control, loops, conditions, filters and an undefined value: what Python's Jinja2
# (through infrahubctl) and the server must render alike.
TEMPLATE = """\
{% for edge in data.RepoRack.edges %}
{% set rack = edge.node %}
RACK {{ rack.name.value | upper }}
  height: {{ rack.height.value | default(42) }}U
  {% for unit in range(1, 4) %}
  unit {{ "%02d" | format(unit) }}{% if unit is odd %} (odd){% endif %}

  {% endfor %}
  tags: {{ (rack.tags_text.value or "").split(",") | map("trim") | join(" / ") }}
  missing: [{{ rack.nothing }}]
{% endfor %}
"""


def git(directory: Path, *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        ["git", "-C", str(directory), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"},
    )
    return result.stdout.strip()


def make_repository(path: Path) -> str:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for name, text in {
        ".infrahub.yml": MANIFEST,
        "schemas/rack.yml": SCHEMA,
        "queries/rack_config.gql": QUERY,
        "templates/rack.j2": TEMPLATE,
        "transforms/__init__.py": "",
        "transforms/rack_json.py": PYTHON,
        "transforms/shared.py": SHARED,
    }.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return git(path, "rev-parse", "HEAD")


def wait_for_commit(client, name: str, commit: str) -> object:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        repository = client.get("CoreRepository", name__value=name)
        if repository.sync_status.value == "error-import":
            logs = client.execute_graphql(
                query='{ InfrahubTask(related_node__ids: ["%s"]) { edges { node { logs { edges { node { message } } } } } } }'
                % repository.id
            )
            raise AssertionError(f"the import of {name} failed: {logs}")
        if repository.commit.value == commit:
            return repository
        time.sleep(0.1)
    raise AssertionError(f"{name} never imported {commit}")


def test_repository_render_and_artifacts(server, client, tmp_path: Path) -> None:
    source = tmp_path / "source"
    head = make_repository(source)
    name = f"repo-{uuid.uuid4().hex[:6]}"
    client.create("CoreStandardGroup", name="repo-racks").save(allow_upsert=True)

    result = ctl(server, "repository", "add", name, f"file://{source}")
    assert result.returncode == 0, result.stdout + result.stderr
    repository = wait_for_commit(client, name, head)
    assert repository.internal_status.value == "active"
    assert repository.operational_status.value == "online"
    result = ctl(server, "repository", "list")
    assert result.returncode == 0, result.stdout + result.stderr
    assert name in result.stdout and "in-sync" in result.stdout

    # The schema came with the repository; racks join the target group.
    racks = []
    for rack_name, height, tags in [("r1", 42, "blue, cold aisle"), ("r2", None, None)]:
        rack = client.create("RepoRack", name=rack_name, height=height, tags_text=tags)
        rack.save()
        racks.append(rack)
    group = client.get("CoreStandardGroup", name__value="repo-racks")
    group.members.fetch()
    group.members.extend(racks)
    group.save()

    # infrahubctl renders with Python's Jinja2; the server with its own engine: the same text.
    for rack_name in ["r1", "r2"]:
        result = ctl(server, "render", "rack_config", f"name={rack_name}", "--out", str(tmp_path / rack_name), cwd=source)
        assert result.returncode == 0, result.stdout + result.stderr
        local = (tmp_path / rack_name).read_text()
        response = httpx.get(
            f"{server.address}/api/transform/jinja2/rack_config",
            params={"name": rack_name},
            headers={"X-INFRAHUB-KEY": ADMIN_TOKEN},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.text == local
    assert "tags: blue / cold aisle" in (tmp_path / "r1").read_text()

    # The Python transform: imported with the query and timeout of its class, run by the
    # server (with this SDK) and by infrahubctl alike.
    transform = client.get("CoreTransformPython", name__value="rack_json")
    assert transform.timeout.value == 20
    assert transform.class_name.value == "RackJson"
    result = ctl(server, "transform", "rack_json", "name=r1", "--out", str(tmp_path / "r1.json"), cwd=source)
    assert result.returncode == 0, result.stdout + result.stderr
    local = json.loads((tmp_path / "r1.json").read_text())
    response = httpx.get(
        f"{server.address}/api/transform/python/rack_json",
        params={"name": "r1"},
        headers={"X-INFRAHUB-KEY": ADMIN_TOKEN},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json() == local == {"name": "r1", "units": [1, 2, 3, 4], "label": "Bâtiment é"}
    response = httpx.get(
        f"{server.address}/api/transform/python/rack_json",
        params={"name": "nope"},
        headers={"X-INFRAHUB-KEY": ADMIN_TOKEN},
        timeout=60,
    )
    assert response.status_code == 500
    assert "IndexError" in response.text, response.text

    # Artifacts: generated through the SDK, fetched through the SDK.
    definition = client.get("CoreArtifactDefinition", name__value="rack-sheet")
    definition.generate()
    deadline = time.monotonic() + 60
    while client.count("CoreArtifact", definition__ids=[definition.id]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    for rack in racks:
        content = rack.artifact_fetch("rack-sheet")
        assert content == (tmp_path / rack.name.value).read_text()
    json_definition = client.get("CoreArtifactDefinition", name__value="rack-json")
    json_definition.generate()
    deadline = time.monotonic() + 60
    while client.count("CoreArtifact", definition__ids=[json_definition.id]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    # Serialised as upstream's worker does (json.dumps with indent 2), so checksums agree.
    content = racks[0].artifact_fetch("rack-json")
    assert content == json.dumps({"name": "r1", "units": [1, 2, 3, 4], "label": "Bâtiment é"}, indent=2)
    racks[0].artifact_generate("rack-sheet")

    # A pushed commit is imported by the synchronisation; the artifacts follow the template.
    (source / "templates/rack.j2").write_text(TEMPLATE.replace("RACK", "Rack"))
    git(source, "commit", "-q", "-am", "rename")
    head = git(source, "rev-parse", "HEAD")
    wait_for_commit(client, name, head)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if racks[1].artifact_fetch("rack-sheet").startswith("Rack R2"):
            break
        time.sleep(0.2)
    assert racks[1].artifact_fetch("rack-sheet").startswith("Rack R2")
