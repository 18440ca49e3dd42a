"""Shared fixtures for the SDK compatibility suite.

The suite drives our `infrahub` binary the way users do, with the official `infrahub-sdk` and
`infrahubctl`. `INFRAHUB_BIN_DIR` points at the cargo output directory holding the binary.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def schema_library() -> Path:
    configured = os.environ.get("INFRAHUB_SCHEMA_LIBRARY")
    path = Path(configured) if configured else REPO.parent / "shared" / "data" / "schema-library"
    if not path.is_dir():
        raise RuntimeError(f"schema library not found at {path} (set INFRAHUB_SCHEMA_LIBRARY)")
    return path


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
