"""pytest plugin for the run of the SDK's integration suite against infrahub-rs: marks the
tests listed in `expected-failures.txt` as expected to fail, each with the issue that will
make it pass. The marks are strict: a listed test that passes fails the run, so the list
only ever shrinks."""

from __future__ import annotations

from pathlib import Path

import pytest

LISTING = Path(__file__).resolve().parent.parent / "expected-failures.txt"


def _entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, raw in enumerate(LISTING.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        nodeid, _, reason = line.partition(" ")
        reason = reason.strip()
        if "issue" not in reason.lower():
            raise pytest.UsageError(f"{LISTING.name}:{number}: the reason must name the issue that fixes it")
        entries[nodeid] = reason
    return entries


def _matches(nodeid: str, entry: str) -> bool:
    return nodeid == entry or nodeid.startswith((entry + "::", entry + "["))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    entries = _entries()
    used: set[str] = set()
    for item in items:
        for entry, reason in entries.items():
            if _matches(item.nodeid, entry):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
                used.add(entry)
    unused = sorted(set(entries) - used)
    if unused and not config.getoption("keyword") and not config.getoption("markexpr"):
        raise pytest.UsageError(f"{LISTING.name} lists tests that do not exist: {unused}")
