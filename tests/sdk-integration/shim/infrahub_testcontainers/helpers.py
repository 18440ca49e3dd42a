"""`TestInfrahubDocker` with the class-scoped fixtures the SDK's integration suite uses,
backed by a fresh infrahub-rs server per test class instead of a Docker Compose project."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # noqa: S404
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .container import PROJECT_ENV_VARIABLES

if TYPE_CHECKING:
    from collections.abc import Generator

ADMIN_TOKEN = PROJECT_ENV_VARIABLES["INFRAHUB_TESTING_INITIAL_ADMIN_TOKEN"]


def _binary() -> Path:
    directory = os.environ.get("INFRAHUB_BIN_DIR")
    if not directory:
        raise RuntimeError("INFRAHUB_BIN_DIR must name the directory holding the infrahub binary")
    binary = Path(directory) / "infrahub"
    if not binary.exists():
        raise RuntimeError(f"{binary} does not exist: build it with `cargo build -p infrahub-server`")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    """One `infrahub server start` with its own data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFRAHUB_")}
        env.update(
            {
                "INFRAHUB_DATA_DIR": str(data_dir),
                "INFRAHUB_INITIAL_ADMIN_TOKEN": ADMIN_TOKEN,
                "INFRAHUB_INITIAL_ADMIN_PASSWORD": "infrahub",
                "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            }
        )
        self.log = (data_dir / "server.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603
            [str(_binary()), "server", "start", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"infrahub exited: {self.logs()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/config", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"infrahub did not answer within 60 s: {self.logs()}")

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data_dir / "server.log").read_text(errors="replace")[-20000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# Upstream's compose project mounts the class's `remote_repos_dir` at /remote in its
# containers, and the suite's `GitRepo` names repositories `/remote/<name>`. A server started
# here sees the same path through a symlink the harness points at the class's directory.
REMOTE = Path("/remote")


def _mount_remote(directory: Path) -> None:
    try:
        if REMOTE.is_symlink():
            REMOTE.unlink()
        elif REMOTE.exists():
            raise RuntimeError(f"{REMOTE} exists and is not the harness's symlink")
        REMOTE.symlink_to(directory)
    except OSError as error:
        if os.environ.get("INFRAHUB_TEST_REQUIRE_SERVICES") == "1":
            raise RuntimeError(f"the repository tests need {REMOTE} -> {directory}: {error}") from error
        pytest.skip(f"cannot point {REMOTE} at the remote repositories directory: {error}")


class TestInfrahubDocker:
    """The base class of the suite's test classes (the name is upstream's)."""

    @pytest.fixture(scope="class")
    def infrahub_version(self) -> str:
        return os.getenv("INFRAHUB_TESTING_IMAGE_VER") or "infrahub-rs"

    @staticmethod
    def execute_ctl_run(address: str, script: str) -> str:
        env = os.environ.copy()
        env["INFRAHUB_ADDRESS"] = address
        env["INFRAHUB_API_TOKEN"] = ADMIN_TOKEN
        env["INFRAHUB_MAX_CONCURRENT_EXECUTION"] = "1"
        result = subprocess.run(  # noqa: S602
            f"infrahubctl run {script}", shell=True, capture_output=True, text=True, env=env, check=False
        )
        return result.stdout

    @staticmethod
    def execute_command(
        command: str,
        address: str,
        concurrent_execution: int = 10,
        pagination_size: int = 50,
    ) -> subprocess.CompletedProcess[str]:
        env = os.environ.copy()
        env["INFRAHUB_ADDRESS"] = address
        env["INFRAHUB_API_TOKEN"] = ADMIN_TOKEN
        env["INFRAHUB_MAX_CONCURRENT_EXECUTION"] = str(concurrent_execution)
        env["INFRAHUB_PAGINATION_SIZE"] = str(pagination_size)
        return subprocess.run(command, shell=True, capture_output=True, text=True, env=env, check=False)  # noqa: S602

    @pytest.fixture(scope="class")
    def tmp_directory(self, tmpdir_factory: pytest.TempdirFactory) -> Path:
        name = f"{self.__class__.__name__.lower()}_{uuid.uuid4().hex}"
        return Path(str(tmpdir_factory.mktemp(name)))

    @pytest.fixture(scope="class")
    def remote_repos_dir(self, tmp_directory: Path) -> Path:
        directory = tmp_directory / PROJECT_ENV_VARIABLES["INFRAHUB_TESTING_LOCAL_REMOTE_GIT_DIRECTORY"]
        directory.mkdir(exist_ok=True)
        return directory

    @pytest.fixture(scope="class")
    def remote_backups_dir(self, tmp_directory: Path) -> Path:
        directory = tmp_directory / PROJECT_ENV_VARIABLES["INFRAHUB_TESTING_LOCAL_DB_BACKUP_DIRECTORY"]
        directory.mkdir(exist_ok=True)
        return directory

    @pytest.fixture(scope="class")
    def default_branch(self) -> str:
        return "main"

    @pytest.fixture(scope="class")
    def deployment_type(self, request: pytest.FixtureRequest) -> str | None:
        return None

    @pytest.fixture(scope="class")
    def infrahub_app(
        self, request: pytest.FixtureRequest, remote_repos_dir: Path
    ) -> Generator[dict[str, int], None, None]:
        _mount_remote(remote_repos_dir)
        data_dir = Path(tempfile.mkdtemp(prefix="infrahub-rs-sdk-"))
        server = _Server(data_dir)
        failed_before = request.session.testsfailed
        yield {"server": server.port}
        failed = request.session.testsfailed - failed_before
        server.stop()
        if REMOTE.is_symlink() and REMOTE.readlink() == remote_repos_dir:
            REMOTE.unlink()
        if failed:
            print(f"\n--- infrahub server log ({self.__class__.__name__}) ---\n{server.logs()}")  # noqa: T201
        shutil.rmtree(data_dir, ignore_errors=True)

    @pytest.fixture(scope="class")
    def infrahub_port(self, infrahub_app: dict[str, int]) -> int:
        return infrahub_app["server"]
