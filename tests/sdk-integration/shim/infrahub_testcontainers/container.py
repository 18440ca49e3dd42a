"""The settings the suite reads from `infrahub_testcontainers.container`."""

from __future__ import annotations

#: Values the upstream package gives a test deployment; the suite reads the admin token and
#: the directory names from here.
PROJECT_ENV_VARIABLES: dict[str, str] = {
    "INFRAHUB_TESTING_INITIAL_ADMIN_TOKEN": "06438eb2-8019-4776-878c-0941b1f1d1ec",
    "INFRAHUB_TESTING_LOCAL_REMOTE_GIT_DIRECTORY": "repos",
    "INFRAHUB_TESTING_LOCAL_DB_BACKUP_DIRECTORY": "backups",
}


class InfrahubDockerCompose:
    """Docker deployments are not available here: the tests that need one (the failover test)
    are left out of the run."""

    @classmethod
    def init(cls, *args: object, **kwargs: object) -> InfrahubDockerCompose:
        raise RuntimeError("infrahub-rs runs the SDK suite without Docker")
