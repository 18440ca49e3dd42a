"""Git repositories as Infrahub users drive them: `infrahubctl repository add` and `list`, the
server's import, `infrahubctl render` (the SDK renders locally with Python's Jinja2) beside the
server's own rendering over REST, artifacts generated and fetched through the SDK, generators
run by the server (`CoreGeneratorDefinitionRun`) and by `infrahubctl generator`, and checks
run by `infrahubctl check`."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from infrahub_sdk.exceptions import GraphQLError

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


def make_repository(path: Path, files: dict[str, str] | None = None) -> str:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    files = files or {
        ".infrahub.yml": MANIFEST,
        "schemas/rack.yml": SCHEMA,
        "queries/rack_config.gql": QUERY,
        "templates/rack.j2": TEMPLATE,
        "transforms/__init__.py": "",
        "transforms/rack_json.py": PYTHON,
        "transforms/shared.py": SHARED,
    }
    for name, text in files.items():
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


GENERATOR_MANIFEST = """\
schemas: [schemas]
queries:
  - name: site_tags
    file_path: queries/site_tags.gql
  - name: all_sites
    file_path: queries/all_sites.gql
generator_definitions:
  - name: site_tags
    file_path: generators/site_tags.py
    class_name: SiteTags
    query: site_tags
    targets: gen-sites
    parameters: {name: name__value}
check_definitions:
  - name: site_names
    file_path: checks/site_names.py
    class_name: SiteNames
"""

GENERATOR_SCHEMA = """\
version: "1.0"
nodes:
  - name: Site
    namespace: Gen
    human_friendly_id: [name__value]
    display_label: name__value
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: tag_count, kind: Number, optional: true}
"""

SITE_TAGS_QUERY = """\
query ($name: String!) {
  GenSite(name__value: $name) { edges { node { id name { value } tag_count { value } } } }
}
"""

ALL_SITES_QUERY = "query { GenSite { edges { node { id name { value } } } } }\n"

# Creates `<site>-tag-<n>` for n up to the site's tag_count; the SDK's tracking deletes the
# tags a later run no longer creates.
GENERATOR = """\
from infrahub_sdk.generator import InfrahubGenerator


class SiteTags(InfrahubGenerator):
    async def generate(self, data):
        site = data["GenSite"]["edges"][0]["node"]
        name = site["name"]["value"]
        count = site["tag_count"]["value"] or 0
        if count < 0:
            raise ValueError(f"{name}: a negative tag count")
        self.logger.info(f"{name}: {count} tag(s)")
        for n in range(1, count + 1):
            tag = await self.client.create(kind="BuiltinTag", data={"name": f"{name}-tag-{n}"})
            await tag.save(allow_upsert=True)
"""

CHECK = """\
from infrahub_sdk.checks import InfrahubCheck


class SiteNames(InfrahubCheck):
    query = "all_sites"

    def validate(self, data):
        for edge in data["GenSite"]["edges"]:
            name = edge["node"]["name"]["value"]
            if name != name.lower():
                self.log_error(f"site {name} is not lowercase", object_id=edge["node"]["id"], object_type="GenSite")
"""


def tag_names(client, prefix: str) -> list[str]:
    return sorted(t.name.value for t in client.all("BuiltinTag") if t.name.value.startswith(prefix))


def run_generator(client, definition_id: str, nodes: list[str] | None = None) -> dict:
    data = f'id: "{definition_id}"'
    if nodes is not None:
        data += ", nodes: [" + ", ".join(f'"{n}"' for n in nodes) + "]"
    return client.execute_graphql(query="mutation { CoreGeneratorDefinitionRun(data: {%s}) { ok task { id } } }" % data)


def test_generators_and_checks(server, client, tmp_path: Path) -> None:
    source = tmp_path / "generators"
    head = make_repository(
        source,
        {
            ".infrahub.yml": GENERATOR_MANIFEST,
            "schemas/site.yml": GENERATOR_SCHEMA,
            "queries/site_tags.gql": SITE_TAGS_QUERY,
            "queries/all_sites.gql": ALL_SITES_QUERY,
            "generators/__init__.py": "",
            "generators/site_tags.py": GENERATOR,
            "checks/__init__.py": "",
            "checks/site_names.py": CHECK,
        },
    )
    client.create("CoreStandardGroup", name="gen-sites").save(allow_upsert=True)
    name = f"gen-{uuid.uuid4().hex[:6]}"
    result = ctl(server, "repository", "add", name, f"file://{source}")
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for_commit(client, name, head)

    # The definitions came with the repository, sourced to it.
    generator = client.get("CoreGeneratorDefinition", name__value="site_tags", include=["query", "targets"])
    assert generator.class_name.value == "SiteTags"
    assert generator.parameters.value == {"name": "name__value"}
    check = client.get("CoreCheckDefinition", name__value="site_names")
    assert check.class_name.value == "SiteNames"
    assert check.timeout.value == 60

    sites = []
    for site_name, count in [("paris", 3), ("lyon", 1)]:
        site = client.create("GenSite", name=site_name, tag_count=count)
        site.save()
        sites.append(site)
    group = client.get("CoreStandardGroup", name__value="gen-sites")
    group.members.fetch()
    group.members.extend(sites)
    group.save()

    # An unknown definition is refused.
    with pytest.raises(GraphQLError, match="not found"):
        run_generator(client, "no-such-definition")

    # The server runs the generator on every target (waiting, as by default).
    answer = run_generator(client, generator.id)
    assert answer["CoreGeneratorDefinitionRun"]["ok"] is True
    assert tag_names(client, "paris-") == ["paris-tag-1", "paris-tag-2", "paris-tag-3"]
    assert tag_names(client, "lyon-") == ["lyon-tag-1"]
    instances = client.filters("CoreGeneratorInstance", definition__ids=[generator.id])
    assert sorted(i.name.value for i in instances) == ["site_tags: lyon", "site_tags: paris"]
    assert {i.status.value for i in instances} == {"Ready"}
    # What a generator created is tracked in a generator group, per target.
    groups = client.execute_graphql(
        query="{ CoreGeneratorGroup { edges { node { name { value } members { edges { node { display_label } } } } } } }"
    )["CoreGeneratorGroup"]["edges"]
    members = [sorted(m["node"]["display_label"] for m in g["node"]["members"]["edges"]) for g in groups]
    assert ["paris-tag-1", "paris-tag-2", "paris-tag-3"] in members, groups

    # Run again on one target with fewer tags: the tag it no longer makes is deleted.
    sites[0].tag_count.value = 2
    sites[0].save()
    answer = run_generator(client, generator.id, nodes=[sites[0].id])
    assert answer["CoreGeneratorDefinitionRun"]["ok"] is True
    assert tag_names(client, "paris-") == ["paris-tag-1", "paris-tag-2"]
    assert tag_names(client, "lyon-") == ["lyon-tag-1"]

    # A failing generator: the mutation fails naming the error, the instance says Error.
    sites[1].tag_count.value = -1
    sites[1].save()
    answer = client.execute_graphql(
        query='mutation { CoreGeneratorDefinitionRun(data: {id: "%s"}, wait_until_completion: false) { ok task { id } } }'
        % generator.id
    )
    task_id = answer["CoreGeneratorDefinitionRun"]["task"]["id"]
    task = client.task.wait_for_completion(id=task_id, timeout=120)
    assert task.state.value == "FAILED", task
    lyon = client.filters("CoreGeneratorInstance", definition__ids=[generator.id], object__ids=[sites[1].id])
    assert lyon[0].status.value == "Error"
    logs = client.execute_graphql(
        query='{ InfrahubTask(ids: ["%s"]) { edges { node { logs { edges { node { message } } } } } } }' % task_id
    )
    assert "a negative tag count" in json.dumps(logs), logs

    # infrahubctl runs the same generator locally against the server.
    sites[1].tag_count.value = 2
    sites[1].save()
    result = ctl(server, "generator", "site_tags", "name=lyon", cwd=source)
    assert result.returncode == 0, result.stdout + result.stderr
    assert tag_names(client, "lyon-") == ["lyon-tag-1", "lyon-tag-2"]

    # infrahubctl check: passes, then fails once a site name breaks the rule.
    result = ctl(server, "check", "site_names", cwd=source)
    assert result.returncode == 0, result.stdout + result.stderr
    client.create("GenSite", name="Nice", tag_count=0).save()
    result = ctl(server, "check", "site_names", cwd=source)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "site Nice is not lowercase" in result.stdout + result.stderr


OBJECTS_MANIFEST = """\
objects: [objects]
menus: [menus/main.yml]
"""

TAG_OBJECTS = """\
---
apiVersion: infrahub.app/v1
kind: Object
spec:
  kind: BuiltinTag
  data:
    - name: obj-red
      description: from the repository
    - name: obj-blue
"""

MENU = """\
---
apiVersion: infrahub.app/v1
kind: Menu
spec:
  data:
    - namespace: Repo
      name: Catalog
      label: Catalog
      children:
        data:
          - namespace: Repo
            name: CatalogTags
            label: Tags
            kind: BuiltinTag
"""


def test_objects_and_menus_are_imported_and_tracked(server, client, tmp_path: Path) -> None:
    source = tmp_path / "objects"
    head = make_repository(
        source,
        {".infrahub.yml": OBJECTS_MANIFEST, "objects/tags.yml": TAG_OBJECTS, "menus/main.yml": MENU},
    )
    name = f"obj-{uuid.uuid4().hex[:6]}"
    result = ctl(server, "repository", "add", name, f"file://{source}")
    assert result.returncode == 0, result.stdout + result.stderr
    repository = wait_for_commit(client, name, head)
    assert tag_names(client, "obj-") == ["obj-blue", "obj-red"]
    assert client.get("BuiltinTag", name__value="obj-red").description.value == "from the repository"
    # Upstream's group per repository and content.
    group = client.get("CoreRepositoryGroup", name__value=f"group-repo-object-{repository.id}", include=["members"])
    assert group.content.value == "object"
    assert len(group.members.peers) == 2
    item = client.get("CoreMenuItem", name__value="CatalogTags")
    assert item.path.value == "/objects/BuiltinTag"
    assert item.label.value == "Tags"

    # The next commit drops a tag and changes the other: the dropped one is deleted.
    (source / "objects/tags.yml").write_text(TAG_OBJECTS.replace("    - name: obj-blue\n", "").replace("from the", "still from the"))
    git(source, "commit", "-q", "-am", "one tag")
    head = git(source, "rev-parse", "HEAD")
    wait_for_commit(client, name, head)
    assert tag_names(client, "obj-") == ["obj-red"]
    assert client.get("BuiltinTag", name__value="obj-red").description.value == "still from the repository"

    # A file the SDK refuses fails the import, naming the file; nothing of it is loaded.
    (source / "objects/bad.yml").write_text("---\napiVersion: infrahub.app/v1\nkind: Object\nspec:\n  data: 5\n")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "bad")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        repository = client.get("CoreRepository", name__value=name)
        if repository.sync_status.value == "error-import":
            break
        time.sleep(0.1)
    assert repository.sync_status.value == "error-import"
    logs = json.dumps(
        client.execute_graphql(
            query='{ InfrahubTask(related_node__ids: ["%s"]) { edges { node { logs { edges { node { message } } } } } } }'
            % repository.id
        )
    )
    assert "bad.yml" in logs, logs
    assert tag_names(client, "obj-") == ["obj-red"]

    # A proposed change runs the user checks on its source branch, as upstream records them.
    client.branch.create(branch_name="gen-pc", sync_with_git=False)
    proposed = client.create(
        "CoreProposedChange", name="rename sites", source_branch="gen-pc", destination_branch="main"
    )
    proposed.save()

    def validator_of(expected: str) -> dict:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = client.execute_graphql(
                query="""query ($id: ID!) { CoreUserValidator(proposed_change__ids: [$id]) { edges { node {
                    label { value } state { value } conclusion { value }
                    checks { edges { node { ... on CoreStandardCheck { name { value } message { value }
                      conclusion { value } severity { value } kind { value } } } } } } } } }""",
                variables={"id": proposed.id},
            )["CoreUserValidator"]["edges"]
            if found and found[0]["node"]["state"]["value"] == "completed" and found[0]["node"]["conclusion"]["value"] == expected:
                return found[0]["node"]
            time.sleep(0.2)
        raise AssertionError(f"no {expected} validator: {found}")

    validator = validator_of("failure")
    assert validator["label"]["value"] == "Check: site_names"
    check = validator["checks"]["edges"][0]["node"]
    assert check["name"]["value"] == "site_names"
    assert check["kind"]["value"] == "CheckDefinition"
    assert (check["conclusion"]["value"], check["severity"]["value"]) == ("failure", "critical")
    assert "site Nice is not lowercase" in check["message"]["value"]

    # Fixed on the branch, run again: the same validator, now a success.
    nice = client.get("GenSite", name__value="Nice", branch="gen-pc")
    nice.name.value = "nice"
    nice.save()
    answer = client.execute_graphql(
        query='mutation { CoreProposedChangeRunCheck(data: {id: "%s", check_type: USER}) { ok } }' % proposed.id
    )
    assert answer["CoreProposedChangeRunCheck"]["ok"] is True
    validator = validator_of("success")
    assert len(validator["checks"]["edges"]) == 1
    with pytest.raises(GraphQLError, match="not run by this server yet"):
        client.execute_graphql(
            query='mutation { CoreProposedChangeRunCheck(data: {id: "%s", check_type: DATA}) { ok } }' % proposed.id
        )
