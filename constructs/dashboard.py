"""The environment's CloudWatch dashboard as data (ARCHITECTURE §7): a row per pipeline stage, in pipeline order.

Every widget is built from the same data as the alarms: an :class:`~constructs.alarms.AlarmSpec` becomes a graph of the
metric it watches with its threshold drawn in, so the dashboard can never show a metric no alarm reads under a name the
handlers do not emit. Graphs that no alarm needs (throughput counts) are :class:`Graph` values the constructs add.
Phase-two graphs appear only when their specs exist, i.e. in phase two.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from constructs.alarms import STAGES, AlarmSpec, Stage

WIDTH = 24  # CloudWatch dashboards are 24 grid units wide
GRAPH_WIDTH, GRAPH_HEIGHT = 8, 6  # three graphs per row

STAGE_TITLES: dict[Stage, str] = {
    "ingest": "Ingest: raw uploads, their validation and the event rules",
    "data": "Data: preprocessing, drift and the DynamoDB tables",
    "training": "Training: workflows, evaluation and approval",
    "serving": "Serving: SageMaker variants and the traffic shift",
    "api": "API: the inference API, its WAF and the inference function",
    "stream": "Stream: Kinesis ingestion and the stream consumer",
}


@dataclass(frozen=True)
class Line:
    """One metric on a graph."""

    namespace: str
    metric_name: str
    dimensions: Mapping[str, str]
    stat: str
    label: str | None = None


@dataclass(frozen=True)
class Graph:
    """One metric widget."""

    stage: Stage
    title: str
    lines: tuple[Line, ...]
    period: int = 300
    threshold: float | None = None  # drawn as a horizontal line
    anomaly_band: float | None = None  # drawn as CloudWatch's expected band around the first line


def alarm_graph(spec: AlarmSpec) -> Graph:
    """The graph of what ``spec`` watches, with its threshold (or its anomaly band)."""
    lines = tuple(Line(spec.namespace, spec.metric_name, dims, spec.stat) for dims in spec.metric_dimensions)
    if spec.anomaly_band is not None:
        return Graph(spec.stage, spec.name, lines, spec.period, anomaly_band=spec.anomaly_band)
    return Graph(spec.stage, spec.name, lines, spec.period, threshold=spec.threshold)


def _metric_rows(graph: Graph) -> list[list[Any]]:
    rows: list[list[Any]] = []
    if graph.anomaly_band is not None:
        rows.append([{"expression": f"ANOMALY_DETECTION_BAND(m1, {graph.anomaly_band:g})", "id": "band"}])
    for index, line in enumerate(graph.lines, start=1):
        options: dict[str, Any] = {"stat": line.stat, "id": f"m{index}"}
        if line.label:
            options["label"] = line.label
        row: list[Any] = [line.namespace, line.metric_name]
        for key, value in line.dimensions.items():
            row += [key, value]
        rows.append([*row, options])
    return rows


def _graph_widget(graph: Graph, region: str, x: int, y: int) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": graph.title,
        "view": "timeSeries",
        "region": region,
        "period": graph.period,
        "metrics": _metric_rows(graph),
    }
    if graph.threshold is not None:
        properties["annotations"] = {"horizontal": [{"label": "alarm threshold", "value": graph.threshold}]}
    return {"type": "metric", "x": x, "y": y, "width": GRAPH_WIDTH, "height": GRAPH_HEIGHT, "properties": properties}


def _text_widget(markdown: str, y: int, height: int) -> dict[str, Any]:
    return {"type": "text", "x": 0, "y": y, "width": WIDTH, "height": height, "properties": {"markdown": markdown}}


def dashboard_body(graphs: Sequence[Graph], region: str, runbook: str) -> str:
    """The dashboard JSON: the runbook text first, then per stage (pipeline order) a heading and its graphs."""
    widgets = [_text_widget(runbook, 0, 3)]
    y = 3
    per_row = WIDTH // GRAPH_WIDTH
    for stage in STAGES:
        own = [g for g in graphs if g.stage == stage]
        if not own:
            continue
        widgets.append(_text_widget(f"## {STAGE_TITLES[stage]}", y, 1))
        y += 1
        for index, graph in enumerate(own):
            widgets.append(
                _graph_widget(graph, region, (index % per_row) * GRAPH_WIDTH, y + (index // per_row) * GRAPH_HEIGHT)
            )
        y += -(-len(own) // per_row) * GRAPH_HEIGHT
    return json.dumps({"widgets": widgets}, separators=(",", ":"))
