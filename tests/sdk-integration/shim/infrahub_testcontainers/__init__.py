"""Stand-in for `infrahub-testcontainers`, so that the official SDK's integration suite runs
against infrahub-rs without Docker: each test class gets a fresh `infrahub server start` of
ours on a free port (see `helpers.TestInfrahubDocker`)."""

__version__ = "infrahub-rs"
