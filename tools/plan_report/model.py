"""The plan as the report reads it: typed, validated once by :mod:`tools.plan_report.inputs`.

Values (``before``/``after``) stay plain JSON; everything around them is checked, so the analysis never has to guess
what a field is. Attribute paths are tuples of steps, as Terraform writes them in ``replace_paths``: a string for an
attribute or map key, an integer for a list index.
"""

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

AttrPath = tuple[str | int, ...]

_INDEX_SUFFIX = re.compile(r"\[[^\]]*\]$")
# A CDKTF logical id is the construct path joined by "_" plus an 8-digit hash: the path of a resource that is no
# longer synthesized (a delete) can still be read from it, approximately (ids may themselves contain "_").
_UNIQUE_ID = re.compile(r"^(?P<path>.+)_[0-9A-F]{8}$")
_RUN_KEY = secrets.token_bytes(32)  # digests of sensitive values only compare within one run


class Redacted:
    """What a sensitive value becomes when the plan is read: it compares equal to the same value (through a keyed
    digest) and renders as "(sensitive)"; the value itself is gone, so no code path can show it."""

    __slots__ = ("_digest",)

    def __init__(self, value: Any) -> None:
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
        self._digest = hashlib.blake2b(canonical, key=_RUN_KEY).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redacted) and other._digest == self._digest

    def __hash__(self) -> int:
        return hash(self._digest)

    def __repr__(self) -> str:
        return "(sensitive)"

    __str__ = __repr__


def strip_index(address: str) -> tuple[str, str]:
    """``aws_x.y["k"]`` -> (``aws_x.y``, ``["k"]``)."""
    match = _INDEX_SUFFIX.search(address)
    return (address[: match.start()], match.group(0)) if match else (address, "")


@dataclass(frozen=True)
class Change:
    """One entry of ``resource_changes`` (or ``resource_drift``)."""

    address: str
    type: str
    mode: str  # "managed" or "data"
    actions: tuple[str, ...]
    before: Any = None
    after: Any = None
    after_unknown: Any = None  # same shape as after; true where the value is known only at apply
    before_sensitive: Any = None  # same shape as before; true where the value is sensitive
    after_sensitive: Any = None
    replace_paths: tuple[AttrPath, ...] = ()
    action_reason: str | None = None
    previous_address: str | None = None  # a `moved` block (or a refactoring) brought it from there
    importing: bool = False  # an `import` block adopts an existing object
    deposed: str | None = None  # a deposed object (left over from a create-before-destroy) being deleted

    @property
    def label(self) -> str:
        """The address as Terraform shows it, with the deposed key when there is one."""
        return f"{self.address} (deposed {self.deposed})" if self.deposed else self.address


@dataclass(frozen=True)
class Plan:
    """One stack's plan: its changes, its drift and what the report needs from its configuration and prior state."""

    source: str  # the file as given on the command line
    stack: str
    changes: tuple[Change, ...]
    drift: tuple[Change, ...] = ()
    prior: dict[str, tuple[str, Any]] = field(default_factory=dict)  # address -> (type, values) from prior_state
    references: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # address -> attr -> refs
    # address -> attribute paths the configuration uses (`relevant_attributes`); None when the plan has none
    relevant: dict[str, tuple[AttrPath, ...]] | None = None
    region: str | None = None  # the AWS provider's region, when the configuration states it
    errored: bool = False
    complete: bool = True
    constructs: dict[str, str] = field(default_factory=dict)  # address without index -> construct path

    def construct_of(self, address: str) -> tuple[str | None, bool]:
        """(construct path, derived) of an address; derived when read from the logical id because the resource is
        not in the synthesized stack; (None, False) without a synthesized stack."""
        if not self.constructs:
            return None, False
        base, index = strip_index(address)
        if base in self.constructs:
            return self.constructs[base] + index, False
        match = _UNIQUE_ID.match(base.rsplit(".", 1)[-1])
        return (match.group("path").replace("_", "/") + index, True) if match else (None, False)


@dataclass(frozen=True)
class Acknowledgement:
    """A reviewed entry of the acknowledgement file: this loss at this address is intended."""

    stack: str
    address: str
    reason: str
    actions: tuple[str, ...] | None = None  # when given, the acknowledgement covers exactly these actions


@dataclass(frozen=True)
class Finding:
    """Something a reviewer must act on (blocking) or should read (warning), tied to a stack and an address."""

    stack: str
    address: str  # "" for a finding about the whole stack
    kind: str
    message: str
    blocking: bool
    acknowledged_reason: str | None = None  # set once an acknowledgement covers a blocking finding

    @property
    def open(self) -> bool:
        """Blocking and not acknowledged: this fails the check."""
        return self.blocking and self.acknowledged_reason is None
