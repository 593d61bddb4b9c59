"""Stream path benchmark: the batched stream consumer against the per-record loop it replaced, in process.

Both paths get the same 100-record Kinesis batch (phase two) and the same fakes:
- a sagemaker-runtime client whose InvokeEndpoint sleeps 20 ms per call (the round trip batching saves) and answers
  ``{"predictions": [{"score": s}, ...]}``, one score per CSV row, the variant alternating "A"/"B" per call;
- a DynamoDB client that counts BatchWriteItem calls and keeps the items (every put succeeds).

NEW is ``stream_consumer.process_batch`` as deployed. OLD is ``per_record_batch`` below: a reference copy of the loop
``process_batch`` ran before batching (one InvokeEndpoint call per record, then the same ``batch_write``). It emits
no EMF line and logs nothing, so OLD is, if anything, flattered: the speed-up shown is a lower bound. Each path runs
``--runs`` times on fresh fakes; the median wall time counts. Both must write every record, with the same scores.

Targets for the 100-record batch: NEW makes at most 2 InvokeEndpoint calls and at most 4 BatchWriteItem calls, and
processes at least 20x the records/s of OLD. Missing one (or a wrong result) exits 1.

Run as ``python -m tests.support.bench_stream [--runs N]`` from the repository root. ``stream_figures()`` returns the
same figures as a dict, for tests.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
# The Lambda zip's layout: stream_consumer.py next to mlp_common/ (tests/handlers/conftest.py does the same).
for _path in (_LAMBDA_SRC, _LAMBDA_SRC / "stream_consumer"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import stream_consumer  # noqa: E402
from mlp_common import model  # noqa: E402
from mlp_common.predictions import batch_write, prediction_item  # noqa: E402

RECORDS = 100
FEATURES = 8
CALL_DELAY_S = 0.020
MAX_ENDPOINT_CALLS = 2
MAX_BATCH_WRITE_CALLS = 4
MIN_SPEEDUP = 20.0
TABLE = "bench-predictions"
Batch = Callable[[list[dict[str, Any]], stream_consumer.Settings, Any, Any], dict[str, Any]]


class FakeRuntime:
    """sagemaker-runtime stand-in: `delay_s` per InvokeEndpoint call, one score per CSV row, variants A/B by call."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        time.sleep(self.delay_s)
        scores = [score(row) for row in request["Body"].split("\n")]
        body = json.dumps({"predictions": [{"score": value} for value in scores]}).encode()
        variant = "A" if self.calls % 2 else "B"
        return {"Body": io.BytesIO(body), "ContentType": "application/json", "InvokedProductionVariant": variant}


class FakeDynamoDB:
    """DynamoDB stand-in: counts BatchWriteItem calls, keeps the items by request_id, processes every put."""

    def __init__(self) -> None:
        self.calls = 0
        self.items: dict[str, dict[str, Any]] = {}

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        for requests in request["RequestItems"].values():
            if len(requests) > 25:
                raise ValueError("BatchWriteItem takes at most 25 requests")
            for put in requests:
                item = put["PutRequest"]["Item"]
                self.items[item["request_id"]["S"]] = item
        return {"UnprocessedItems": {}}


def score(row: str) -> float:
    """The fake model's answer for one CSV row: deterministic, so both paths must store the same value."""
    return round(abs(sum(float(value) for value in row.split(","))) % 1.0, 6)


def bench_settings() -> stream_consumer.Settings:
    return stream_consumer.Settings(
        predictions_table=TABLE,
        endpoints_enabled=True,
        endpoint_name="bench-endpoint",
        ttl_days=30,
        feature_count=FEATURES,
        write_attempts=5,
        write_base_delay_s=0.0,
        namespace="Bench",
        environment="bench",
    )


def bench_records(count: int = RECORDS) -> list[dict[str, Any]]:
    """A Kinesis event source batch of `count` valid inference requests."""
    records = []
    for i in range(count):
        payload = {"request_id": f"bench-{i:05d}", "features": [i + k / 10 for k in range(FEATURES)]}
        records.append(
            {
                "kinesis": {
                    "sequenceNumber": f"{49_000_000 + i}",
                    "data": base64.b64encode(json.dumps(payload).encode()).decode(),
                },
                "eventID": f"shardId-000000000000:{49_000_000 + i}",
            }
        )
    return records


def per_record_batch(
    records: list[dict[str, Any]], cfg: stream_consumer.Settings, runtime: Any, ddb: Any
) -> dict[str, Any]:
    """OLD: the per-record loop process_batch ran before batching (one InvokeEndpoint call per record)."""
    failed: dict[str, str] = {}
    latest: dict[str, stream_consumer.StreamRequest] = {}
    for record in records:
        try:
            request = stream_consumer.decode_record(record, cfg.feature_count)
        except stream_consumer.RecordError as err:
            failed[stream_consumer.sequence_number(record)] = str(err)
            continue
        latest[request.request_id] = request
    now = datetime.now(UTC)
    items = []
    for request_id, request in latest.items():
        try:
            result = model.invoke(runtime, cfg.endpoint_name, request.features)
        except model.ModelInvocationError as err:
            failed[request.sequence_number] = str(err)
            continue
        items.append(
            prediction_item(
                request_id,
                features=request.features,
                source="stream",
                now=now,
                ttl_days=cfg.ttl_days,
                prediction=result.value,
                variant=result.variant,
                latency_ms=result.latency_ms,
            )
        )
    unwritten = batch_write(
        ddb, cfg.predictions_table, items, max_attempts=cfg.write_attempts, base_delay_s=cfg.write_base_delay_s
    )
    for request_id in unwritten:
        failed[latest[request_id].sequence_number] = unwritten[request_id]
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}


def batched_batch(
    records: list[dict[str, Any]], cfg: stream_consumer.Settings, runtime: Any, ddb: Any
) -> dict[str, Any]:
    """NEW: the handler's own process_batch."""
    return stream_consumer.process_batch(records, cfg, runtime=runtime, ddb=ddb)


def _measure(batch: Batch, runs: int, delay_s: float) -> tuple[dict[str, Any], list[str], dict[str, float]]:
    """(figures, problems, {request_id: stored score}) of `runs` runs of one path; the median wall time counts."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    walls, problems = [], []
    records = bench_records()
    for _ in range(runs):
        runtime, ddb = FakeRuntime(delay_s), FakeDynamoDB()
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's JSON log and EMF lines
            started = time.perf_counter()
            result = batch(records, bench_settings(), runtime, ddb)
            walls.append(time.perf_counter() - started)
        if result["batchItemFailures"]:
            problems.append(f"{len(result['batchItemFailures'])} records reported failed")
    wall_s = statistics.median(walls)
    figures = {
        "records": len(records),
        "endpoint_calls": runtime.calls,
        "batch_write_calls": ddb.calls,
        "wall_ms": round(wall_s * 1000.0, 1),
        "records_per_s": round(len(records) / wall_s, 1),
    }
    scores = {request_id: float(item["prediction"]["N"]) for request_id, item in ddb.items.items()}
    if len(scores) != len(records):
        problems.append(f"{len(scores)} of {len(records)} records written")
    return figures, problems, scores


def stream_figures(runs: int = 3, delay_s: float = CALL_DELAY_S) -> dict[str, Any]:
    """Measure both paths: {"old", "new": figures, "speedup", "targets", "missed": [...], "met": bool}."""
    old, old_problems, old_scores = _measure(per_record_batch, runs, delay_s)
    new, new_problems, new_scores = _measure(batched_batch, runs, delay_s)
    speedup = round(new["records_per_s"] / old["records_per_s"], 1)
    missed = [f"old path: {problem}" for problem in old_problems] + [f"new path: {p}" for p in new_problems]
    if new_scores != old_scores:
        missed.append("the two paths stored different scores")
    if new["endpoint_calls"] > MAX_ENDPOINT_CALLS:
        missed.append(f"{new['endpoint_calls']} InvokeEndpoint calls (target <= {MAX_ENDPOINT_CALLS})")
    if new["batch_write_calls"] > MAX_BATCH_WRITE_CALLS:
        missed.append(f"{new['batch_write_calls']} BatchWriteItem calls (target <= {MAX_BATCH_WRITE_CALLS})")
    if speedup < MIN_SPEEDUP:
        missed.append(f"speed-up {speedup}x (target >= {MIN_SPEEDUP}x)")
    return {
        "call_delay_ms": delay_s * 1000.0,
        "runs": runs,
        "old": old,
        "new": new,
        "speedup": speedup,
        "targets": {
            "max_endpoint_calls": MAX_ENDPOINT_CALLS,
            "max_batch_write_calls": MAX_BATCH_WRITE_CALLS,
            "min_speedup": MIN_SPEEDUP,
        },
        "missed": missed,
        "met": not missed,
    }


def table(figures: dict[str, Any]) -> str:
    header = ("path", "records", "endpoint calls", "BatchWriteItem calls", "wall ms", "records/s", "speed-up")
    rows = [header]
    for name, key, speedup in (("per-record (old)", "old", 1.0), ("batched (new)", "new", figures["speedup"])):
        f = figures[key]
        cells = (f["records"], f["endpoint_calls"], f["batch_write_calls"], f["wall_ms"], f["records_per_s"])
        rows.append((name, *(str(cell) for cell in cells), f"{speedup}x"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="runs per path; the median wall time counts")
    args = parser.parse_args(argv)
    figures = stream_figures(runs=max(1, args.runs))
    print(f"fake InvokeEndpoint: {figures['call_delay_ms']:.0f} ms per call; median of {figures['runs']} runs")
    print(table(figures))
    targets = figures["targets"]
    print(
        f"targets (new, {RECORDS} records): <= {targets['max_endpoint_calls']} endpoint calls, "
        f"<= {targets['max_batch_write_calls']} BatchWriteItem calls, >= {targets['min_speedup']}x records/s: "
        + ("met" if figures["met"] else "MISSED: " + "; ".join(figures["missed"]))
    )
    return 0 if figures["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
