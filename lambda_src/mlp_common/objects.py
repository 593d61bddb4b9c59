"""Reading a whole S3 object under a size cap: the size is checked (HeadObject) before a byte of the body is read."""

from __future__ import annotations

from typing import Any

from mlp_common.aws import error_code

# HeadObject has no response body, so S3 answers a missing key *and* a missing bucket with the bare HTTP status "404".
_HEAD_NOT_FOUND = ("404", "NoSuchKey")


class ObjectRefused(Exception):
    """The object was not read; `str(err)` says why (safe to log and to put in a result)."""


class ObjectMissing(ObjectRefused):
    """The object does not exist (never created, or deleted before it was read)."""


class ObjectTooLarge(ObjectRefused):
    """The object is larger than the cap."""


def read_object(s3: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    """The object's bytes; ObjectMissing or ObjectTooLarge instead of reading more than `max_bytes`.

    HeadObject gives the size before anything is read. Its "404" cannot tell a missing key from a missing bucket, so
    GetObject's error decides: NoSuchKey is ObjectMissing, NoSuchBucket (a deployment fault, not the data's) raises
    like any other AWS error (permissions, throttling). Without s3:ListBucket on the bucket, S3 answers a missing key
    with 403 / AccessDenied, not 404: such an error raises too. The size is checked again on GetObject's answer and
    the read is capped, so an object replaced by a larger one after HeadObject is still refused.
    """
    try:
        head: dict[str, Any] | None = s3.head_object(Bucket=bucket, Key=key)
    except Exception as err:
        if error_code(err) not in _HEAD_NOT_FOUND:
            raise
        head = None  # GetObject's error says which of key or bucket is missing
    if head is not None:
        _check_size(head, max_bytes)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as err:
        if error_code(err) in _HEAD_NOT_FOUND:
            raise ObjectMissing("object not found") from None
        raise
    body = response["Body"]
    try:
        _check_size(response, max_bytes)
        data: bytes = body.read(max_bytes + 1)
    finally:
        body.close()
    if len(data) > max_bytes:
        raise ObjectTooLarge(f"object exceeds the limit of {max_bytes} bytes")
    return data


def _check_size(response: dict[str, Any], max_bytes: int) -> None:
    size = int(response.get("ContentLength") or 0)
    if size > max_bytes:
        raise ObjectTooLarge(f"object is {size} bytes; limit is {max_bytes}")
