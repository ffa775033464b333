"""S3 clients: each reads the credentials of its time, none reads botocore's files again."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import pytest

from runner.history.s3 import S3History
from runner.locations import S3Location
from runner.sinks.s3 import make_client
from runner.sinks.s3.session import new_session


@pytest.fixture
def file_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The data files botocore reads from disk (service models, endpoint rules)."""
    reads: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self: Any, file_path: str) -> Any:
        reads.append(file_path)
        return load_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    return reads


def test_a_client_after_the_first_reads_no_data_file(
    file_reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    first = make_client()
    first.meta.service_model.operation_model("PutObject")
    for made in (make_client, lambda: S3History(S3Location("b", "p")).objects.client):
        file_reads.clear()
        client = made()
        assert client.meta.service_model.operation_model("PutObject").name == "PutObject"
        assert file_reads == [], "botocore read its files again"
        assert client._loader is first._loader


def test_each_client_reads_the_credentials_of_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = []
    for key in ("first-key", "second-key", "third-key"):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", f"{key}-secret")
        keys.append(make_client()._request_signer._credentials.access_key)
    assert keys == ["first-key", "second-key", "third-key"]


def test_aws_data_path_is_still_read_and_the_search_path_does_not_grow(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    paths = [list(new_session()._loader.search_paths) for _ in range(5)]
    assert paths[0] == paths[-1] and len(set(paths[0])) == len(paths[0])
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    extra = new_session()._loader
    assert extra.search_paths == [str(tmp_path), *paths[0]]
