"""Where Terraform state lives (ARCHITECTURE §3): one state bucket and key per account and region.

Design: every environment keeps its state in a bucket **in its own deploy account and region** (the first of its
``account_ids``), created by a bootstrap stack ``state-backend-<account>-<region>`` that the config derives from the
environments. An environment's own deploy credentials therefore reach its state with no cross-account trust: a
compromised dev account cannot read or lock prod's state, and no central account has to grant every environment's
principals access (the alternative, one central state account reached through ``assume_role``, needs a role per
environment in that account and couples every deploy to it). The cost is one bootstrap per account and region, run
once with that account's credentials.
"""

from dataclasses import dataclass

PROJECT_STATE = "tfstate"


def state_bucket_name(project: str, account_id: str, region: str, kind: str = "") -> str:
    """State buckets are global names: the account and region make them unique."""
    return "-".join(p for p in (project, PROJECT_STATE, kind, account_id, region) if p)


@dataclass(frozen=True, order=True)
class StateLocation:
    """One account and region holding state: its bucket, access-log bucket and key alias."""

    project: str
    account_id: str
    region: str

    @property
    def stack_name(self) -> str:
        return f"state-backend-{self.account_id}-{self.region}"

    @property
    def bucket(self) -> str:
        return state_bucket_name(self.project, self.account_id, self.region)

    @property
    def logs_bucket(self) -> str:
        return state_bucket_name(self.project, self.account_id, self.region, "logs")

    @property
    def key_alias(self) -> str:
        return f"alias/{self.project}-{PROJECT_STATE}"

    @property
    def key_alias_arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:{self.key_alias}"

    def state_key(self, env: str) -> str:
        """Object key of one environment's state in this bucket."""
        return f"{self.project}/{env}/terraform.tfstate"
