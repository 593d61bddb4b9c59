"""Pieces every stack shares: the AWS provider with guard rails and tags, and the stack-local backend path."""

from constructs import Construct
from constructs.aws_modules import aws

MANAGED_BY = "cdktf"


def aws_provider(scope: Construct, *, region: str, account_ids: list[str], tags: dict[str, str]) -> object:
    """The provider refuses to touch any account but ``account_ids``; every taggable resource gets ``tags``."""
    return aws.provider.AwsProvider(
        scope,
        "aws",
        region=region,
        allowed_account_ids=account_ids,
        default_tags=[aws.provider.AwsProviderDefaultTags(tags={**tags, "ManagedBy": MANAGED_BY})],
    )


def local_state_path(stack_name: str) -> str:
    """Local state next to cdktf.json (three levels above cdktf.out/stacks/<stack>/), so re-synth never loses it."""
    return f"../../../terraform.{stack_name}.tfstate"
