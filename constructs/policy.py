"""IAM policy documents as plain data.

Policies are built as Python dicts and rendered with :func:`document`, so tests can read them back with
``json.loads`` and sweep every statement. cdktf tokens (ARNs of resources not created yet) are plain strings here and
are resolved into Terraform references at synth time.
"""

import json
from typing import Any

Statement = dict[str, Any]


def document(*statements: Statement) -> str:
    """A policy document (JSON string) with the given statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources, **extra}


def deny_insecure_transport(bucket_arn: str) -> Statement:
    """Refuse every request to the bucket that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def deny_wrong_kms_key(bucket_arn: str, accepted_key_ids: list[str]) -> list[Statement]:
    """Refuse uploads that ask for another encryption than our key.

    Uploads without encryption headers get the bucket default (our key) and pass: each Deny applies only when the
    header is present (``Null: false``) -- a negated operator on a missing key would otherwise deny them too.
    ``accepted_key_ids`` lists every spelling clients send for our key (key ARN, and the alias ARN where a client such
    as the Terraform S3 backend is configured with the alias).
    """
    sse = "s3:x-amz-server-side-encryption"
    key_id = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    return [
        {
            "Sid": "DenyNonKmsEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {"StringNotEquals": {sse: "aws:kms"}, "Null": {sse: "false"}},
        },
        {
            "Sid": "DenyWrongKmsKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {"StringNotEquals": {key_id: accepted_key_ids}, "Null": {key_id: "false"}},
        },
    ]


def allow_access_log_delivery(logs_bucket: str, account_id: str, source_buckets: str) -> Statement:
    """Let S3 server access logging write into ``logs_bucket`` for this account's ``source_buckets`` (ARN glob)."""
    return {
        "Sid": "AllowServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{logs_bucket}/*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source_buckets}"},
        },
    }


def service_principal(service: str) -> dict[str, str]:
    return {"Service": service}


def service_trust_policy(sid: str, service: str, account_id: str) -> str:
    """A role only ``service`` may assume, and only when acting for ``account_id`` (the confused-deputy guard)."""
    return document(
        {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": service_principal(service),
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )
