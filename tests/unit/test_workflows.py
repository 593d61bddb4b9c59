"""The training and batch workflows (ARCHITECTURE §7): definitions as data, the rules they keep, roles, triggers."""

import copy
import json
from typing import Any

import pytest

from constructs.naming import Naming
from constructs.workflow_definitions import (
    ALL_ERRORS,
    BatchWorkflow,
    TrainingWorkflow,
    asl_problems,
    batch_definition,
    task_resources,
    training_definition,
)
from constructs.workflows import job_prefix_problems
from stacks.config import ConfigError, parse_config
from tests.support.asl import APPROVED_TRAINING_RUN
from tests.support.synth import by_path, of_type, policy_of, ref_id

DEV = "ml-pipeline-dev"
PROD = "ml-pipeline-prod"

TRAINING = TrainingWorkflow(
    job_prefix="mlpipe-train-dev",
    validate_arn="arn:aws:lambda:us-east-1:111111111111:function:mlpipe-validate-dev",
    preprocess_arn="arn:aws:lambda:us-east-1:111111111111:function:mlpipe-preprocess-dev",
    evaluate_arn="arn:aws:lambda:us-east-1:111111111111:function:mlpipe-evaluate-dev",
    approval_arn="arn:aws:lambda:us-east-1:111111111111:function:mlpipe-approval-dev",
    approval_timeout_seconds=72 * 3600,
    training_image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    jobs_role_arn="arn:aws:iam::111111111111:role/mlpipe-sagemaker-jobs-dev",
    processed_bucket="processed-bucket",
    artifacts_bucket="artifacts-bucket",
    ml_key_arn="arn:aws:kms:us-east-1:111111111111:key/ml",
    registry_table="mlpipe-model-registry-dev",
    alerts_topic_arn="arn:aws:sns:us-east-1:111111111111:mlpipe-alerts-dev",
    model_name="model",
    metric_name="validation:auc",
    instance_type="ml.m5.xlarge",
    instance_count=1,
    volume_size_gb=30,
    max_runtime_seconds=86400,
    hyperparameters={"objective": "binary:logistic", "num_round": "100", "eval_metric": "auc"},
)
BATCH = BatchWorkflow(
    job_prefix="mlpipe-batch-dev",
    registry_table="mlpipe-model-registry-dev",
    processed_bucket="processed-bucket",
    data_key_arn="arn:aws:kms:us-east-1:111111111111:key/data",
    ml_key_arn="arn:aws:kms:us-east-1:111111111111:key/ml",
    image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    jobs_role_arn="arn:aws:iam::111111111111:role/mlpipe-sagemaker-jobs-dev",
    alerts_topic_arn="arn:aws:sns:us-east-1:111111111111:mlpipe-alerts-dev",
    model_name="model",
    instance_type="ml.m5.large",
    instance_count=1,
    max_concurrency=4,
    max_payload_mb=6,
)
NO_GATE = TrainingWorkflow(**{**TRAINING.__dict__, "approval_arn": None})


def _tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            found[name] = state
        if "Iterator" in state:
            found.update(_tasks(state["Iterator"]))
    return found


# --- definitions keep the rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definition",
    [training_definition(TRAINING), training_definition(NO_GATE), batch_definition(BATCH)],
    ids=["training-with-gate", "training-without-gate", "batch"],
)
def test_definitions_keep_every_rule(definition):
    assert asl_problems(definition) == []
    for name, state in _tasks(definition).items():
        assert state["Retry"] and state["Catch"], name
        for field in ("Retry", "Catch"):
            entries = state[field]
            assert all(ALL_ERRORS not in e["ErrorEquals"] for e in entries[:-1]), (name, field)
        assert state["Catch"][-1]["ErrorEquals"] == [ALL_ERRORS], name
        for retrier in state["Retry"]:
            assert retrier["BackoffRate"] == 2.0 and retrier["MaxAttempts"] == 3 and retrier["IntervalSeconds"] == 2


@pytest.mark.parametrize(
    "definition", [training_definition(TRAINING), batch_definition(BATCH)], ids=["training", "batch"]
)
def test_definitions_are_jsonpath_and_serializable(definition):
    assert "QueryLanguage" not in definition  # JSONPath, the default
    assert json.loads(json.dumps(definition)) == definition


def test_data_problems_rejections_and_lost_conditional_writes_are_never_retried():
    for definition in (training_definition(TRAINING), batch_definition(BATCH)):
        for name, state in _tasks(definition).items():
            retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
            assert not retried & {
                ALL_ERRORS,
                "States.TaskFailed",
                "DataValidationError",
                "ModelRejected",
                "DynamoDB.ConditionalCheckFailedException",
            }, name


def _broken(edit) -> list[str]:
    definition = copy.deepcopy(training_definition(TRAINING))
    edit(definition["States"])
    return asl_problems(definition)


def test_the_checker_finds_a_missing_next_target():
    assert _broken(lambda s: s["Preprocess"].update(Next="Nowhere")) == [
        "Preprocess: Next names 'Nowhere', which is not a state here",
        "PreprocessSucceeded: not reachable from StartAt",
        "PreprocessRefused: not reachable from StartAt",
    ]


def test_the_checker_finds_a_task_without_retry_or_catch():
    def edit(states):
        del states["Evaluate"]["Retry"]
        del states["Evaluate"]["Catch"]

    assert _broken(edit) == ["Evaluate: a Task needs a Retry", "Evaluate: a Task needs a Catch"]


def test_the_checker_finds_states_all_before_another_catcher():
    def edit(states):
        states["Train"]["Catch"].append({"ErrorEquals": ["Other"], "Next": "NotifyFailure"})

    assert _broken(edit) == ["Train: Catch[0]: States.ALL must be alone and in the last Catch entry"]


def test_the_checker_finds_a_choice_without_default_and_an_unreachable_state():
    def edit(states):
        del states["MetricMeetsThreshold"]["Default"]

    assert _broken(edit) == [
        "MetricMeetsThreshold: a Choice needs a Default",
        "NotifyBelowThreshold: not reachable from StartAt",
    ]


def test_the_checker_looks_inside_map_iterators():
    definition = copy.deepcopy(batch_definition(BATCH))
    definition["States"]["ScoreBatches"]["Iterator"]["States"]["Transform"]["Retry"] = []
    assert asl_problems(definition) == ["ScoreBatches.Iterator.Transform: a Task needs a Retry"]


# --- the training workflow -------------------------------------------------------------------------------------------


def test_training_runs_validate_preprocess_train_evaluate_register_approve_notify():
    states = training_definition(TRAINING)["States"]
    path, name = [], "NameVersion"
    follow = {"HasNewUpload": "ValidateData", "PreprocessSucceeded": "Train", "MetricMeetsThreshold": "RegisterModel"}
    while name in states:
        path.append(name)
        state = states[name]
        name = follow.get(name) or state.get("Next")
    assert path == APPROVED_TRAINING_RUN
    assert states["NotifyRegistered"]["End"] is True
    assert states["HasNewUpload"]["Default"] == "Train"  # the schedule retrains on every processed file


def test_train_step_is_a_sync_training_job_with_encryption_isolation_and_limits():
    train = training_definition(TRAINING)["States"]["Train"]
    assert train["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    p = train["Parameters"]
    assert p["TrainingJobName.$"] == "States.Format('mlpipe-train-dev-{}', $.run.version)"
    assert p["AlgorithmSpecification"] == {"TrainingImage": TRAINING.training_image, "TrainingInputMode": "File"}
    assert p["RoleArn"] == TRAINING.jobs_role_arn
    assert p["HyperParameters"] == {"eval_metric": "auc", "num_round": "100", "objective": "binary:logistic"}
    assert [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in p["InputDataConfig"]] == [
        ("train", "s3://processed-bucket/training/train/"),
        ("validation", "s3://processed-bucket/training/validation/"),
    ]
    assert all(c["ContentType"] == "text/csv" for c in p["InputDataConfig"])
    assert p["OutputDataConfig"] == {
        "S3OutputPath.$": "States.Format('s3://artifacts-bucket/models/model/{}/', $.run.version)",
        "KmsKeyId": TRAINING.ml_key_arn,
    }
    assert p["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": TRAINING.ml_key_arn,
    }
    assert p["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert p["EnableNetworkIsolation"] is True
    assert p["EnableInterContainerTrafficEncryption"] is True


def test_register_model_can_never_overwrite_a_version():
    register = training_definition(TRAINING)["States"]["RegisterModel"]
    assert register["Resource"] == "arn:aws:states:::dynamodb:putItem"
    p = register["Parameters"]
    assert p["ConditionExpression"] == "attribute_not_exists(version)"
    assert p["Item"]["status"] == {"S": "pending_approval"}
    assert p["Item"]["version"] == {"S.$": "$.run.version"}
    assert p["Item"]["model_data_url"] == {"S.$": "$.training.model_data_url"}
    assert "decided_by" not in p["Item"]


def test_without_the_gate_a_passing_version_is_approved_at_once():
    states = training_definition(NO_GATE)["States"]
    assert not {"NotifyApprovalNeeded", "WaitForApproval", "RecordTimeout", "NotifyRejected"} & set(states)
    item = states["RegisterModel"]["Parameters"]["Item"]
    assert item["status"] == {"S": "approved"}
    assert item["decided_by"] == {"S": "approval gate off"}
    assert states["RegisterModel"]["Next"] == "NotifyRegistered"


def test_the_approval_gate_waits_for_a_token_with_a_timeout_that_rejects():
    states = training_definition(TRAINING)["States"]
    wait = states["WaitForApproval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["TimeoutSeconds"] == 259200
    assert wait["Parameters"]["Payload"] == {
        "action": "await_decision",
        "task_token.$": "$$.Task.Token",
        "model_name": "model",
        "version.$": "$.run.version",
    }
    assert [(c["ErrorEquals"], c["Next"]) for c in wait["Catch"]] == [
        (["ModelRejected"], "NotifyRejected"),
        (["States.Timeout"], "RecordTimeout"),
        (["States.ALL"], "NotifyFailure"),
    ]
    timeout = states["RecordTimeout"]["Parameters"]
    assert timeout["ConditionExpression"] == "#status = :pending"
    assert timeout["ExpressionAttributeValues"][":rejected"] == {"S": "rejected"}
    assert timeout["ExpressionAttributeValues"][":by"] == {"S": "approval timeout"}
    assert states["RecordTimeout"]["Next"] == "NotifyRejected"


def test_a_metric_below_the_threshold_notifies_and_registers_nothing():
    states = training_definition(TRAINING)["States"]
    choice = states["MetricMeetsThreshold"]
    assert choice["Choices"] == [{"Variable": "$.evaluation.passed", "BooleanEquals": True, "Next": "RegisterModel"}]
    below = states[choice["Default"]]
    assert below["Resource"] == "arn:aws:states:::sns:publish"
    assert below["Parameters"]["TopicArn"] == TRAINING.alerts_topic_arn
    assert below["End"] is True


def test_every_failure_notifies_then_fails():
    states = training_definition(TRAINING)["States"]
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["NotifyFailure"]["Catch"][-1]["Next"] == "Failed"
    assert states["Failed"] == {
        "Type": "Fail",
        "Error": "TrainingWorkflowFailed",
        "Cause": "see the alert and the execution",
    }
    for name, state in _tasks(training_definition(TRAINING)).items():
        if name != "NotifyFailure":
            assert state["Catch"][-1]["Next"] == "NotifyFailure", name


# --- the batch workflow ----------------------------------------------------------------------------------------------


def test_batch_maps_transform_jobs_with_bounded_concurrency_over_the_manifest():
    states = batch_definition(BATCH)["States"]
    score = states["ScoreBatches"]
    assert score["Type"] == "Map"
    assert score["MaxConcurrency"] == 4
    assert score["ItemsPath"] == "$.manifest.content.batches"
    transform = score["Iterator"]["States"]["Transform"]
    assert transform["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    p = transform["Parameters"]
    assert p["TransformJobName.$"] == (
        "States.Format('mlpipe-batch-dev-{}', States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 4))"
    )
    assert (
        p["TransformOutput"]["S3OutputPath.$"]
        == "States.Format('s3://processed-bucket/batch-predictions/{}/', $.run_id)"
    )
    assert p["TransformOutput"]["KmsKeyId"] == BATCH.data_key_arn
    assert p["TransformResources"]["VolumeKmsKeyId"] == BATCH.ml_key_arn
    assert score["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeleteModelAfterFailure"}
    ]
    assert "Retry" not in score  # a Map retry would score every batch again


def test_batch_uses_only_approved_registry_versions_and_cleans_up_its_model():
    states = batch_definition(BATCH)["States"]
    assert states["LookupModel"]["Parameters"]["ConsistentRead"] is True
    rule = states["ModelIsApproved"]["Choices"][0]["And"]
    assert rule[1] == {"Variable": "$.registry.Item.status.S", "StringEquals": "approved"}
    assert states["ModelIsApproved"]["Default"] == "ModelNotApproved"
    assert states["ModelNotApproved"]["Next"] == "NotifyFailure"
    assert states["CreateModel"]["Parameters"]["EnableNetworkIsolation"] is True
    assert states["ScoreBatches"]["Next"] == "DeleteModel"
    assert states["DeleteModelAfterFailure"]["Next"] == "NotifyFailure"
    assert task_resources(batch_definition(BATCH)) == [
        "arn:aws:states:::dynamodb:getItem",
        "arn:aws:states:::aws-sdk:s3:getObject",
        "arn:aws:states:::sagemaker:createModel",
        "arn:aws:states:::sagemaker:createTransformJob.sync",
        "arn:aws:states:::sagemaker:deleteModel",
        "arn:aws:states:::sns:publish",
        "arn:aws:states:::sagemaker:deleteModel",
        "arn:aws:states:::sns:publish",
    ]


# --- names -----------------------------------------------------------------------------------------------------------


def test_job_names_fit_sagemakers_limit():
    # Through the config the bucket names bind first (model-artifacts + account + region is longer than a job name's
    # suffix), so the construct's own check is what stands when it is built with other names.
    assert job_prefix_problems(Naming("mlpipe", "dev"), "train") == []
    assert job_prefix_problems(Naming("mlpipe", "a" * 16, "b" * 16), "batch") == []  # the longest env and suffix
    long = Naming("abcdefghijklmnopqrstuvwxyz0123", "staging-eu", "blue")
    assert job_prefix_problems(long, "train") == [
        "sagemaker name for component 'train job' ('abcdefghijklmnopqrstuvwxyz0123-train-staging-eu-blue-"
        + "0" * 12
        + "') is 65 chars; allowed: at most 63 chars of letters, digits and -. Shorten the project, environment or "
        "suffix name."
    ]


def test_config_refuses_a_training_image_in_another_region(base_context):
    context = copy.deepcopy(base_context)
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgb:1"
    context["environments"]["dev"]["training"] = {"image_uri": image}
    with pytest.raises(ConfigError) as error:
        parse_config(context)
    assert error.value.problems == [
        "environment 'dev', field 'training.image_uri': the image is in region 'eu-west-1' but the environment "
        "deploys to 'us-east-1'; SageMaker pulls model images only from ECR in the endpoint's own region"
    ]


def test_the_gate_follows_protect_stateful_unless_configured(base_context):
    config = parse_config(base_context)
    assert config.environments["staging"].approval_required is False  # protect_stateful false
    assert config.environments["prod"].approval_required is True  # protect_stateful true
    assert config.environments["dev"].approval_required is True  # configured: the emulator round approves
    context = copy.deepcopy(base_context)
    context["environments"]["prod"]["training"] = {"approval_required": False}
    assert parse_config(context).environments["prod"].approval_required is False


# --- synthesized state machines and roles ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.stack(DEV)


@pytest.mark.parametrize("component", ["training", "batch-inference"])
def test_state_machines_are_standard_logged_and_traced(dev, component):
    machine = by_path(dev, "aws_sfn_state_machine", f"/workflows/{component}")
    log_group = by_path(dev, "aws_cloudwatch_log_group", f"/workflows/{component}-logs")
    ops_key = ref_id(by_path(dev, "aws_kms_key", "/ops-key/key"))
    assert machine["type"] == "STANDARD"
    assert machine["name"] == f"mlpipe-{component}-dev"
    assert machine["logging_configuration"] == {
        "include_execution_data": True,
        "level": "ALL",
        "log_destination": f"${{aws_cloudwatch_log_group.{ref_id(log_group)}.arn}}:*",
    }
    assert machine["tracing_configuration"] == {"enabled": True}
    assert log_group["name"] == f"/aws/vendedlogs/states/mlpipe-{component}-dev"
    assert log_group["kms_key_id"] == f"${{aws_kms_key.{ops_key}.arn}}"
    assert log_group["retention_in_days"] == 30
    role = by_path(dev, "aws_iam_role", f"/workflows/{component}-role")
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert trust == [
        {
            "Sid": "StepFunctionsAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.caller.account_id}"}},
        }
    ]


def _statements(stack, component: str) -> dict[str, dict[str, Any]]:
    policy = policy_of(by_path(stack, "aws_iam_role_policy", f"/workflows/{component}-policy"))
    return {s["Sid"]: s for s in policy["Statement"]}


def test_training_role_passes_only_the_jobs_role_to_sagemaker_and_runs_only_its_jobs(dev):
    statements = _statements(dev, "training")
    jobs_role = ref_id(by_path(dev, "aws_iam_role", "/workflows/jobs-role"))
    assert statements["PassJobsRoleToSageMaker"]["Resource"] == [f"${{aws_iam_role.{jobs_role}.arn}}"]
    assert statements["PassJobsRoleToSageMaker"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert statements["RunTrainingJobs"]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:${data.aws_caller_identity.caller.account_id}:training-job/mlpipe-train-dev-*"
    ]
    assert statements["SyncIntegrationManagedRule"] == {
        "Sid": "SyncIntegrationManagedRule",
        "Effect": "Allow",
        "Action": ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
        "Resource": [
            "arn:aws:events:us-east-1:${data.aws_caller_identity.caller.account_id}:rule/"
            "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
        ],
    }


def test_without_the_gate_the_role_cannot_invoke_the_approval_function_or_update_versions(synthesized):
    staging = synthesized.stack("ml-pipeline-staging")  # protect_stateful false, approval_required not set
    statements = _statements(staging, "training")
    approval = ref_id(by_path(staging, "aws_lambda_function", "/functions/approval/function"))
    assert f"${{aws_lambda_function.{approval}.arn}}" not in statements["InvokeWorkflowFunctions"]["Resource"]
    assert len(statements["InvokeWorkflowFunctions"]["Resource"]) == 3
    assert statements["RegisterModelVersions"]["Action"] == ["dynamodb:PutItem"]
    machine = by_path(staging, "aws_sfn_state_machine", "/workflows/training")
    assert "WaitForApproval" not in machine["definition"]


@pytest.mark.parametrize("stack_name", [DEV, PROD])
def test_with_the_gate_the_role_may_invoke_the_approval_function_and_record_timeouts(synthesized, stack_name):
    stack = synthesized.stack(stack_name)  # dev: approval_required true; prod: protect_stateful
    statements = _statements(stack, "training")
    approval = ref_id(by_path(stack, "aws_lambda_function", "/functions/approval/function"))
    assert f"${{aws_lambda_function.{approval}.arn}}" in statements["InvokeWorkflowFunctions"]["Resource"]
    assert statements["RegisterModelVersions"]["Action"] == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    machine = by_path(stack, "aws_sfn_state_machine", "/workflows/training")
    assert "WaitForApproval" in machine["definition"]


# What each integration needs in the role: (action, the Parameters field naming the resource, or None).
_NEEDS = {
    "arn:aws:states:::lambda:invoke": ("lambda:InvokeFunction", "FunctionName"),
    "arn:aws:states:::lambda:invoke.waitForTaskToken": ("lambda:InvokeFunction", "FunctionName"),
    "arn:aws:states:::sagemaker:createTrainingJob.sync": ("sagemaker:CreateTrainingJob", None),
    "arn:aws:states:::sagemaker:createTransformJob.sync": ("sagemaker:CreateTransformJob", None),
    "arn:aws:states:::sagemaker:createModel": ("sagemaker:CreateModel", None),
    "arn:aws:states:::sagemaker:deleteModel": ("sagemaker:DeleteModel", None),
    "arn:aws:states:::dynamodb:putItem": ("dynamodb:PutItem", None),
    "arn:aws:states:::dynamodb:updateItem": ("dynamodb:UpdateItem", None),
    "arn:aws:states:::dynamodb:getItem": ("dynamodb:GetItem", None),
    "arn:aws:states:::sns:publish": ("sns:Publish", "TopicArn"),
    "arn:aws:states:::aws-sdk:s3:getObject": ("s3:GetObject", None),
}


@pytest.mark.parametrize("stack_name", [DEV, PROD])
@pytest.mark.parametrize("component", ["training", "batch-inference"])
def test_every_task_is_allowed_by_its_role_and_nothing_else_is(synthesized, stack_name, component):
    stack = synthesized.stack(stack_name)
    definition = json.loads(by_path(stack, "aws_sfn_state_machine", f"/workflows/{component}")["definition"])
    statements = _statements(stack, component).values()
    granted = {action for s in statements for action in s["Action"]}
    for name, state in _tasks(definition).items():
        action, field = _NEEDS[state["Resource"]]
        assert action in granted, (name, action)
        if field:
            allowed = [s["Resource"] for s in statements if action in s["Action"]]
            assert any(state["Parameters"][field] in resources for resources in allowed), (name, field)
    # every state machine action the role has is used by a task (or by .sync / logging / tracing)
    needed = {_NEEDS[state["Resource"]][0] for state in _tasks(definition).values()}
    support = {
        "iam:PassRole",
        "events:DescribeRule",
        "events:PutRule",
        "events:PutTargets",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
    }
    unused = {a for a in granted if not a.startswith(("logs:", "xray:"))} - needed - support
    assert unused == set()


def test_jobs_role_reads_inputs_writes_outputs_and_nothing_more(dev):
    statements = {
        s["Sid"]: s for s in policy_of(by_path(dev, "aws_iam_role_policy", "/workflows/jobs-policy"))["Statement"]
    }
    processed = ref_id(by_path(dev, "aws_s3_bucket", "/data-lake/processed/bucket"))
    artifacts = ref_id(by_path(dev, "aws_s3_bucket", "/data-lake/model-artifacts/bucket"))
    assert statements["ReadTrainingAndBatchInput"]["Resource"] == [
        f"${{aws_s3_bucket.{processed}.arn}}/training/*",
        f"${{aws_s3_bucket.{processed}.arn}}/batch/input/*",
    ]
    assert statements["WriteAndReadModelArtifacts"]["Resource"] == [
        f"${{aws_s3_bucket.{artifacts}.arn}}/models/model/*"
    ]
    assert statements["WriteBatchPredictions"]["Resource"] == [
        f"${{aws_s3_bucket.{processed}.arn}}/batch-predictions/*"
    ]
    assert statements["PullImages"]["Resource"] == ["arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"]
    assert statements["GrantMlKeyToAwsResources"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_the_approval_function_may_only_answer_task_tokens_beyond_its_registry(dev):
    policy = policy_of(by_path(dev, "aws_iam_role_policy", "/functions/approval/policy"))
    answer = next(s for s in policy["Statement"] if "states:SendTaskSuccess" in s["Action"])
    # No resource types exist for these actions: "*" is the only valid resource (the allowlisted Sid says why).
    assert answer == {
        "Sid": "AnswerWorkflowTasksNoResourceLevelPermissions",
        "Effect": "Allow",
        "Action": ["states:SendTaskFailure", "states:SendTaskSuccess"],
        "Resource": ["*"],
    }
    names = {m["name"] for m in of_type(dev, "aws_sfn_state_machine").values()}
    assert names == {"mlpipe-training-dev", "mlpipe-batch-inference-dev"}
