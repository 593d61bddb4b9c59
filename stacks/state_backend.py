"""Bootstrap stack: the bucket and key that hold every environment's Terraform state (ARCHITECTURE §3).

Applied once, with local state, before any environment stack. Its bucket is versioned, KMS-encrypted, TLS-only,
never public and protected with ``prevent_destroy``; old state versions expire.
"""

from cdktf import LocalBackend, TerraformOutput, TerraformStack

from constructs import Construct
from constructs.aws_modules import aws
from constructs.encryption import key_policy
from constructs.policy import allow_access_log_delivery
from constructs.secure_bucket import SecureBucket, SecureBucketProps
from stacks.common import aws_provider, local_state_path
from stacks.config import AppConfig

STACK_NAME = "state-backend"


class StateBackendStack(TerraformStack):
    def __init__(self, scope: Construct, config: AppConfig) -> None:
        super().__init__(scope, STACK_NAME)
        sb = config.state_backend
        LocalBackend(self, path=local_state_path(STACK_NAME))
        aws_provider(
            self,
            region=sb.region,
            account_ids=[sb.account_id],
            tags={"Project": config.project, "Environment": "shared", "Repository": config.repository},
        )

        self.key = aws.kms_key.KmsKey(
            self,
            "state-key",
            description=f"Encrypts the Terraform state of {config.project}",
            enable_key_rotation=True,
            deletion_window_in_days=sb.kms_deletion_window_days,
            policy=key_policy(sb.account_id, ()),
            lifecycle={"prevent_destroy": True},
        )
        aws.kms_alias.KmsAlias(self, "state-key-alias", name=config.state_key_alias, target_key_id=self.key.key_id)

        logs_name = config.state_logs_bucket
        self.logs = SecureBucket(
            self,
            "state-access-logs",
            SecureBucketProps(
                name=logs_name,
                kms_key_arn=None,  # S3 server access logging delivers only to SSE-S3 buckets
                access_logs=None,
                noncurrent_expire_days=sb.noncurrent_version_expire_days,
                prevent_destroy=True,
                extra_policy=(allow_access_log_delivery(logs_name, sb.account_id, config.state_bucket),),
            ),
        )
        self.bucket = SecureBucket(
            self,
            "state",
            SecureBucketProps(
                name=config.state_bucket,
                kms_key_arn=self.key.arn,
                kms_key_aliases=(config.state_key_alias_arn,),  # the environment backends name the alias
                access_logs=self.logs,
                access_logs_prefix="tfstate/",
                noncurrent_expire_days=sb.noncurrent_version_expire_days,
                prevent_destroy=True,
            ),
        )

        TerraformOutput(self, "state_bucket", value=self.bucket.name, description="S3 bucket holding all state")
        TerraformOutput(self, "state_region", value=sb.region, description="Region of the state bucket")
        TerraformOutput(self, "state_kms_key_arn", value=self.key.arn, description="KMS key encrypting the state")
        TerraformOutput(
            self,
            "state_kms_key_alias_arn",
            value=config.state_key_alias_arn,
            description="Alias ARN the environment backends use as kms_key_id",
        )
