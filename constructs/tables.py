"""DynamoDB tables: model registry, experiments, predictions (ARCHITECTURE §4).

Attribute names are a contract with ``lambda_src`` (see lambda_src/README.md).
"""

from dataclasses import dataclass
from typing import Any

from cdktf import TerraformResourceLifecycle

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming

PREDICTIONS_TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class TablesProps:
    """The pipeline's tables."""

    naming: Naming
    kms_key_arn: str  # every table is encrypted with this customer-managed key
    billing_mode: str = "PAY_PER_REQUEST"  # or PROVISIONED with the capacities below
    read_capacity: int | None = None
    write_capacity: int | None = None
    protect: bool = False  # deletion protection + prevent_destroy (prod)


@dataclass(frozen=True)
class _Index:
    name: str
    hash_key: str
    range_key: str


class Tables(Construct):
    """Exposes ``model_registry``, ``experiments``, ``predictions`` (aws DynamodbTable)."""

    def __init__(self, scope: Construct, id: str, props: TablesProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self.model_registry = self._table(
            "model-registry",
            hash_key="model_name",
            range_key="version",
            indexes=(_Index("by-status", "status", "registered_at"),),
        )
        self.experiments = self._table("experiments", hash_key="experiment_id")
        self.predictions = self._table(
            "predictions",
            hash_key="request_id",
            indexes=(_Index("by-variant-time", "variant", "created_at"),),
            ttl=PREDICTIONS_TTL_ATTRIBUTE,
        )
        self.all = (self.model_registry, self.experiments, self.predictions)

    def _table(
        self, component: str, hash_key: str, range_key: str | None = None, indexes: tuple[_Index, ...] = (), ttl=None
    ) -> Any:
        p = self._props
        keys = [hash_key, *([range_key] if range_key else [])]
        for index in indexes:
            keys += [k for k in (index.hash_key, index.range_key) if k not in keys]
        provisioned = p.billing_mode == "PROVISIONED"
        capacity = {"read_capacity": p.read_capacity, "write_capacity": p.write_capacity} if provisioned else {}
        ddb = aws.dynamodb_table
        return ddb.DynamodbTable(
            self,
            component,
            name=p.naming.name(component, Kind.DYNAMODB),
            billing_mode=p.billing_mode,
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
            server_side_encryption={"enabled": True, "kms_key_arn": p.kms_key_arn},
            deletion_protection_enabled=p.protect,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if p.protect else None,
            **capacity,
        )
