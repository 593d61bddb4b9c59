"""Resource names: ``{project}-{component}-{env}[-{suffix}]``, lower-case, checked against each AWS limit.

AWS rejects an over-long or badly formed name only at apply time, often half-way through a deploy. Every name the app
produces goes through :meth:`Naming.name`, which checks the service's rule at synth time and raises a
:class:`NamingError` that names the environment, the component and the limit.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any


class NamingError(ValueError):
    """A generated name breaks an AWS naming rule; ``detail`` is the message without the environment."""

    def __init__(self, env: str, detail: str) -> None:
        self.env = env
        self.detail = detail
        super().__init__(f"environment '{env}': {detail}")


@dataclass(frozen=True)
class _Rule:
    min_len: int
    max_len: int
    pattern: str  # full-match regular expression for the allowed characters
    describe: str


class Kind(Enum):
    """Resource kinds with their AWS naming rules (lengths and character sets from each service's API reference)."""

    S3_BUCKET = _Rule(3, 63, r"[a-z0-9][a-z0-9.-]*[a-z0-9]", "3-63 chars of a-z 0-9 . -, DNS-compatible")
    IAM_ROLE = _Rule(1, 64, r"[A-Za-z0-9_+=,.@-]+", "at most 64 chars of letters, digits and +=,.@_-")
    IAM_POLICY = _Rule(1, 128, r"[A-Za-z0-9_+=,.@-]+", "at most 128 chars of letters, digits and +=,.@_-")
    LAMBDA = _Rule(1, 64, r"[A-Za-z0-9_-]+", "at most 64 chars of letters, digits, - and _")
    SAGEMAKER = _Rule(1, 63, r"[A-Za-z0-9](-*[A-Za-z0-9])*", "at most 63 chars of letters, digits and -")
    DYNAMODB = _Rule(3, 255, r"[A-Za-z0-9_.-]+", "3-255 chars of letters, digits and _.-")
    KINESIS = _Rule(1, 128, r"[A-Za-z0-9_.-]+", "at most 128 chars of letters, digits and _.-")
    KMS_ALIAS = _Rule(1, 250, r"[A-Za-z0-9/_-]+", "at most 250 chars of letters, digits and /_-")
    LOG_GROUP = _Rule(1, 512, r"[A-Za-z0-9_./#-]+", "at most 512 chars of letters, digits and _-/.#")
    SQS = _Rule(1, 80, r"[A-Za-z0-9_-]+", "at most 80 chars of letters, digits, - and _")
    SNS = _Rule(1, 256, r"[A-Za-z0-9_-]+", "at most 256 chars of letters, digits, - and _")
    STATE_MACHINE = _Rule(1, 80, r"[A-Za-z0-9_-]+", "at most 80 chars of letters, digits, - and _")
    EVENT_RULE = _Rule(1, 64, r"[A-Za-z0-9._-]+", "at most 64 chars of letters, digits and ._-")
    GENERIC = _Rule(1, 255, r"[A-Za-z0-9._-]+", "at most 255 chars of letters, digits and ._-")


# Kinds whose names are global across all AWS accounts: a name any account already owns fails the deploy.
GLOBAL_KINDS = frozenset({Kind.S3_BUCKET})

_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def s3_bucket_problems(name: str) -> list[str]:
    """What breaks S3's bucket naming rules in ``name`` (empty when it is a valid bucket name)."""
    rule: _Rule = Kind.S3_BUCKET.value
    problems = []
    if not rule.min_len <= len(name) <= rule.max_len:
        problems.append(f"a bucket name has 3-63 characters, got {len(name)}")
    if not re.fullmatch(rule.pattern, name):
        problems.append(f"a bucket name is {rule.describe}")
    problems += _s3_shape_problems(name)
    return problems


def _s3_shape_problems(name: str) -> list[str]:
    problems = []
    if ".." in name or ".-" in name or "-." in name:
        problems.append("no adjacent dots or dot-dash pairs")
    if _IPV4.fullmatch(name):
        problems.append("must not look like an IP address")
    # Reserved by S3's bucket naming rules.
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
    ):
        problems.append("reserved prefix or suffix")
    return problems


@dataclass(frozen=True)
class Naming:
    """Names for one environment of the project."""

    project: str  # e.g. "mlpipe"
    env: str  # e.g. dev, qa, prod-eu
    suffix: str | None = None  # optional, e.g. to run two copies of one environment in one account
    # Global names (S3 buckets share one namespace across every AWS account) end with the deploy account and region.
    account_id: str | None = None
    region: str | None = None

    @property
    def stem(self) -> str:
        return "-".join(p for p in (self.env, self.suffix) if p)

    def name(self, component: str, kind: Kind = Kind.GENERIC) -> str:
        """``{project}-{component}-{env}[-{suffix}]``, validated for ``kind``; buckets add ``-{account}-{region}``."""
        name = f"{self.project}-{component}-{self.stem}".lower()
        if kind in GLOBAL_KINDS:
            if not (self.account_id and self.region):
                raise NamingError(self.env, f"{kind.name.lower()} names are global: they need an account and region")
            name = f"{name}-{self.account_id}-{self.region}"
        self.check(name, kind, component)
        return name

    def alias(self, component: str) -> str:
        """KMS alias name (``alias/`` + the usual name)."""
        return "alias/" + self.name(component, Kind.KMS_ALIAS)

    def check(self, name: str, kind: Kind, component: str) -> None:
        rule: _Rule = kind.value
        problems = []
        if not rule.min_len <= len(name) <= rule.max_len:
            problems.append(f"is {len(name)} chars")
        if not re.fullmatch(rule.pattern, name):
            problems.append("has characters or a shape the service refuses")
        if kind is Kind.S3_BUCKET:
            problems.extend(_s3_shape_problems(name))
        if problems:
            raise NamingError(
                self.env,
                f"{kind.name.lower()} name for component '{component}' ('{name}') {', '.join(problems)}; "
                f"allowed: {rule.describe}. Shorten the project, environment or suffix name.",
            )


# The longest component of each kind that the app builds. Config validation checks these so that a long project name
# or suffix fails with a config error naming the field, before any construct is built.
LONGEST_COMPONENTS: dict[Kind, str] = {
    Kind.S3_BUCKET: "model-artifacts",
    Kind.IAM_ROLE: "batch-inference-sfn",
    Kind.IAM_POLICY: "batch-inference-sfn",
    Kind.LAMBDA: "stream-consumer",
    Kind.SAGEMAKER: "epc-0123456789",
    Kind.DYNAMODB: "model-registry",
    Kind.KINESIS: "inference-requests",
    Kind.SQS: "stream-consumer-dlq",
    Kind.STATE_MACHINE: "batch-inference",
    Kind.EVENT_RULE: "training-state-change",
}


def content_digest(value: Any, length: int) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``value`` as canonical JSON.

    A name part that changes exactly when the content does: resources that cannot be updated in place get a new name,
    so they roll forward instead of failing with "already exists".
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
