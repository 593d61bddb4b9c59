"""Bootstrap stacks: the bucket and key holding the Terraform state of one account and region (ARCHITECTURE §3).

One ``state-backend-<account>-<region>`` stack per account and region an environment deploys to (stacks/state.py has
the design). Applied once per account, with local state and that account's credentials, before its environment
stacks. Its bucket is versioned, KMS-encrypted, TLS-only, never public and protected with ``prevent_destroy``; old
state versions expire.
"""

from cdktf import LocalBackend, TerraformOutput, TerraformStack

from constructs import Construct
from constructs.aws_modules import aws
from constructs.encryption import key_policy
from constructs.policy import allow_access_log_delivery
from constructs.secure_bucket import SecureBucket, SecureBucketProps
from stacks.common import aws_provider, local_state_path
from stacks.config import AppConfig
from stacks.state import StateLocation


class StateBackendStack(TerraformStack):
    def __init__(self, scope: Construct, config: AppConfig, location: StateLocation) -> None:
        super().__init__(scope, location.stack_name)
        sb = config.state_backend
        LocalBackend(self, path=local_state_path(location.stack_name))
        aws_provider(
            self,
            region=location.region,
            account_ids=[location.account_id],
            tags={"Project": config.project, "Environment": "shared", "Repository": config.repository},
        )

        self.key = aws.kms_key.KmsKey(
            self,
            "state-key",
            description=f"Encrypts the Terraform state of {config.project}",
            enable_key_rotation=True,
            deletion_window_in_days=sb.kms_deletion_window_days,
            policy=key_policy(location.account_id, ()),
            lifecycle={"prevent_destroy": True},
        )
        aws.kms_alias.KmsAlias(self, "state-key-alias", name=location.key_alias, target_key_id=self.key.key_id)

        logs_name = location.logs_bucket
        self.logs = SecureBucket(
            self,
            "state-access-logs",
            SecureBucketProps(
                name=logs_name,
                kms_key_arn=None,  # S3 server access logging delivers only to SSE-S3 buckets
                access_logs=None,
                noncurrent_expire_days=sb.noncurrent_version_expire_days,
                prevent_destroy=True,
                extra_policy=(allow_access_log_delivery(logs_name, location.account_id, location.bucket),),
            ),
        )
        self.bucket = SecureBucket(
            self,
            "state",
            SecureBucketProps(
                name=location.bucket,
                kms_key_arn=self.key.arn,
                kms_key_aliases=(location.key_alias_arn,),  # the environment backends name the alias
                access_logs=self.logs,
                access_logs_prefix="tfstate/",
                noncurrent_expire_days=sb.noncurrent_version_expire_days,
                prevent_destroy=True,
            ),
        )

        TerraformOutput(
            self,
            "state_bucket",
            value=self.bucket.name,
            description="S3 bucket holding the state of this account's environments",
        )
        TerraformOutput(self, "state_region", value=location.region, description="Region of the state bucket")
        TerraformOutput(self, "state_kms_key_arn", value=self.key.arn, description="KMS key encrypting the state")
        TerraformOutput(
            self,
            "state_kms_key_alias_arn",
            value=location.key_alias_arn,
            description="Alias ARN the environment backends use as kms_key_id",
        )
