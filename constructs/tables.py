"""DynamoDB tables: model registry, experiments, predictions (ARCHITECTURE §4).

Attribute and index names are a contract with ``lambda_src`` (see lambda_src/README.md): they are defined here once.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from cdktf import TerraformResourceLifecycle
from pydantic import Field, model_validator

from constructs import Construct
from constructs.alarms import AlarmSpec, any_in_five_minutes
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.refs import KeyRef, TableRef
from constructs.settings import Settings

PREDICTIONS_TTL_ATTRIBUTE = "expires_at"  # predictions expire at this epoch-seconds attribute
REGISTRY_STATUS_INDEX = "by-status"  # model registry GSI: status + registered_at (inference lists approved models)

# Predictions GSI for A/B analysis: one variant's predictions in a time window. Keyed on the variant alone, the index
# had one or two partition key values, and a partition takes at most ~1,000 write units per second (DynamoDB Developer
# Guide, "Best practices for designing and using partition keys" / "Using write sharding"): GSI write throttling then
# throttles the base table's writes (DynamoDB Developer Guide, "GSI write throttling and back pressure"). The hash key
# is therefore write-sharded: "<variant>#<n>", n = a stable hash of request_id mod PREDICTIONS_VARIANT_SHARDS, and a
# reader queries every shard (lambda_src/mlp_common/predictions.py: query_variant). 16 shards let one variant take
# ~16,000 items/s (an item of < 1 KB is 1 write unit) and two variants ~32,000, under the default 40,000 write units
# per table on demand, for 16 Query calls per read. The handler side defines the same four names and values
# (tests/unit/test_contracts.py fails if they drift).
PREDICTIONS_VARIANT_INDEX = "by-variant-shard-time"
PREDICTIONS_VARIANT_SHARD_ATTRIBUTE = "variant_shard"  # GSI hash key: "<variant>#<shard>"
PREDICTIONS_CREATED_AT_ATTRIBUTE = "created_at"  # GSI range key: ISO-8601 UTC with milliseconds
PREDICTIONS_VARIANT_SHARDS = 16
# The operations DynamoDB reports ThrottledRequests and SystemErrors for (dimension Operation) that read or write items:
# every call our handlers and workflows make is one of them. Ten, CloudWatch's limit of metrics in one math alarm.
DATA_PLANE_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
)


class TablesSettings(Settings):
    """Knobs of the tables (``dynamodb`` in cdktf.json)."""

    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    # PROVISIONED only; at most DynamoDB's default per-table quota of 40,000 units
    read_capacity: int | None = Field(None, ge=1, le=40_000)
    write_capacity: int | None = Field(None, ge=1, le=40_000)
    predictions_ttl_days: int = Field(30, ge=1, le=3650)  # predictions expire this many days after they are written

    @model_validator(mode="after")
    def _capacity(self) -> "TablesSettings":
        provisioned = self.billing_mode == "PROVISIONED"
        has_capacity = self.read_capacity is not None and self.write_capacity is not None
        if provisioned and not has_capacity:
            raise ValueError("billing_mode PROVISIONED needs read_capacity and write_capacity")
        if not provisioned and (self.read_capacity or self.write_capacity):
            raise ValueError("read_capacity/write_capacity are only allowed with billing_mode PROVISIONED")
        return self


@dataclass(frozen=True)
class TablesProps:
    """The pipeline's tables: what they are wired to; their knobs are ``settings``."""

    naming: Naming
    data_key: KeyRef  # every table is encrypted with this customer-managed key
    protect: bool = False  # deletion protection + prevent_destroy (protect_stateful)
    settings: TablesSettings = field(default_factory=TablesSettings)


@dataclass(frozen=True)
class _Index:
    name: str
    hash_key: str
    range_key: str


class Tables(Construct):
    """Exposes ``model_registry``, ``experiments``, ``predictions`` (aws DynamodbTable) and a ``TableRef`` of each
    (``model_registry_ref``, ``experiments_ref``, ``predictions_ref``)."""

    def __init__(self, scope: Construct, id: str, props: TablesProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self.model_registry = self._table(
            "model-registry",
            hash_key="model_name",
            range_key="version",
            indexes=(_Index(REGISTRY_STATUS_INDEX, "status", "registered_at"),),
        )
        self.experiments = self._table("experiments", hash_key="experiment_id")
        self.predictions = self._table(
            "predictions",
            hash_key="request_id",
            # Changing a GSI's keys replaces the index, not the table: DynamoDB cannot update a GSI's key schema, so
            # the provider deletes it and creates the new one in place (UpdateTable), then backfills it.
            indexes=(
                _Index(
                    PREDICTIONS_VARIANT_INDEX, PREDICTIONS_VARIANT_SHARD_ATTRIBUTE, PREDICTIONS_CREATED_AT_ATTRIBUTE
                ),
            ),
            ttl=PREDICTIONS_TTL_ATTRIBUTE,
        )
        self.all = (self.model_registry, self.experiments, self.predictions)
        self.model_registry_ref = TableRef(self.model_registry.name, self.model_registry.arn)
        self.experiments_ref = TableRef(self.experiments.name, self.experiments.arn)
        self.predictions_ref = TableRef(self.predictions.name, self.predictions.arn)

    def alarm_specs(self) -> list[AlarmSpec]:
        """Per table: requests throttled, and requests DynamoDB failed itself (HTTP 500), over every operation."""
        specs = []
        for table in self.all:
            component = table.node.id
            for kind, metric, check in (
                (
                    "throttles",
                    "ThrottledRequests",
                    "requests were throttled. Check first: ConsumedRead/WriteCapacityUnits against the provisioned "
                    "capacity (dynamodb.billing_mode), then a hot partition key in CloudWatch Contributor Insights.",
                ),
                (
                    "system-errors",
                    "SystemErrors",
                    "DynamoDB failed requests itself (HTTP 500). Check first: the AWS Health Dashboard for DynamoDB "
                    "in this region; the SDKs retry these, so a sustained count means callers are failing.",
                ),
            ):
                specs.append(
                    any_in_five_minutes(
                        f"table-{component}-{kind}",
                        f"Table {component}: {check}",
                        "data",
                        "AWS/DynamoDB",
                        metric,
                        {"TableName": table.name},
                        # Both metrics exist only per operation: the alarm sums the operations (at most 10).
                        sum_over=tuple({"Operation": op} for op in DATA_PLANE_OPERATIONS),
                    )
                )
        return specs

    def _table(
        self,
        component: str,
        hash_key: str,
        range_key: str | None = None,
        indexes: tuple[_Index, ...] = (),
        ttl: str | None = None,
    ) -> Any:
        p, settings = self._props, self._props.settings
        keys = [hash_key, *([range_key] if range_key else [])]
        for index in indexes:
            keys += [k for k in (index.hash_key, index.range_key) if k not in keys]
        provisioned = settings.billing_mode == "PROVISIONED"
        capacity = (
            {"read_capacity": settings.read_capacity, "write_capacity": settings.write_capacity} if provisioned else {}
        )
        ddb = aws.dynamodb_table
        return ddb.DynamodbTable(
            self,
            component,
            name=p.naming.name(component, Kind.DYNAMODB),
            billing_mode=settings.billing_mode,
            hash_key=hash_key,
            range_key=range_key,
            attribute=[ddb.DynamodbTableAttribute(name=k, type="S") for k in keys],
            global_secondary_index=[
                ddb.DynamodbTableGlobalSecondaryIndex(
                    name=i.name, hash_key=i.hash_key, range_key=i.range_key, projection_type="ALL", **capacity
                )
                for i in indexes
            ]
            or None,
            ttl={"attribute_name": ttl, "enabled": True} if ttl else None,
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True, "kms_key_arn": p.data_key.arn},
            deletion_protection_enabled=p.protect,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if p.protect else None,
            **capacity,
        )
