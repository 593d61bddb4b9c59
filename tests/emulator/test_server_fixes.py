"""The emulator's workflow and monitoring fixes (tests/emulator/server.py, fixes 11-25), with boto3 only (no Terraform).

A state machine on moto's ASL interpreter invokes our kind of Lambda function (its real code, in a subprocess), trains
with `sagemaker:createTrainingJob.sync` (metrics from the emulator's control endpoint, model.tar.gz in S3), chooses
on the metric, registers the model and runs `createTransformJob.sync` in a Map (two batches, MaxConcurrency 2).
Also: the Step Functions calls the provider makes (validation, versions, logging/tracing as sent), aws-sdk tasks,
ListModels' name filter, Athena DeleteNamedQuery, and a workflow in another account acting in it. And the monitoring
resources' calls: budget subscribers, tags and updates, an endpoint's deployment configuration, subscriptions that
wait for confirmation (nothing delivered to them), asynchronous invocation settings that are replaced. And
InvokeEndpoint answering like a deployed XGBoost endpoint: a score per CSV row, the A/B split by current weights.
Everything lives under the `sfx-` prefix and is removed afterwards: the emulator is shared with the round, whose
destroy step asserts an empty account.
"""

import base64
import http.server
import io
import json
import threading
import time
import urllib.request
import uuid
import zipfile
from typing import ClassVar

import pytest

pytestmark = pytest.mark.emulator

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "333333333333"  # not the second-account round's 222222222222
REGION = "us-east-1"
PREFIX = "sfx"
BUCKET = f"{PREFIX}-data-{ACCOUNT}"
ROLE_NAME = f"{PREFIX}-role"
FUNCTION = f"{PREFIX}-doubler"
SLOW_FUNCTION = f"{PREFIX}-sleeper"
MACHINE = f"{PREFIX}-training"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
EXECUTION_TIMEOUT = 30  # seconds per execution; every one here finishes in a few

HANDLER_SOURCE = """
import os

import boto3


class BadInputError(Exception):
    pass


def handler(event, context):
    print(f"handling {sorted(event)}")
    if event.get("fail"):
        raise BadInputError(f"refusing {sorted(event)}")
    if "write" in event:  # proves the handler's own AWS calls reach the emulator
        boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key=event["write"], Body=b"written")
        return {"written": event["write"]}
    if event.get("whoami"):
        return {"account": boto3.client("sts").get_caller_identity()["Account"]}
    if "sleep" in event:
        import time

        time.sleep(event["sleep"])
    return {
        "doubled": event["x"] * 2,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "has_request_id": len(context.aws_request_id) == 36,
        "time_left": 0 < context.get_remaining_time_in_millis() <= 10_000,
        "greeting": os.environ.get("GREETING"),
        "region": os.environ.get("AWS_REGION"),
        "endpoint_is_emulator": os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"),
        "leaked": sorted(k for k in ("HOME", "PYTHONPATH", "VIRTUAL_ENV", "AWS_PROFILE") if k in os.environ),
        "config_files": [os.environ.get("AWS_CONFIG_FILE"), os.environ.get("AWS_SHARED_CREDENTIALS_FILE")],
    }
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("doubler.py", source)
    return buffer.getvalue()


def _definition(function_arn: str, role_arn: str) -> dict:
    """JSONPath ASL: Lambda (Catch on the handler's exception) -> train (.sync) -> Choice -> model -> Map transform."""
    return {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn, "Payload.$": "$.input"},
                "ResultSelector": {"doubled.$": "$.Payload.doubled"},
                "ResultPath": "$.lambda",
                "Catch": [{"ErrorEquals": ["BadInputError"], "ResultPath": "$.error", "Next": "InputRejected"}],
                "Next": "Train",
            },
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    "TrainingJobName.$": "$$.Execution.Name",
                    "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                    "RoleArn": role_arn,
                    "InputDataConfig": [
                        {
                            "ChannelName": "train",
                            "DataSource": {
                                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}
                            },
                        }
                    ],
                    "OutputDataConfig": {"S3OutputPath.$": "$.output"},
                    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
                },
                "ResultSelector": {
                    "auc.$": "$.FinalMetricDataList[0].Value",
                    "metric.$": "$.FinalMetricDataList[0].MetricName",
                    "model.$": "$.ModelArtifacts.S3ModelArtifacts",
                    "status.$": "$.TrainingJobStatus",
                },
                "ResultPath": "$.training",
                "Catch": [
                    {
                        "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                        "ResultPath": "$.error",
                        "Next": "TrainingFailed",
                    }
                ],
                "Next": "GoodEnough",
            },
            "GoodEnough": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.training.auc", "NumericGreaterThanEquals": 0.85, "Next": "Register"}],
                "Default": "BelowThreshold",
            },
            "Register": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName.$": "$$.Execution.Name",
                    "ExecutionRoleArn": role_arn,
                    "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl.$": "$.training.model"},
                },
                "ResultSelector": {"arn.$": "$.ModelArn"},
                "ResultPath": "$.model",
                "Next": "BatchTransform",
            },
            "BatchTransform": {
                "Type": "Map",
                "ItemsPath": "$.batches",
                "MaxConcurrency": 2,
                "ItemSelector": {
                    "batch.$": "$$.Map.Item.Value",
                    "index.$": "$$.Map.Item.Index",
                    "name.$": "$$.Execution.Name",
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Transform",
                    "States": {
                        "Transform": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                            "Parameters": {
                                "TransformJobName.$": "States.Format('{}-{}', $.name, $.index)",
                                "ModelName.$": "$.name",
                                "TransformInput": {
                                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.batch"}},
                                    "ContentType": "text/csv",
                                    "SplitType": "Line",
                                },
                                "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/scored/"},
                                "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
                            },
                            "ResultSelector": {"job.$": "$.TransformJobName", "status.$": "$.TransformJobStatus"},
                            "End": True,
                        }
                    },
                },
                "ResultPath": "$.transforms",
                "Next": "Deregister",
            },
            "Deregister": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:deleteModel",
                "Parameters": {"ModelName.$": "$$.Execution.Name"},
                "ResultPath": None,
                "End": True,
            },
            "BelowThreshold": {"Type": "Fail", "Error": "ModelBelowThreshold", "Cause": "auc below 0.85"},
            "InputRejected": {"Type": "Pass", "End": True},
            "TrainingFailed": {"Type": "Pass", "End": True},
        },
    }


def _wait(sfn, execution_arn: str) -> dict:
    deadline = time.monotonic() + EXECUTION_TIMEOUT
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still running after {EXECUTION_TIMEOUT} s")
        time.sleep(0.2)


def _why(sfn, execution: dict) -> str:
    """The failure and the states the execution went through, for an assertion message."""
    events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return f"{execution.get('error')}: {execution.get('cause')} after {entered}"


def _run(sfn, machine_arn: str, document: dict) -> tuple[str, dict]:
    name = f"{PREFIX}-{uuid.uuid4().hex[:12]}"
    arn = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(document))["executionArn"]
    return name, _wait(sfn, arn)


def _create_role(iam, name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com", "sagemaker.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _create_function(awslambda, name: str, role_arn: str, timeout: int = 10, variables: dict | None = None) -> str:
    return awslambda.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="doubler.handler",
        Code={"ZipFile": _zip(HANDLER_SOURCE)},
        Timeout=timeout,
        MemorySize=256,
        Environment={"Variables": variables or {}},
    )["FunctionArn"]


def _empty_bucket(s3, bucket: str) -> None:
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def world(emulator):
    """Role, bucket with training data and two batches, the functions and the state machine; removed afterwards."""
    iam, s3, awslambda, sfn = (emulator.client(s) for s in ("iam", "s3", "lambda", "stepfunctions"))
    role_arn = _create_role(iam, ROLE_NAME)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="train/data.csv", Body=b"1,0.1\n0,0.2\n")
    s3.put_object(Bucket=BUCKET, Key="batches/one/part-a.csv", Body=b"0.1\n0.2\n0.3\n")
    s3.put_object(Bucket=BUCKET, Key="batches/two/part-b.csv", Body=b"0.4\n\n0.5\n")
    function_arn = _create_function(awslambda, FUNCTION, role_arn, variables={"GREETING": "hello", "BUCKET": BUCKET})
    _create_function(awslambda, SLOW_FUNCTION, role_arn, timeout=1)
    definition = json.dumps(_definition(function_arn, role_arn))
    machine_arn = sfn.create_state_machine(name=MACHINE, definition=definition, roleArn=role_arn)["stateMachineArn"]
    try:
        yield {"role_arn": role_arn, "function_arn": function_arn, "machine_arn": machine_arn, "definition": definition}
    finally:
        emulator.set_training_metrics(None)
        sfn.delete_state_machine(stateMachineArn=machine_arn)
        for name in (FUNCTION, SLOW_FUNCTION):
            awslambda.delete_function(FunctionName=name)
        sagemaker = emulator.client("sagemaker")
        for model in sagemaker.list_models(NameContains=PREFIX)["Models"]:
            sagemaker.delete_model(ModelName=model["ModelName"])
        _empty_bucket(s3, BUCKET)
        iam.delete_role(RoleName=ROLE_NAME)


def _workflow_input(**extra) -> dict:
    return {
        "input": {"x": 21},
        "output": f"s3://{BUCKET}/models",
        "batches": [f"s3://{BUCKET}/batches/one/", f"s3://{BUCKET}/batches/two/"],
        **extra,
    }


class TestLambdaInvokeRunsTheDeployedCode:
    def test_the_handler_result_comes_back(self, emulator, world):
        response = emulator.client("lambda").invoke(FunctionName=FUNCTION, Payload=json.dumps({"x": 4}))
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read()) == {
            "doubled": 8,
            "function_name": FUNCTION,
            "memory_limit_in_mb": 256,
            "arn": world["function_arn"],
            "has_request_id": True,
            "time_left": True,
            "greeting": "hello",
            "region": REGION,
            "endpoint_is_emulator": True,
            "leaked": [],
            "config_files": ["/dev/null", "/dev/null"],
        }

    def test_a_raised_exception_is_an_unhandled_function_error(self, emulator, world):
        response = emulator.client("lambda").invoke(FunctionName=FUNCTION, Payload=b'{"fail": true}')
        assert response["FunctionError"] == "Unhandled"
        assert json.loads(response["Payload"].read()) == {
            "errorMessage": "refusing ['fail']",
            "errorType": "BadInputError",
            "stackTrace": [],
        }

    def test_the_timeout_is_enforced(self, emulator, world):
        started = time.monotonic()
        response = emulator.client("lambda").invoke(FunctionName=SLOW_FUNCTION, Payload=b'{"x": 1, "sleep": 30}')
        assert time.monotonic() - started < 10
        assert response["FunctionError"] == "Unhandled"
        error = json.loads(response["Payload"].read())
        assert error["errorType"] == "Sandbox.Timedout"
        assert error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")

    def test_an_event_invocation_runs_in_the_background(self, emulator, world):
        s3 = emulator.client("s3")
        response = emulator.client("lambda").invoke(
            FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"write": "async/marker"})
        )
        assert response["StatusCode"] == 202
        deadline = time.monotonic() + 20
        while "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="async/marker"):
            assert time.monotonic() < deadline, "the background invocation never wrote its object"
            time.sleep(0.2)
        assert s3.get_object(Bucket=BUCKET, Key="async/marker")["Body"].read() == b"written"

    def test_the_log_tail_holds_the_handler_output(self, emulator, world):
        response = emulator.client("lambda").invoke(FunctionName=FUNCTION, Payload=b'{"x": 1}', LogType="Tail")
        assert base64.b64decode(response["LogResult"]).decode() == "handling ['x']\n"


class TestWorkflowExecutions:
    def test_the_whole_workflow_trains_chooses_and_scores_both_batches(self, emulator, world):
        emulator.set_training_metrics({"validation:auc": 0.91})
        sfn, s3 = emulator.client("stepfunctions"), emulator.client("s3")
        name, execution = _run(sfn, world["machine_arn"], _workflow_input())
        assert execution["status"] == "SUCCEEDED", _why(sfn, execution)
        model_uri = f"s3://{BUCKET}/models/{name}/output/model.tar.gz"
        assert json.loads(execution["output"]) == {
            **_workflow_input(),
            "lambda": {"doubled": 42},
            "training": {"auc": 0.91, "metric": "validation:auc", "model": model_uri, "status": "Completed"},
            "model": {"arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{name}"},
            "transforms": [{"job": f"{name}-0", "status": "Completed"}, {"job": f"{name}-1", "status": "Completed"}],
        }
        job = emulator.client("sagemaker").describe_training_job(TrainingJobName=name)
        assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("validation:auc", 0.91)]
        assert job["ModelArtifacts"]["S3ModelArtifacts"] == model_uri
        archive = s3.get_object(Bucket=BUCKET, Key=f"models/{name}/output/model.tar.gz")["Body"].read()
        assert archive[:2] == b"\x1f\x8b"  # gzip
        scored = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in ("scored/part-a.csv.out",)}
        assert scored == {"scored/part-a.csv.out": b"0.5\n0.5\n0.5\n"}
        assert s3.get_object(Bucket=BUCKET, Key="scored/part-b.csv.out")["Body"].read() == b"0.5\n0.5\n"
        assert emulator.client("sagemaker").list_models(NameContains=name)["Models"] == []  # Deregister ran

    def test_a_metric_below_the_threshold_fails_the_execution(self, emulator, world):
        emulator.set_training_metrics({"validation:auc": 0.5})
        _, execution = _run(emulator.client("stepfunctions"), world["machine_arn"], _workflow_input())
        assert (execution["status"], execution["error"], execution["cause"]) == (
            "FAILED",
            "ModelBelowThreshold",
            "auc below 0.85",
        )

    def test_the_handlers_exception_is_caught_by_its_class_name(self, emulator, world):
        document = _workflow_input(input={"fail": True})
        _, execution = _run(emulator.client("stepfunctions"), world["machine_arn"], document)
        assert execution["status"] == "SUCCEEDED", _why(emulator.client("stepfunctions"), execution)
        output = json.loads(execution["output"])
        assert output["error"]["Error"] == "BadInputError"
        assert json.loads(output["error"]["Cause"]) == {
            "errorMessage": "refusing ['fail']",
            "errorType": "BadInputError",
            "stackTrace": [],
        }

    def test_a_failed_training_job_fails_the_task_with_its_reason(self, emulator, world):
        document = _workflow_input(output="s3://sfx-no-such-bucket/models")
        _, execution = _run(emulator.client("stepfunctions"), world["machine_arn"], document)
        assert execution["status"] == "SUCCEEDED", _why(emulator.client("stepfunctions"), execution)
        assert json.loads(execution["output"])["error"] == {
            "Error": "SageMaker.AmazonSageMakerException",
            "Cause": "ClientError: The specified bucket does not exist: sfx-no-such-bucket",
        }

    def test_an_uncaught_task_failure_fails_the_execution(self, emulator, world):
        sfn = emulator.client("stepfunctions")
        definition = {
            "StartAt": "Double",
            "States": {
                "Double": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": FUNCTION, "Payload": {"fail": True}},
                    "End": True,
                }
            },
        }
        arn = sfn.create_state_machine(
            name=f"{PREFIX}-uncaught", definition=json.dumps(definition), roleArn=world["role_arn"]
        )["stateMachineArn"]
        try:
            _, execution = _run(sfn, arn, {})
        finally:
            sfn.delete_state_machine(stateMachineArn=arn)
        assert (execution["status"], execution["error"]) == ("FAILED", "BadInputError")


def test_aws_sdk_tasks_see_bodies_as_text_and_members_as_on_aws(emulator, world):
    sfn, s3 = emulator.client("stepfunctions"), emulator.client("s3")
    s3.put_object(Bucket=BUCKET, Key="manifests/run.json", Body=b'{"batches": ["a.csv", "b.csv"]}')
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": BUCKET, "Key": "manifests/run.json"},
                "ResultSelector": {"content.$": "States.StringToJson($.Body)"},
                "ResultPath": "$.manifest",
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
                "Parameters": {"StateMachineArn.$": "$$.StateMachine.Id"},
                "ResultSelector": {"name.$": "$.Name", "created.$": "$.CreationDate"},
                "ResultPath": "$.machine",
                "End": True,
            },
        },
    }
    arn = sfn.create_state_machine(name=f"{PREFIX}-sdk", definition=json.dumps(definition), roleArn=world["role_arn"])[
        "stateMachineArn"
    ]
    try:
        _, execution = _run(sfn, arn, {})
        assert execution["status"] == "SUCCEEDED", _why(sfn, execution)
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)
    output = json.loads(execution["output"])
    assert output["manifest"] == {"content": {"batches": ["a.csv", "b.csv"]}}
    assert output["machine"]["name"] == f"{PREFIX}-sdk"
    assert output["machine"]["created"].startswith("20")  # an ISO 8601 string, not a datetime object


def test_list_models_filters_by_name(emulator, world):
    sagemaker = emulator.client("sagemaker")
    names = [f"{PREFIX}-listed-a", f"{PREFIX}-listed-b", f"{PREFIX}-other"]
    for name in names:
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=world["role_arn"], PrimaryContainer={"Image": IMAGE})
    try:
        listed = sagemaker.list_models(NameContains=f"{PREFIX}-listed")["Models"]
        by_name = sagemaker.list_models(NameContains=f"{PREFIX}-listed", SortBy="Name", SortOrder="Ascending")
    finally:
        for name in names:
            sagemaker.delete_model(ModelName=name)
    assert [m["ModelName"] for m in listed] == [f"{PREFIX}-listed-b", f"{PREFIX}-listed-a"]  # newest first
    assert [m["ModelName"] for m in by_name["Models"]] == [f"{PREFIX}-listed-a", f"{PREFIX}-listed-b"]


def test_athena_named_queries_can_be_deleted(emulator):
    athena = emulator.client("athena")
    query_id = athena.create_named_query(Name=f"{PREFIX}-q", Database="db", QueryString="SELECT 1")["NamedQueryId"]
    assert athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]["Name"] == f"{PREFIX}-q"
    athena.delete_named_query(NamedQueryId=query_id)
    with pytest.raises(athena.exceptions.InvalidRequestException, match="does not exist"):
        athena.get_named_query(NamedQueryId=query_id)


class TestStateMachineApis:
    def test_validate_accepts_the_workflow(self, emulator, world):
        sfn = emulator.client("stepfunctions")
        answer = sfn.validate_state_machine_definition(definition=world["definition"], type="STANDARD")
        assert (answer["result"], answer["diagnostics"]) == ("OK", [])

    @pytest.mark.parametrize(
        ("definition", "code"),
        [
            ('{"StartAt": "A", "States": {', "INVALID_JSON_DESCRIPTION"),
            ('{"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": true}}}', "SCHEMA_VALIDATION_FAILED"),
            (
                '{"StartAt": "T", "States": {"T": {"Type": "Task", "End": true,'
                ' "Resource": "arn:aws:states:::sagemaker:createTrainingJob.waitForTaskToken"}}}',
                "SCHEMA_VALIDATION_FAILED",
            ),
            ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}', "MISSING_TRANSITION_TARGET"),
            (
                '{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "X",'
                ' "States": {"I": {"Type": "Pass", "End": true}}}}}}',
                "MISSING_TRANSITION_TARGET",
            ),
        ],
    )
    def test_validate_refuses_what_the_interpreter_cannot_run(self, emulator, definition, code):
        answer = emulator.client("stepfunctions").validate_state_machine_definition(definition=definition)
        assert answer["result"] == "FAIL"
        assert [(d["severity"], d["code"]) for d in answer["diagnostics"]] == [("ERROR", code)]
        assert answer["diagnostics"][0]["message"]

    def test_a_missing_transition_target_is_named_and_refused_on_create(self, emulator, world):
        sfn = emulator.client("stepfunctions")
        definition = json.loads(world["definition"])
        definition["States"]["Train"]["Catch"][0]["Next"] = "Nowhere"
        answer = sfn.validate_state_machine_definition(definition=json.dumps(definition))
        assert answer["diagnostics"] == [
            {
                "severity": "ERROR",
                "code": "MISSING_TRANSITION_TARGET",
                "message": "Missing 'Next' target: Nowhere at /States/Train/Catch[0]/Next",
            }
        ]
        with pytest.raises(sfn.exceptions.InvalidDefinition, match="MISSING_TRANSITION_TARGET"):
            sfn.create_state_machine(
                name=f"{PREFIX}-broken", definition=json.dumps(definition), roleArn=world["role_arn"]
            )
        bogus = '{"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": true}}}'
        with pytest.raises(sfn.exceptions.InvalidDefinition):  # the parser's own refusal, now with its error code
            sfn.create_state_machine(name=f"{PREFIX}-broken", definition=bogus, roleArn=world["role_arn"])

    def test_validate_applies_the_express_rules(self, emulator, world):
        sfn = emulator.client("stepfunctions")
        answer = sfn.validate_state_machine_definition(definition=world["definition"], type="EXPRESS")
        assert answer["result"] == "FAIL"
        assert answer["diagnostics"][0]["code"] == "SCHEMA_VALIDATION_FAILED"

    def test_versions_are_listed_newest_first(self, emulator, world):
        sfn = emulator.client("stepfunctions")
        assert sfn.list_state_machine_versions(stateMachineArn=world["machine_arn"])["stateMachineVersions"] == []
        definition = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
        arn = sfn.create_state_machine(
            name=f"{PREFIX}-versioned", definition=definition, roleArn=world["role_arn"], publish=True
        )["stateMachineArn"]
        try:
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, publish=True)
            versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
        finally:
            sfn.delete_state_machine(stateMachineArn=arn)
        assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:2", f"{arn}:1"]

    def test_describe_returns_logging_and_tracing_as_sent_and_updated(self, emulator, world):
        sfn = emulator.client("stepfunctions")
        logging = {
            "level": "ALL",
            "includeExecutionData": True,
            "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfx/x:*"}}
            ],
        }
        arn = sfn.create_state_machine(
            name=f"{PREFIX}-logged",
            definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
            roleArn=world["role_arn"],
            type="STANDARD",
            loggingConfiguration=logging,
            tracingConfiguration={"enabled": True},
            publish=False,
        )["stateMachineArn"]
        try:
            described = sfn.describe_state_machine(stateMachineArn=arn)
            # What the provider sends to turn tracing and execution data off: Go's SDK leaves false booleans out.
            quieter = {"level": "ERROR", "destinations": logging["destinations"]}
            sfn.update_state_machine(stateMachineArn=arn, tracingConfiguration={}, loggingConfiguration=quieter)
            updated = sfn.describe_state_machine(stateMachineArn=arn)
        finally:
            sfn.delete_state_machine(stateMachineArn=arn)
        assert described["loggingConfiguration"] == logging
        assert described["tracingConfiguration"] == {"enabled": True}
        assert updated["loggingConfiguration"] == {**quieter, "includeExecutionData": False}
        assert updated["tracingConfiguration"] == {"enabled": False}


def test_workflows_and_functions_in_another_account_act_in_it(emulator):
    """Task clients and handlers of another account act as their role in that account, not in the default one."""
    credentials = emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/{PREFIX}-deployer", RoleSessionName="sfx"
    )["Credentials"]
    other = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    iam, awslambda, sfn = (emulator.client(s, other) for s in ("iam", "lambda", "stepfunctions"))
    role_arn = _create_role(iam, ROLE_NAME)
    assert role_arn.startswith(f"arn:aws:iam::{OTHER_ACCOUNT}:")
    function_arn = _create_function(awslambda, FUNCTION, role_arn)
    definition = {
        "StartAt": "WhoAmI",
        "States": {
            "WhoAmI": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": FUNCTION, "Payload": {"whoami": True}},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    machine_arn = sfn.create_state_machine(name=MACHINE, definition=json.dumps(definition), roleArn=role_arn)[
        "stateMachineArn"
    ]
    try:
        assert function_arn.startswith(f"arn:aws:lambda:{REGION}:{OTHER_ACCOUNT}:")
        _, execution = _run(sfn, machine_arn, {})
        assert execution["status"] == "SUCCEEDED", _why(sfn, execution)
        assert json.loads(execution["output"]) == {"account": OTHER_ACCOUNT}
    finally:
        sfn.delete_state_machine(stateMachineArn=machine_arn)
        awslambda.delete_function(FunctionName=FUNCTION)
        iam.delete_role(RoleName=ROLE_NAME)


def _notification(kind: str, percent: float) -> dict:
    return {"NotificationType": kind, "ComparisonOperator": "GREATER_THAN", "Threshold": percent}


def test_budget_subscribers_tags_and_updates(emulator):
    budgets = emulator.client("budgets")
    name, topic = f"{PREFIX}-monthly", f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-alerts"
    arn = f"arn:aws:budgets::{ACCOUNT}:budget/{name}"
    budget = {
        "BudgetName": name,
        "BudgetType": "COST",
        "BudgetLimit": {"Amount": "500.00", "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "CostFilters": {"TagKeyValue": ["user:Environment$dev"]},
    }
    subscribers = [{"SubscriptionType": "SNS", "Address": topic}]
    budgets.create_budget(
        AccountId=ACCOUNT,
        Budget=budget,
        NotificationsWithSubscribers=[
            {"Notification": {**_notification("ACTUAL", 80), "ThresholdType": "PERCENTAGE"}, "Subscribers": subscribers}
        ],
        ResourceTags=[{"Key": "Environment", "Value": "dev"}],
    )
    try:
        # The provider asks with the notification as DescribeNotificationsForBudget answered it.
        listed = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=name)["Notifications"]
        found = budgets.describe_subscribers_for_notification(
            AccountId=ACCOUNT, BudgetName=name, Notification=listed[0]
        )["Subscribers"]
        with pytest.raises(budgets.exceptions.NotFoundException):
            budgets.describe_subscribers_for_notification(
                AccountId=ACCOUNT, BudgetName=name, Notification=_notification("FORECASTED", 100)
            )
        created_tags = budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]
        budgets.tag_resource(ResourceARN=arn, ResourceTags=[{"Key": "Team", "Value": "ml"}])
        budgets.untag_resource(ResourceARN=arn, ResourceTagKeys=["Environment"])
        tags = budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]
        budgets.update_budget(AccountId=ACCOUNT, NewBudget={**budget, "BudgetLimit": {"Amount": "750", "Unit": "USD"}})
        updated = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]
    finally:
        budgets.delete_budget(AccountId=ACCOUNT, BudgetName=name)
    assert found == subscribers
    assert created_tags == [{"Key": "Environment", "Value": "dev"}]
    assert tags == [{"Key": "Team", "Value": "ml"}]
    assert updated["BudgetLimit"] == {"Amount": "750", "Unit": "USD"}
    assert updated["CostFilters"] == {"TagKeyValue": ["user:Environment$dev"]}
    assert "TimePeriod" in updated  # kept from the budget as created
    with pytest.raises(budgets.exceptions.NotFoundException):
        budgets.list_tags_for_resource(ResourceARN=arn)  # tags go with their budget


def _deployment_config(kind: str) -> dict:
    routing = {"Type": kind, "WaitIntervalInSeconds": 300}
    if kind == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": 10}
    else:
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": 25}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": f"{PREFIX}-endpoint-5xx"}]},
    }


def test_an_endpoint_keeps_its_deployment_configuration_and_can_be_updated(emulator, world):
    sagemaker = emulator.client("sagemaker")
    model, endpoint = f"{PREFIX}-served", f"{PREFIX}-endpoint"
    configs = [f"{PREFIX}-epc-1", f"{PREFIX}-epc-2"]
    sagemaker.create_model(ModelName=model, ExecutionRoleArn=world["role_arn"], PrimaryContainer={"Image": IMAGE})
    for config, count in zip(configs, (1, 2), strict=True):
        variant = {"VariantName": "A", "ModelName": model, "InitialInstanceCount": count, "InstanceType": "ml.m5.large"}
        sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant])
    try:
        sagemaker.create_endpoint(
            EndpointName=endpoint, EndpointConfigName=configs[0], DeploymentConfig=_deployment_config("CANARY")
        )
        created = sagemaker.describe_endpoint(EndpointName=endpoint)
        sagemaker.update_endpoint(
            EndpointName=endpoint, EndpointConfigName=configs[1], DeploymentConfig=_deployment_config("LINEAR")
        )
        updated = sagemaker.describe_endpoint(EndpointName=endpoint)
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=configs[0], RetainDeploymentConfig=True)
        retained = sagemaker.describe_endpoint(EndpointName=endpoint)
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=configs[1])
        dropped = sagemaker.describe_endpoint(EndpointName=endpoint)
        with pytest.raises(sagemaker.exceptions.ClientError, match="Could not find endpoint configuration"):
            sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"{PREFIX}-no-such-config")
    finally:
        sagemaker.delete_endpoint(EndpointName=endpoint)
        for config in configs:
            sagemaker.delete_endpoint_config(EndpointConfigName=config)
        sagemaker.delete_model(ModelName=model)
    assert created["LastDeploymentConfig"] == _deployment_config("CANARY")
    assert (updated["EndpointConfigName"], updated["EndpointStatus"]) == (configs[1], "InService")
    assert updated["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert updated["LastDeploymentConfig"] == _deployment_config("LINEAR")
    assert retained["LastDeploymentConfig"] == _deployment_config("LINEAR")
    assert "LastDeploymentConfig" not in dropped


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []

    def do_POST(self):
        self.received.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_subscriptions_that_need_confirmation_stay_pending_and_get_nothing(emulator):
    sns, sqs = emulator.client("sns"), emulator.client("sqs")
    topic = sns.create_topic(Name=f"{PREFIX}-alerts")["TopicArn"]
    url = sqs.create_queue(QueueName=f"{PREFIX}-inbox")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    listener = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)  # an http endpoint delivery would reach
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        hook = sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=f"http://127.0.0.1:{listener.server_port}/hook",
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        unnamed = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")["SubscriptionArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"})
        attributes = sns.get_subscription_attributes(SubscriptionArn=hook)["Attributes"]
        sns.publish(TopicArn=topic, Message="budget at 80%")
        delivered = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        with pytest.raises(sns.exceptions.InvalidParameterException, match="pending confirmation"):
            sns.unsubscribe(SubscriptionArn=hook)
    finally:
        listener.shutdown()
        sns.delete_topic(TopicArn=topic)  # takes its subscriptions, pending or not
        sqs.delete_queue(QueueUrl=url)
    assert (attributes["PendingConfirmation"], attributes["ConfirmationWasAuthenticated"]) == ("true", "false")
    assert unnamed == "pending confirmation"  # without ReturnSubscriptionArn
    assert [m["Body"] for m in delivered] == ["budget at 80%"]  # a confirmed (same-account SQS) subscription gets it
    assert _Recorder.received == []
    assert not [s for s in sns.list_subscriptions()["Subscriptions"] if s["TopicArn"] == topic]


def test_put_function_event_invoke_config_replaces_and_update_merges(emulator, world):
    awslambda = emulator.client("lambda")
    failures = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}-failures"
    settings = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
    try:
        awslambda.put_function_event_invoke_config(
            FunctionName=FUNCTION,
            MaximumRetryAttempts=2,
            MaximumEventAgeInSeconds=21600,
            DestinationConfig={"OnFailure": {"Destination": failures}},
        )
        awslambda.put_function_event_invoke_config(FunctionName=FUNCTION, MaximumRetryAttempts=1)
        replaced = awslambda.get_function_event_invoke_config(FunctionName=FUNCTION)
        awslambda.update_function_event_invoke_config(FunctionName=FUNCTION, MaximumEventAgeInSeconds=3600)
        merged = awslambda.get_function_event_invoke_config(FunctionName=FUNCTION)
        listed = awslambda.list_function_event_invoke_configs(FunctionName=FUNCTION)["FunctionEventInvokeConfigs"]
    finally:
        awslambda.delete_function_event_invoke_config(FunctionName=FUNCTION)
    assert {k: replaced[k] for k in settings if k in replaced} == {"MaximumRetryAttempts": 1}
    assert {k: merged[k] for k in settings if k in merged} == dict(
        MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600
    )
    assert len(listed) == 1


@pytest.fixture
def ab_endpoint(emulator, world):
    """An endpoint of two variants of one model, A at weight 80 and B at 20; removed afterwards."""
    sagemaker = emulator.client("sagemaker")
    model, config, endpoint = f"{PREFIX}-scorer", f"{PREFIX}-ab-config", f"{PREFIX}-ab"
    sagemaker.create_model(ModelName=model, ExecutionRoleArn=world["role_arn"], PrimaryContainer={"Image": IMAGE})
    variants = [
        {
            "VariantName": name,
            "ModelName": model,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": weight,
        }
        for name, weight in (("A", 80.0), ("B", 20.0))
    ]
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants)
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    try:
        yield endpoint
    finally:
        sagemaker.delete_endpoint(EndpointName=endpoint)
        sagemaker.delete_endpoint_config(EndpointConfigName=config)
        sagemaker.delete_model(ModelName=model)


def _invoke(runtime, endpoint: str, body: str, accept: str = "application/json", **extra) -> tuple[str, str, str]:
    """(answer, its content type, the variant that answered)."""
    response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept=accept, Body=body, **extra)
    return response["Body"].read().decode(), response["ContentType"], response["InvokedProductionVariant"]


def test_an_endpoint_scores_each_csv_row_in_order_as_json_or_csv(emulator, ab_endpoint):
    runtime = emulator.client("sagemaker-runtime")
    both, json_type, variant = _invoke(runtime, ab_endpoint, "1.5,2.0,3.0\n-4.0,0.5,1.0")
    first, _, _ = _invoke(runtime, ab_endpoint, "1.5,2.0,3.0")
    second, _, _ = _invoke(runtime, ab_endpoint, "-4.0,0.5,1.0\n")
    as_csv, csv_type, _ = _invoke(runtime, ab_endpoint, "1.5,2.0,3.0\n-4.0,0.5,1.0", accept="text/csv")
    again, _, _ = _invoke(runtime, ab_endpoint, "1.5,2.0,3.0\n-4.0,0.5,1.0")
    scores = json.loads(both)
    assert (json_type, csv_type) == ("application/json", "text/csv")
    assert variant in {"A", "B"}
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert scores == json.loads(first) + json.loads(second)  # row order, each row scored on its own
    assert scores[0] != scores[1]
    assert [float(s) for s in as_csv.split(",")] == scores  # one comma-separated line
    assert json.loads(again) == scores  # deterministic


def test_traffic_splits_by_the_current_variant_weights(emulator, ab_endpoint):
    runtime, sagemaker = emulator.client("sagemaker-runtime"), emulator.client("sagemaker")
    bodies = [f"{i},{i % 7}.5,{i * 3 % 11}" for i in range(200)]
    before = [_invoke(runtime, ab_endpoint, body)[2] for body in bodies]
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ab_endpoint, DesiredWeightsAndCapacities=[{"VariantName": "A", "DesiredWeight": 0.0}]
    )
    weights = {
        v["VariantName"]: v["CurrentWeight"]
        for v in sagemaker.describe_endpoint(EndpointName=ab_endpoint)["ProductionVariants"]
    }
    after = [_invoke(runtime, ab_endpoint, body)[2] for body in bodies]
    assert set(before) == {"A", "B"}
    assert 0.65 <= before.count("A") / len(before) <= 0.95
    assert weights == {"A": 0.0, "B": 20.0}
    assert set(after) == {"B"}


def test_target_variant_answers_from_that_variant(emulator, ab_endpoint):
    runtime = emulator.client("sagemaker-runtime")
    chosen = {_invoke(runtime, ab_endpoint, f"{i},1", TargetVariant="B")[2] for i in range(20)}
    with pytest.raises(runtime.exceptions.ValidationError, match="Variant C not found"):
        _invoke(runtime, ab_endpoint, "1,1", TargetVariant="C")
    assert chosen == {"B"}


def test_invoking_a_missing_endpoint_or_a_bad_row_fails_as_on_aws(emulator, ab_endpoint):
    runtime = emulator.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ValidationError) as missing:
        _invoke(runtime, f"{PREFIX}-no-such-endpoint", "1,2")
    with pytest.raises(runtime.exceptions.ModelError) as bad_row:
        _invoke(runtime, ab_endpoint, "1,2\nabc,3")
    assert (
        missing.value.response["Error"]["Message"]
        == f"Endpoint {PREFIX}-no-such-endpoint of account {ACCOUNT} not found."
    )
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = bad_row.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["Error"]["Message"].startswith(
        'Received client error (400) from primary with message "Unable to evaluate'
    )
    assert (
        f"/aws/sagemaker/Endpoints/{ab_endpoint} in account {ACCOUNT} for more information."
        in error["Error"]["Message"]
    )
    assert error["OriginalStatusCode"] == 400


def test_a_configured_results_queue_still_answers_first(emulator, ab_endpoint):
    runtime = emulator.client("sagemaker-runtime")
    queued = {"Body": "queued", "ContentType": "text/plain", "InvokedProductionVariant": "Q", "CustomAttributes": "c"}
    request = urllib.request.Request(  # noqa: S310 -- http://127.0.0.1:<port>, the emulator
        f"{emulator.endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"account_id": ACCOUNT, "region": REGION, "results": [queued]}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 -- as above
    first = _invoke(runtime, ab_endpoint, "7,7")
    repeated = _invoke(runtime, ab_endpoint, "7,7")  # moto keeps a queued answer for the same request
    scored = _invoke(runtime, ab_endpoint, "8,8")  # queue empty: the emulated model again
    assert first == repeated == ("queued", "text/plain", "Q")
    assert scored[1] == "application/json" and scored[2] in {"A", "B"}
    assert 0 <= json.loads(scored[0])[0] <= 1
