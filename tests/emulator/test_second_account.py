"""The state design across accounts (ARCHITECTURE §3, stacks/state.py), proven on the emulator with a second account.

test_round.py deploys dev in account A (111111111111) with the emulator's own credentials. Here staging deploys in
account B (222222222222) with credentials of a role assumed in B (moto serves each request in the account of the
credentials it comes with): B's bootstrap creates B's state bucket, staging's state lands there under its own key,
locking is on, a re-plan is clean and destroy removes everything but the state bucket.
"""

import json
from pathlib import Path

import pytest

from tests.support.synth import synth_context
from tests.support.terraform import terraform

pytestmark = pytest.mark.emulator

ACCOUNT_B = "222222222222"
BOOTSTRAP_B = f"state-backend-{ACCOUNT_B}-us-east-1"
STAGING = "ml-pipeline-staging"
STATE_BUCKET_B = f"mlpipe-tfstate-{ACCOUNT_B}-us-east-1"
STATE_KEY_B = "mlpipe/staging/terraform.tfstate"


@pytest.fixture(scope="module")
def account_b(emulator) -> dict[str, str]:
    """Environment for terraform and boto3 with credentials of a deploy role assumed in account B."""
    credentials = emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT_B}:role/ml-pipeline-deployer", RoleSessionName="ci-staging"
    )["Credentials"]
    return {
        **emulator.env,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


@pytest.fixture(scope="module")
def stacks_b(tmp_path_factory, base_context) -> Path:
    """Staging synthesized as CI would for the emulator: force_destroy on, so destroy can empty its buckets."""
    context = json.loads(json.dumps(base_context))
    context["environments"]["staging"].setdefault("data_lake", {})["force_destroy"] = True
    outdir = tmp_path_factory.mktemp("account-b") / "cdktf.out"
    synth_context(context, outdir, environ={})
    return outdir / "stacks"


class TestSecondAccount:
    def test_the_assumed_role_acts_in_account_b(self, emulator, account_b):
        assert emulator.client("sts", account_b).get_caller_identity()["Account"] == ACCOUNT_B

    def test_bootstrap_of_account_b_creates_its_own_state_bucket(self, emulator, account_b, stacks_b):
        stack = stacks_b / BOOTSTRAP_B
        terraform(["init", "-input=false"], stack, account_b)
        terraform(["apply", "-auto-approve", "-input=false"], stack, account_b)
        s3 = emulator.client("s3", account_b)
        rule = s3.get_bucket_encryption(Bucket=STATE_BUCKET_B)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        key = emulator.client("kms", account_b).describe_key(KeyId="alias/mlpipe-tfstate")["KeyMetadata"]
        assert key["Arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT_B}:key/")

    def test_staging_deploys_with_its_state_in_account_b(self, emulator, account_b, stacks_b):
        stack = stacks_b / STAGING
        backend = json.loads((stack / "cdk.tf.json").read_text())["terraform"]["backend"]["s3"]
        assert (backend["bucket"], backend["key"], backend["use_lockfile"]) == (STATE_BUCKET_B, STATE_KEY_B, True)
        assert backend["kms_key_id"] == f"arn:aws:kms:us-east-1:{ACCOUNT_B}:alias/mlpipe-tfstate"
        terraform(["init", "-input=false"], stack, account_b)
        terraform(["apply", "-auto-approve", "-input=false"], stack, account_b)
        s3 = emulator.client("s3", account_b)
        head = s3.head_object(Bucket=STATE_BUCKET_B, Key=STATE_KEY_B)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert "Contents" not in s3.list_objects_v2(Bucket=STATE_BUCKET_B, Prefix=f"{STATE_KEY_B}.tflock")
        state = json.loads(s3.get_object(Bucket=STATE_BUCKET_B, Key=STATE_KEY_B)["Body"].read())
        arns = [
            instance["attributes"]["arn"]
            for resource in state["resources"]
            if resource["mode"] == "managed" and resource["type"] == "aws_kinesis_stream"
            for instance in resource["instances"]
        ]
        assert arns == [f"arn:aws:kinesis:us-east-1:{ACCOUNT_B}:stream/mlpipe-inference-requests-staging"]

    def test_staging_replans_clean(self, account_b, stacks_b):
        replan = terraform(["plan", "-detailed-exitcode", "-input=false"], stacks_b / STAGING, account_b, check=False)
        assert replan.returncode == 0, replan.stdout[-4000:]

    def test_staging_destroys_clean(self, emulator, account_b, stacks_b):
        terraform(["destroy", "-auto-approve", "-input=false"], stacks_b / STAGING, account_b)
        s3 = emulator.client("s3", account_b)
        state = json.loads(s3.get_object(Bucket=STATE_BUCKET_B, Key=STATE_KEY_B)["Body"].read())
        assert state["resources"] == []
        assert emulator.client("dynamodb", account_b).list_tables()["TableNames"] == []
        assert emulator.client("kinesis", account_b).list_streams()["StreamNames"] == []
