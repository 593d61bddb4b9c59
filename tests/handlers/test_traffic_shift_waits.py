"""traffic_shift's wait for InService, property-based, on a fake endpoint and a fake clock (no test sleeps).

The promise: whatever the endpoint reports (some transient statuses, then InService or never), however often an
update races another one, and whatever the bound, `drain` either shifts exactly once or raises EndpointBusyError; it
never sleeps past the bound, and never sends an update while the endpoint is not InService.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import traffic_shift
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from tests.handlers.fakes import ENDPOINT_NAME, log_lines

_VARIANTS = [
    {"VariantName": "VariantA", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1},
    {"VariantName": "VariantB", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1},
]
_IN_PROGRESS = ClientError(
    {"Error": {"Code": "ValidationException", "Message": "Cannot update in-progress endpoint"}},
    "UpdateEndpointWeightsAndCapacities",
)


@dataclass
class FakeEndpoint:
    """DescribeEndpoint reports `statuses` in turn, then keeps the last; the first `races` updates are refused as
    "in-progress" (the endpoint went busy after the describe). Keeps the clock traffic_shift sleeps on."""

    statuses: list[str]
    races: int = 0
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    described: int = 0
    attempts: list[str] = field(default_factory=list)  # the status the endpoint had at each update attempt
    applied: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.statuses[min(self.described, len(self.statuses)) - 1]

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        self.described += 1
        return {
            "EndpointName": EndpointName,
            "EndpointStatus": self.status,
            "ProductionVariants": copy.deepcopy(_VARIANTS),
        }

    def update_endpoint_weights_and_capacities(self, **kwargs: Any) -> dict[str, Any]:
        self.attempts.append(self.status)
        if len(self.attempts) <= self.races:
            raise _IN_PROGRESS
        self.applied.append(kwargs)
        return {"EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT_NAME}"}

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


TRANSIENT = st.sampled_from(sorted(traffic_shift.TRANSIENT_STATUSES))


@st.composite
def endpoints(draw: st.DrawFn) -> FakeEndpoint:
    busy = draw(st.lists(TRANSIENT, max_size=12))
    recovers = draw(st.booleans()) or not busy
    return FakeEndpoint(busy + (["InService"] if recovers else []), races=draw(st.integers(0, 3)))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeEndpoint], None]:
    """Point traffic_shift's clock and sleep at the endpoint of the current example."""
    current: list[FakeEndpoint] = []
    monkeypatch.setattr(traffic_shift, "monotonic", lambda: current[-1].now)
    monkeypatch.setattr(traffic_shift, "sleep", lambda seconds: current[-1].sleep(seconds))
    return current.append


@hypothesis.settings(max_examples=50, deadline=None)
@given(fake=endpoints(), budget=st.integers(0, 200), poll=st.integers(1, 60))
def test_drain_shifts_once_or_raises_busy_and_never_waits_past_the_bound(
    fake: FakeEndpoint,
    budget: int,
    poll: int,
    clock: Callable[[FakeEndpoint], None],
    stdout_json: Callable[[], list[dict[str, Any]]],
) -> None:
    clock(fake)
    stdout_json()
    waiter = traffic_shift.Waiter(ENDPOINT_NAME, float(budget), poll, {})

    try:
        result = traffic_shift.drain(fake, "VariantA", waiter)
    except traffic_shift.EndpointBusyError as busy:
        hypothesis.event("busy")
        assert fake.applied == []
        assert busy.waited_seconds <= budget
        assert log_lines(stdout_json())[-1]["level"] == "ERROR"
    else:
        hypothesis.event("shifted")
        assert result["action"] == "shifted"
        assert result["weights"] == {"VariantA": 0.0, "VariantB": 1.0}
        assert fake.applied == [
            {
                "EndpointName": ENDPOINT_NAME,
                "DesiredWeightsAndCapacities": [{"VariantName": "VariantA", "DesiredWeight": 0.0}],
            }
        ]
        assert ("waited_seconds" in result) == bool(fake.sleeps)
    assert set(fake.attempts) <= {"InService"}
    assert all(0 < seconds <= poll for seconds in fake.sleeps)
    assert fake.now <= budget
    # The oracle: each busy describe and each refused update costs one pause; pause k starts at (k-1)·poll and
    # raises if that is already at the bound. So the shift happens iff the endpoint recovers and its last pause
    # starts before the bound.
    recovers = fake.statuses[-1] == "InService"
    pauses = len(fake.statuses) - 1 + fake.races
    assert bool(fake.applied) == (recovers and (pauses == 0 or (pauses - 1) * poll < budget))
    if fake.applied:
        assert len(fake.attempts) == fake.races + 1
