"""The write-sharded A/B index of the predictions table: shard keys on every write, query_variant reads them back.

The table is moto's, created by the `tables` fixture with the handler side's index and attribute names
(tests/unit/test_contracts.py checks constructs/tables.py builds the same index).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import inference
import pytest
import stream_consumer
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from mlp_common.predictions import (
    PREDICTIONS_VARIANT_INDEX,
    PREDICTIONS_VARIANT_SHARD_ATTRIBUTE,
    PREDICTIONS_VARIANT_SHARDS,
    batch_write,
    prediction_item,
    query_variant,
    shard_of,
    variant_shard,
)

from tests.conftest import ROOT
from tests.handlers.fakes import (
    PREDICTIONS_TABLE,
    FakeLambdaContext,
    api_event,
    expect_invoke,
    kinesis_record,
    model_answer,
)

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


# --- the shard key ---------------------------------------------------------------------------------------------


def test_shard_of_is_pinned() -> None:
    """SHA-256 based, so these values never change between processes, Python versions or runtimes."""
    assert {r: shard_of(r) for r in ("req-0", "req-1", "api-req-0001")} == {"req-0": 11, "req-1": 5, "api-req-0001": 0}


def test_shard_of_does_not_depend_on_the_process_hash_seed() -> None:
    """Python's hash() of a str changes with PYTHONHASHSEED; the shard must not."""
    code = "from mlp_common.predictions import shard_of; print([shard_of(f'r{i}') for i in range(50)])"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT / "lambda_src",
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert runs == {f"{[shard_of(f'r{i}') for i in range(50)]}\n"}


def test_shards_are_used_evenly() -> None:
    counts = Counter(shard_of(f"request-{i}") for i in range(16_000))
    assert set(counts) == set(range(PREDICTIONS_VARIANT_SHARDS))
    mean = 16_000 / PREDICTIONS_VARIANT_SHARDS
    assert all(0.85 * mean <= n <= 1.15 * mean for n in counts.values()), counts


@given(variant=st.sampled_from(["A", "B", "none", "unknown", "VariantB"]), request_id=st.text(max_size=200))
def test_variant_shard_is_the_variant_and_a_shard_number(variant: str, request_id: str) -> None:
    key = variant_shard(variant, request_id)
    name, _, number = key.rpartition("#")
    assert name == variant
    assert int(number) in range(PREDICTIONS_VARIANT_SHARDS)
    assert variant_shard(variant, request_id) == key  # deterministic, lone surrogates included


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"prediction": 0.5, "variant": "A"}, "A#11"),
        ({"prediction": "cat", "variant": None}, "unknown#11"),  # the variant the item records
        ({}, "none#11"),  # queued (phase one)
    ],
)
def test_every_item_carries_its_shard_key(kwargs: dict[str, Any], expected: str) -> None:
    item = prediction_item("req-0", features=[1.0], source="api", now=T0, ttl_days=1, **kwargs)
    assert item[PREDICTIONS_VARIANT_SHARD_ATTRIBUTE] == {"S": expected}
    assert item[PREDICTIONS_VARIANT_SHARD_ATTRIBUTE]["S"].startswith(item["variant"]["S"] + "#")


def test_created_at_is_utc_whatever_the_zone_of_now() -> None:
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    item = prediction_item("r", features=[1.0], source="api", now=plus_two, ttl_days=1)
    assert item["created_at"] == {"S": "2026-11-21T10:00:00.000Z"}


# --- the writers -----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("enabled")
def test_inference_writes_the_shard_key_of_the_answering_variant(
    prediction_items: Any, runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    expect_invoke(runtime, "1.0,2.0,3.0,4.0", model_answer(b"0.5", "VariantB"))
    response = inference.handler(api_event("POST", "/predict", body='{"features": [1, 2, 3, 4]}'), lambda_context)
    assert response["statusCode"] == 200
    assert prediction_items()["api-req-0001"][PREDICTIONS_VARIANT_SHARD_ATTRIBUTE] == "VariantB#0"


def test_stream_consumer_writes_the_shard_key_of_queued_items(
    tables: Any, prediction_items: Any, lambda_context: FakeLambdaContext
) -> None:
    records = [kinesis_record(str(i), {"request_id": f"req-{i}", "features": [1, 2, 3, 4]}) for i in range(5)]
    assert stream_consumer.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    items = prediction_items()
    assert {rid: item[PREDICTIONS_VARIANT_SHARD_ATTRIBUTE] for rid, item in items.items()} == {
        f"req-{i}": f"none#{shard_of(f'req-{i}')}" for i in range(5)
    }


# --- query_variant ---------------------------------------------------------------------------------------------


def _write(ddb: Any, rows: list[tuple[str, str, datetime]]) -> None:
    items = [
        prediction_item(rid, features=[1.0], source="api", now=at, ttl_days=1, prediction=0.5, variant=variant)
        for rid, variant, at in rows
    ]
    assert batch_write(ddb, PREDICTIONS_TABLE, items) == {}


def _rows() -> list[tuple[str, str, datetime]]:
    """40 predictions of A and 40 of B, one per second, interleaved, spread over most shards."""
    return [(f"{v}-{i}", v, T0 + timedelta(seconds=i)) for i in range(40) for v in ("A", "B")]


class _CountingClient:
    def __init__(self, ddb: Any) -> None:
        self.ddb, self.queries = ddb, []

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs)
        return self.ddb.query(**kwargs)


def test_query_variant_returns_exactly_one_variants_items_oldest_first(tables: Any) -> None:
    rows = _rows()
    _write(tables, rows)
    assert len({shard_of(rid) for rid, variant, _ in rows if variant == "A"}) >= 10  # the test spans many shards

    found = query_variant(tables, PREDICTIONS_TABLE, "A", T0, T0 + timedelta(seconds=39))

    assert [item["request_id"]["S"] for item in found] == [f"A-{i}" for i in range(40)]
    assert {item["variant"]["S"] for item in found} == {"A"}


def test_query_variant_window_is_inclusive_at_both_ends(tables: Any) -> None:
    _write(tables, _rows())
    found = query_variant(tables, PREDICTIONS_TABLE, "B", T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    assert [item["request_id"]["S"] for item in found] == [f"B-{i}" for i in range(10, 21)]


def test_query_variant_reads_every_shard_and_every_page(tables: Any) -> None:
    _write(tables, _rows())
    client = _CountingClient(tables)

    found = query_variant(client, PREDICTIONS_TABLE, "A", T0, T0 + timedelta(minutes=1), page_size=1)

    assert [item["request_id"]["S"] for item in found] == [f"A-{i}" for i in range(40)]
    shards = {q["ExpressionAttributeValues"][":shard"]["S"] for q in client.queries}
    assert shards == {f"A#{n}" for n in range(PREDICTIONS_VARIANT_SHARDS)}
    assert {q["IndexName"] for q in client.queries} == {PREDICTIONS_VARIANT_INDEX}
    assert len(client.queries) > PREDICTIONS_VARIANT_SHARDS  # pages of one item: some shards took several calls


def test_query_variant_orders_equal_timestamps_by_request_id(tables: Any) -> None:
    _write(tables, [(rid, "A", T0) for rid in ("req-9", "req-1", "req-5", "req-0")])
    found = query_variant(tables, PREDICTIONS_TABLE, "A", T0, T0)
    assert [item["request_id"]["S"] for item in found] == ["req-0", "req-1", "req-5", "req-9"]


def test_query_variant_accepts_any_time_zone(tables: Any) -> None:
    _write(tables, _rows())
    plus_two = timezone(timedelta(hours=2))
    start, end = ((T0 + timedelta(seconds=s)).astimezone(plus_two) for s in (5, 6))
    assert [i["request_id"]["S"] for i in query_variant(tables, PREDICTIONS_TABLE, "A", start, end)] == ["A-5", "A-6"]


def test_query_variant_of_an_unknown_variant_is_empty(tables: Any) -> None:
    _write(tables, _rows())
    assert query_variant(tables, PREDICTIONS_TABLE, "C", T0, T0 + timedelta(days=1)) == []


def test_query_variant_refuses_a_window_that_ends_before_it_starts() -> None:
    client = _CountingClient(None)
    with pytest.raises(ValueError, match=r"^the window starts \(2026-11-21T10:00:01.000Z\) after it ends"):
        query_variant(client, PREDICTIONS_TABLE, "A", T0 + timedelta(seconds=1), T0)
    assert client.queries == []


def test_query_variant_refuses_naive_datetimes() -> None:
    client = _CountingClient(None)
    with pytest.raises(ValueError, match="timezone-aware"):
        query_variant(client, PREDICTIONS_TABLE, "A", datetime(2026, 11, 21), T0)
    assert client.queries == []
