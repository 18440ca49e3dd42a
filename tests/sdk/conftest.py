"""Shared fixtures for the SDK compatibility suite.

The suite drives our `infrahub` binary the way users do, with the official `infrahub-sdk` and
`infrahubctl`. `INFRAHUB_BIN_DIR` points at the cargo output directory holding the binary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def schema_library() -> Path:
    """OpsMill's public schema library: INFRAHUB_SCHEMA_LIBRARY, else ../shared/data/schema-library
    beside the repository, else .build/schema-library (cloned by scripts/test.sh when the network
    allows). Without it the tests that need it skip, unless INFRAHUB_TEST_REQUIRE_SERVICES=1."""
    configured = os.environ.get("INFRAHUB_SCHEMA_LIBRARY")
    candidates = [Path(configured)] if configured else []
    candidates += [REPO.parent / "shared" / "data" / "schema-library", REPO / ".build" / "schema-library"]
    for path in candidates:
        if (path / "base").is_dir():
            return path
    how = (
        "set INFRAHUB_SCHEMA_LIBRARY to a clone of https://github.com/opsmill/schema-library, "
        "or run ./scripts/test.sh with network access"
    )
    if os.environ.get("INFRAHUB_TEST_REQUIRE_SERVICES") == "1":
        raise RuntimeError(f"the schema library is required and was not found: {how}")
    pytest.skip(f"the schema library was not found: {how}")


@pytest.fixture(scope="session")
def infrahub_bin() -> Path:
    directory = Path(os.environ.get("INFRAHUB_BIN_DIR", REPO / "target" / "debug"))
    binary = directory / "infrahub"
    if not binary.exists():
        raise RuntimeError(f"{binary} not found: run `cargo build --bins` or set INFRAHUB_BIN_DIR")
    return binary


@pytest.fixture(scope="session")
def library() -> Path:
    return schema_library()


def run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, check=False)


ADMIN_TOKEN = "06438eb2-8019-4776-878c-0941b1f1d1ec"
ADMIN_PASSWORD = "infrahub"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bolt_env() -> dict[str, str]:
    """With INFRAHUB_TEST_SDK_BOLT=1, settings putting a server on a fresh database of the Bolt
    server named by INFRAHUB_TEST_BOLT_URL (bolt://user:password@host:port[/db]), created over
    the ArcadeDB HTTP API of INFRAHUB_TEST_ARCADEDB_HTTP_URL (as scripts/start-arcadedb.sh
    prints them); otherwise empty: the embedded store."""
    if os.environ.get("INFRAHUB_TEST_SDK_BOLT") != "1":
        return {}
    import base64
    import json
    import urllib.parse
    import urllib.request
    import uuid

    bolt_url = os.environ.get("INFRAHUB_TEST_BOLT_URL")
    http_url = os.environ.get("INFRAHUB_TEST_ARCADEDB_HTTP_URL")
    if not bolt_url or not http_url:
        raise RuntimeError("INFRAHUB_TEST_SDK_BOLT=1 needs INFRAHUB_TEST_BOLT_URL and INFRAHUB_TEST_ARCADEDB_HTTP_URL")
    url = urllib.parse.urlsplit(bolt_url)
    user = urllib.parse.unquote(url.username or "root")
    password = urllib.parse.unquote(url.password or "")
    database = f"sdk{uuid.uuid4().hex[:16]}"
    request = urllib.request.Request(  # noqa: S310
        f"{http_url.rstrip('/')}/api/v1/server",
        data=json.dumps({"command": f"create database {database}"}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        response.read()
    return {
        "INFRAHUB_DB_TYPE": "neo4j",
        "INFRAHUB_DB_PROTOCOL": url.scheme,
        "INFRAHUB_DB_ADDRESS": url.hostname or "127.0.0.1",
        "INFRAHUB_DB_PORT": str(url.port or 7687),
        "INFRAHUB_DB_USERNAME": user,
        "INFRAHUB_DB_PASSWORD": password,
        "INFRAHUB_DB_DATABASE": database,
        "INFRAHUB_DB_STARTUP_TIMEOUT": "30",
    }


class Server:
    """A running `infrahub server start` process on a free port with its own data directory
    (and, with INFRAHUB_TEST_SDK_BOLT=1, its own database on the Bolt server of
    INFRAHUB_TEST_BOLT_URL instead of the embedded store: see `bolt_env`)."""

    def __init__(self, binary: Path, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        import time
        import urllib.request

        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = dict(os.environ)
        env.update(
            {
                "INFRAHUB_DATA_DIR": str(data_dir),
                "INFRAHUB_INITIAL_ADMIN_TOKEN": ADMIN_TOKEN,
                "INFRAHUB_INITIAL_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "INFRAHUB_LOG_LEVEL": "warning",
                # Pushed commits are imported within a second, and Python transforms run with
                # this interpreter, which has the SDK (test_sdk_repositories).
                "INFRAHUB_GIT_SYNC_INTERVAL": "1",
                "INFRAHUB_GIT_PYTHON_EXECUTABLE": sys.executable,
            }
        )
        for key in ("INFRAHUB_ADDRESS", "INFRAHUB_API_TOKEN", "INFRAHUB_USERNAME", "INFRAHUB_PASSWORD"):
            env.pop(key, None)
        env.update(bolt_env())
        env.update(extra_env or {})
        self.log = open(data_dir.parent / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            [str(binary), "server", "start", "--listen", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        bolt = env.get("INFRAHUB_DB_TYPE", "embedded") != "embedded"
        deadline = time.monotonic() + (120 if bolt else 60)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.address}/ready", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server(infrahub_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    instance = Server(infrahub_bin, tmp_path_factory.mktemp("data"))
    yield instance
    instance.stop()


def make_client(address: str, **config: object):
    from infrahub_sdk import Config, InfrahubClientSync

    return InfrahubClientSync(config=Config(address=address, **config))


@pytest.fixture(scope="session")
def client(server: Server):
    return make_client(server.address, api_token=ADMIN_TOKEN)


def load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def base_schema(client, library: Path) -> dict:
    """The schema-library base loaded once per session; returns the load response."""
    schemas = [load_yaml(p) for p in sorted((library / "base").glob("*.yml"))]
    response = client.schema.load(schemas=schemas)
    assert not response.errors, response.errors
    return {"schemas": schemas, "response": response}


def ctl(server: Server, *args: str, cwd: Path | None = None, token: str = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    """Runs `infrahubctl` against the server as a user would."""
    import sys

    env = dict(os.environ)
    env.update({"INFRAHUB_ADDRESS": server.address, "INFRAHUB_API_TOKEN": token})
    env.pop("INFRAHUB_USERNAME", None)
    env.pop("INFRAHUB_PASSWORD", None)
    binary = Path(sys.executable).parent / "infrahubctl"
    return subprocess.run(  # noqa: S603
        [str(binary), *args], capture_output=True, text=True, timeout=300, check=False, env=env, cwd=cwd
    )
