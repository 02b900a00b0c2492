"""A store that cannot be used is a 503 saying why, in each surface's own format."""

from __future__ import annotations

import pytest
from quart import Quart

from storage import StorageUnavailable
from web.errors import install_error_handling


@pytest.mark.parametrize("path", ["/v2/library/app/blobs/sha256:ab", "/api/v2.0/anything"])
async def test_storage_unavailable_is_503_naming_the_cause(path: str) -> None:
    app = Quart(__name__)
    install_error_handling(app)

    @app.get("/<path:rest>")
    async def fails(rest: str) -> str:
        raise StorageUnavailable("S3 bucket 'gone' does not exist (storage.s3_bucket)")

    answer = await app.test_client().get(path)
    assert answer.status_code == 503
    error = (await answer.get_json())["errors"][0]
    assert error["code"] == "UNAVAILABLE"  # the same name in the OCI table and Harbor's
    assert error["message"] == (
        "storage is unavailable: S3 bucket 'gone' does not exist (storage.s3_bucket)"
    )
