"""The object store through the SDK: the local directory (default) and an S3-compatible bucket
(served here by moto's S3 server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN, Server, free_port, make_client

BUCKET = "infrahub-objects"


def test_local_object_store_round_trip(client) -> None:
    answer = client.object_store.upload(content="stored locally")
    assert len(answer["checksum"]) == 32
    assert client.object_store.get(identifier=answer["identifier"]) == "stored locally"


@pytest.fixture(scope="module")
def s3_server(infrahub_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    server = Server(
        infrahub_bin,
        tmp_path_factory.mktemp("s3-data"),
        extra_env={
            "INFRAHUB_STORAGE_DRIVER": "s3",
            "INFRAHUB_STORAGE_BUCKET_NAME": BUCKET,
            "INFRAHUB_STORAGE_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    yield server, s3
    server.stop()
    moto.stop()


def test_s3_object_store_round_trip(s3_server) -> None:
    server, s3 = s3_server
    client = make_client(server.address, api_token=ADMIN_TOKEN)
    answer = client.object_store.upload(content="stored in the bucket")
    identifier = answer["identifier"]
    assert client.object_store.get(identifier=identifier) == "stored in the bucket"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert any(identifier in key for key in keys), keys
