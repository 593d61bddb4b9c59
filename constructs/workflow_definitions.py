"""The Step Functions definitions of the pipeline as Python data (ARCHITECTURE §7), and the rules they keep.

Amazon States Language, JSONPath flavour (not JSONata). The construct (constructs/workflows.py) renders these dicts
with ``json.dumps``; the unit tests read them back and check :func:`asl_problems`, and ``make test`` runs statelint
and asl-validator over the synthesized definitions (they catch different things).

Rules every definition keeps (:func:`asl_problems`):
- every ``Next``, ``Default`` and ``Catch`` target exists in its scope, and every state is reachable from ``StartAt``;
- every Task has a Retry (backoff, bounded) and a Catch; ``States.ALL`` is alone and last in each list;
- every Choice has a Default (a value no rule matches would otherwise fail the run with States.NoChoiceMatched).

Retries name the transient errors of each integration only: a data problem (``DataValidationError``), a conditional
write that lost (the registry never overwrites a version) or a failed training job is never retried.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

State = dict[str, Any]
Definition = dict[str, Any]

ALL_ERRORS = "States.ALL"

# Transient errors per integration (Step Functions Developer Guide, "Handling errors in Step Functions workflows":
# the Lambda service exceptions to retry; service integrations report "<Service>.<ExceptionName>").
LAMBDA_TRANSIENT = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
DYNAMODB_TRANSIENT = (
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
)
SAGEMAKER_TRANSIENT = (
    "SageMaker.InternalFailure",
    "SageMaker.ResourceLimitExceededException",
    "SageMaker.ServiceUnavailable",
    "SageMaker.ThrottlingException",
)
SNS_TRANSIENT = ("SNS.InternalErrorException", "SNS.KMSThrottlingException", "SNS.ThrottledException")
S3_TRANSIENT = ("S3.InternalErrorException", "S3.SlowDownException", "S3.ServiceUnavailableException")

# Errors our own tasks raise on purpose (their class names: lambda_src/validate, lambda_src/approval).
DATA_VALIDATION_ERROR = "DataValidationError"
MODEL_REJECTED_ERROR = "ModelRejected"

# Registry item status values (a contract with lambda_src/approval and lambda_src/inference).
STATUS_PENDING = "pending_approval"
STATUS_APPROVED = "approved"
STATUS_REJECTED = "rejected"

# Prefixes in the processed bucket (a contract with lambda_src/preprocess and the batch manifest format).
TRAIN_PREFIX = "training/train/"
VALIDATION_PREFIX = "training/validation/"
BATCH_MANIFEST_PREFIX = "batch/manifests/"
BATCH_INPUT_PREFIX = "batch/input/"
BATCH_OUTPUT_PREFIX = "batch-predictions/"
MODELS_PREFIX = "models/"  # in the model-artifacts bucket: models/<model_name>/<version>/<job>/output/model.tar.gz


# A short unique id: the last group of a version-4 UUID, 12 hex digits (48 random bits). Job names must be unique in
# the account and region for ever and at most 63 characters, so a whole UUID (36) would leave too little for the prefix.
SHORT_ID = "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 4)"
SHORT_ID_LENGTH = 12


def retry(errors: tuple[str, ...], interval: int = 2, attempts: int = 3, backoff: float = 2.0) -> dict[str, Any]:
    """One retrier: exponential backoff (2 s, 4 s, 8 s by default), bounded attempts."""
    return {"ErrorEquals": list(errors), "IntervalSeconds": interval, "MaxAttempts": attempts, "BackoffRate": backoff}


def catch(errors: tuple[str, ...], next_state: str, result_path: str = "$.error") -> dict[str, Any]:
    return {"ErrorEquals": list(errors), "ResultPath": result_path, "Next": next_state}


def task(resource: str, parameters: dict[str, Any], retries: tuple[str, ...], on_error: str, **fields: Any) -> State:
    """A Task with a Retry on ``retries`` and a Catch of everything into ``on_error`` (more catchers go first)."""
    catchers = [*fields.pop("catch_first", []), catch((ALL_ERRORS,), on_error)]
    return {
        "Type": "Task",
        "Resource": resource,
        "Parameters": parameters,
        **fields,
        "Retry": [retry(retries)],
        "Catch": catchers,
    }


def lambda_task(function_arn: str, payload: dict[str, Any], on_error: str, **fields: Any) -> State:
    """Invoke one of our functions (request-response) and keep only its result (``$.Payload``)."""
    return task(
        "arn:aws:states:::lambda:invoke",
        {"FunctionName": function_arn, "Payload": payload},
        LAMBDA_TRANSIENT,
        on_error,
        **fields,
    )


def publish(topic_arn: str, subject: str, message_format: str, *arguments: str, on_error: str, **fields: Any) -> State:
    """Publish a one-line message to the alerts topic (``States.Format`` with JSONPath arguments)."""
    message = f"States.Format('{message_format}', {', '.join(arguments)})" if arguments else None
    parameters: dict[str, Any] = {"TopicArn": topic_arn, "Subject": subject}
    if message:
        parameters["Message.$"] = message
    else:
        parameters["Message"] = message_format
    return task("arn:aws:states:::sns:publish", parameters, SNS_TRANSIENT, on_error, ResultPath=None, **fields)


# --- Training workflow -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingWorkflow:
    """What the training definition names: functions, the job's settings, the registry and the alerts topic."""

    job_prefix: str  # training jobs are named <job_prefix>-<short id> (the role's ARN pattern relies on it)
    validate_arn: str
    preprocess_arn: str
    evaluate_arn: str
    approval_arn: str | None  # None: no approval gate (a registered version is approved at once)
    approval_timeout_seconds: int
    training_image: str
    jobs_role_arn: str
    processed_bucket: str
    artifacts_bucket: str
    ml_key_arn: str
    registry_table: str
    alerts_topic_arn: str
    model_name: str
    metric_name: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    hyperparameters: dict[str, str]


def training_definition(w: TrainingWorkflow) -> Definition:
    """ValidateData → Preprocess → Train (.sync) → Evaluate → Choice → RegisterModel → [approval] → Notify.

    Input: an EventBridge "Object Created" event of the raw bucket (``detail.bucket.name``, ``detail.object.key``):
    the upload is validated and preprocessed first. Any other input (the schedule's ``{"trigger": "schedule"}``, a
    manual ``{}``) retrains on every processed training file so far.
    """
    gate = w.approval_arn is not None
    states: dict[str, State] = {
        "NameVersion": {
            "Type": "Pass",
            "Comment": "The model version: a random id, so every run writes its own prefix and registry item",
            "Parameters": {"version.$": SHORT_ID},
            "ResultPath": "$.run",
            "Next": "HasNewUpload",
        },
        "HasNewUpload": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.detail.object.key", "IsPresent": True, "Next": "ValidateData"}],
            "Default": "Train",
        },
        "ValidateData": lambda_task(
            w.validate_arn,
            # The upload's event as it came (validate and preprocess both decode its percent-encoded key).
            {"detail": {"bucket": {"name.$": "$.detail.bucket.name"}, "object": {"key.$": "$.detail.object.key"}}},
            "NotifyFailure",
            ResultSelector={"rows.$": "$.Payload.rows", "rejected.$": "$.Payload.rejected"},
            ResultPath="$.validation",
            Next="Preprocess",
        ),
        "Preprocess": lambda_task(
            w.preprocess_arn,
            {"detail": {"bucket": {"name.$": "$.detail.bucket.name"}, "object": {"key.$": "$.detail.object.key"}}},
            "NotifyFailure",
            ResultSelector={"status.$": "$.Payload.status", "result.$": "$.Payload"},
            ResultPath="$.preprocess",
            Next="PreprocessSucceeded",
        ),
        "PreprocessSucceeded": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.preprocess.status", "StringEquals": "ok", "Next": "Train"}],
            "Default": "PreprocessRefused",
        },
        "PreprocessRefused": {
            "Type": "Pass",
            "Comment": "preprocess refused the object (too large, gone, or in the processed bucket): report it",
            "Parameters": {"Error": "PreprocessRefused", "Cause.$": "States.JsonToString($.preprocess.result)"},
            "ResultPath": "$.error",
            "Next": "NotifyFailure",
        },
        "Train": task(
            "arn:aws:states:::sagemaker:createTrainingJob.sync",
            _training_job(w),
            SAGEMAKER_TRANSIENT,
            "NotifyFailure",
            ResultSelector={
                "job_name.$": "$.TrainingJobName",
                "model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts",
                "metrics.$": "$.FinalMetricDataList",
            },
            ResultPath="$.training",
            Next="Evaluate",
        ),
        "Evaluate": lambda_task(
            w.evaluate_arn,
            {"TrainingJobName.$": "$.training.job_name", "FinalMetricDataList.$": "$.training.metrics"},
            "NotifyFailure",
            ResultSelector={"passed.$": "$.Payload.passed", "value.$": "$.Payload.value"},
            ResultPath="$.evaluation",
            Next="MetricMeetsThreshold",
        ),
        "MetricMeetsThreshold": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.evaluation.passed", "BooleanEquals": True, "Next": "RegisterModel"}],
            "Default": "NotifyBelowThreshold",
        },
        "NotifyBelowThreshold": publish(
            w.alerts_topic_arn,
            "Model not registered: metric below threshold",
            f"Training run {{}} (job {{}}): {w.metric_name} = {{}} misses the threshold; nothing was registered.",
            "$$.Execution.Name",
            "$.training.job_name",
            "States.JsonToString($.evaluation.value)",
            on_error="NotifyFailure",
            End=True,
        ),
        "RegisterModel": task(
            "arn:aws:states:::dynamodb:putItem",
            _registry_item(w, STATUS_PENDING if gate else STATUS_APPROVED),
            DYNAMODB_TRANSIENT,
            "NotifyFailure",
            ResultPath=None,
            Next="NotifyApprovalNeeded" if gate else "NotifyRegistered",
        ),
        "NotifyRegistered": publish(
            w.alerts_topic_arn,
            "Model registered",
            f"Model {w.model_name} version {{}} is registered and approved (training job {{}}, {w.metric_name} {{}}).",
            "$.run.version",
            "$.training.job_name",
            "States.JsonToString($.evaluation.value)",
            on_error="NotifyFailure",
            End=True,
        ),
        "NotifyFailure": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": w.alerts_topic_arn,
                "Subject": "Training workflow failed",
                "Message.$": "States.Format('Training run {} failed: {}', $$.Execution.Name, "
                "States.JsonToString($.error))",
            },
            "ResultPath": None,
            "Retry": [retry(SNS_TRANSIENT)],
            "Catch": [catch((ALL_ERRORS,), "Failed", "$.notify_error")],
            "Next": "Failed",
        },
        "Failed": {"Type": "Fail", "Error": "TrainingWorkflowFailed", "Cause": "see the alert and the execution"},
    }
    if gate:
        states.update(_approval_states(w))
    return {
        "Comment": f"Train, evaluate and register {w.model_name} (ARCHITECTURE §7)",
        "StartAt": "NameVersion",
        "States": states,
    }


def _training_job(w: TrainingWorkflow) -> dict[str, Any]:
    """CreateTrainingJob: the built-in (or configured) image, the processed CSVs, encrypted volume and output."""

    def channel(name: str, prefix: str) -> dict[str, Any]:
        source = {"S3DataType": "S3Prefix", "S3Uri": f"s3://{w.processed_bucket}/{prefix}"}
        return {
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {"S3DataSource": {**source, "S3DataDistributionType": "FullyReplicated"}},
        }

    return {
        "TrainingJobName.$": f"States.Format('{w.job_prefix}-{{}}', $.run.version)",
        "AlgorithmSpecification": {"TrainingImage": w.training_image, "TrainingInputMode": "File"},
        "RoleArn": w.jobs_role_arn,
        "HyperParameters": dict(sorted(w.hyperparameters.items())),
        "InputDataConfig": [channel("train", TRAIN_PREFIX), channel("validation", VALIDATION_PREFIX)],
        "OutputDataConfig": {
            "S3OutputPath.$": f"States.Format('s3://{w.artifacts_bucket}/{MODELS_PREFIX}{w.model_name}/{{}}/', "
            "$.run.version)",
            "KmsKeyId": w.ml_key_arn,
        },
        "ResourceConfig": {
            "InstanceType": w.instance_type,
            "InstanceCount": w.instance_count,
            "VolumeSizeInGB": w.volume_size_gb,
            "VolumeKmsKeyId": w.ml_key_arn,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": w.max_runtime_seconds},
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }


def _registry_item(w: TrainingWorkflow, status: str) -> dict[str, Any]:
    """PutItem of the new version; the condition makes a re-run unable to overwrite a version."""
    item: dict[str, Any] = {
        "model_name": {"S": w.model_name},
        "version": {"S.$": "$.run.version"},
        "status": {"S": status},
        "registered_at": {"S.$": "$$.State.EnteredTime"},
        "model_data_url": {"S.$": "$.training.model_data_url"},
        "training_job": {"S.$": "$.training.job_name"},
        "execution_arn": {"S.$": "$$.Execution.Id"},
        "metric_name": {"S": w.metric_name},
        "metric_value": {"S.$": "States.JsonToString($.evaluation.value)"},
    }
    if status == STATUS_APPROVED:
        item["decided_by"] = {"S": "approval gate off"}
        item["decided_at"] = {"S.$": "$$.State.EnteredTime"}
    return {
        "TableName": w.registry_table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(version)",
    }


def _approval_states(w: TrainingWorkflow) -> dict[str, State]:
    """A registered version waits for a reviewer (POST /approvals); a timeout or a rejection ends it unpromoted."""
    assert w.approval_arn is not None
    key = {"model_name": {"S": w.model_name}, "version": {"S.$": "$.run.version"}}
    return {
        "NotifyApprovalNeeded": publish(
            w.alerts_topic_arn,
            "Model version awaits approval",
            f"Model {w.model_name} version {{}} passed evaluation ({w.metric_name} {{}}) and awaits a reviewer: "
            "POST /approvals with model_name, version and decision (approve or reject).",
            "$.run.version",
            "States.JsonToString($.evaluation.value)",
            on_error="NotifyFailure",
            Next="WaitForApproval",
        ),
        "WaitForApproval": task(
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
            {
                "FunctionName": w.approval_arn,
                "Payload": {
                    "action": "await_decision",
                    "task_token.$": "$$.Task.Token",
                    "model_name": w.model_name,
                    "version.$": "$.run.version",
                },
            },
            LAMBDA_TRANSIENT,
            "NotifyFailure",
            TimeoutSeconds=w.approval_timeout_seconds,
            ResultPath="$.approval",
            Next="NotifyRegistered",
            catch_first=[
                catch((MODEL_REJECTED_ERROR,), "NotifyRejected"),
                catch(("States.Timeout",), "RecordTimeout"),
            ],
        ),
        "RecordTimeout": task(
            "arn:aws:states:::dynamodb:updateItem",
            {
                "TableName": w.registry_table,
                "Key": key,
                "UpdateExpression": "SET #status = :rejected, decided_by = :by, decided_at = :at REMOVE task_token",
                "ConditionExpression": "#status = :pending",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":rejected": {"S": STATUS_REJECTED},
                    ":pending": {"S": STATUS_PENDING},
                    ":by": {"S": "approval timeout"},
                    ":at": {"S.$": "$$.State.EnteredTime"},
                },
            },
            DYNAMODB_TRANSIENT,
            "NotifyFailure",
            ResultPath=None,
            Next="NotifyRejected",
        ),
        "NotifyRejected": publish(
            w.alerts_topic_arn,
            "Model version rejected",
            f"Model {w.model_name} version {{}} was rejected ({{}}); it will not be served.",
            "$.run.version",
            "$.error.Error",
            on_error="NotifyFailure",
            End=True,
        ),
    }


# --- Batch inference workflow ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchWorkflow:
    """What the batch definition names: the registry, the manifest bucket, the job's settings, the topic."""

    job_prefix: str  # models and transform jobs are named <job_prefix>-<short id>
    registry_table: str
    processed_bucket: str
    data_key_arn: str  # encrypts the predictions written to the processed bucket
    ml_key_arn: str  # encrypts the transform instances' volumes
    image: str
    jobs_role_arn: str
    alerts_topic_arn: str
    model_name: str
    instance_type: str
    instance_count: int
    max_concurrency: int
    max_payload_mb: int


def batch_definition(w: BatchWorkflow) -> Definition:
    """LookupModel → (approved?) → ReadManifest → CreateModel → Map(Transform .sync) → DeleteModel → Notify.

    Input: ``{"model_version": "<registry version>", "manifest_key": "batch/manifests/<name>.json"}``; the manifest
    (in the processed bucket) is ``{"batches": ["batch/input/<file>.csv", ...]}``. Results land under
    ``batch-predictions/<run id>/`` of the processed bucket, one ``<file>.csv.out`` per batch.
    """
    model_name = "States.Format('" + w.job_prefix + "-{}', $.run.id)"
    states: dict[str, State] = {
        "NameRun": {
            "Type": "Pass",
            "Parameters": {"id.$": SHORT_ID},
            "ResultPath": "$.run",
            "Next": "LookupModel",
        },
        "LookupModel": task(
            "arn:aws:states:::dynamodb:getItem",
            {
                "TableName": w.registry_table,
                "Key": {"model_name": {"S": w.model_name}, "version": {"S.$": "$.model_version"}},
                "ConsistentRead": True,
            },
            DYNAMODB_TRANSIENT,
            "NotifyFailure",
            ResultPath="$.registry",
            Next="ModelIsApproved",
        ),
        "ModelIsApproved": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.registry.Item.status.S", "IsPresent": True},
                        {"Variable": "$.registry.Item.status.S", "StringEquals": STATUS_APPROVED},
                    ],
                    "Next": "ReadManifest",
                }
            ],
            "Default": "ModelNotApproved",
        },
        "ModelNotApproved": {
            "Type": "Pass",
            "Parameters": {
                "Error": "ModelNotApproved",
                "Cause.$": f"States.Format('{w.model_name} version {{}} is not an approved registry version', "
                "$.model_version)",
            },
            "ResultPath": "$.error",
            "Next": "NotifyFailure",
        },
        "ReadManifest": task(
            "arn:aws:states:::aws-sdk:s3:getObject",
            {"Bucket": w.processed_bucket, "Key.$": "$.manifest_key"},
            S3_TRANSIENT,
            "NotifyFailure",
            ResultSelector={"content.$": "States.StringToJson($.Body)"},
            ResultPath="$.manifest",
            Next="CreateModel",
        ),
        "CreateModel": task(
            "arn:aws:states:::sagemaker:createModel",
            {
                "ModelName.$": model_name,
                "PrimaryContainer": {"Image": w.image, "ModelDataUrl.$": "$.registry.Item.model_data_url.S"},
                "ExecutionRoleArn": w.jobs_role_arn,
                "EnableNetworkIsolation": True,
            },
            SAGEMAKER_TRANSIENT,
            "NotifyFailure",
            ResultPath=None,
            Next="ScoreBatches",
        ),
        "ScoreBatches": {
            "Type": "Map",
            "ItemsPath": "$.manifest.content.batches",
            "MaxConcurrency": w.max_concurrency,
            "Parameters": {"input_key.$": "$$.Map.Item.Value", "run_id.$": "$.run.id", "model_name.$": model_name},
            "Iterator": {"StartAt": "Transform", "States": _transform_states(w)},
            "ResultPath": "$.batches",
            # No Retry on the Map: it would score every batch again; each Transform retries its own transient errors.
            "Catch": [catch((ALL_ERRORS,), "DeleteModelAfterFailure")],
            "Next": "DeleteModel",
        },
        "DeleteModel": task(
            "arn:aws:states:::sagemaker:deleteModel",
            {"ModelName.$": model_name},
            SAGEMAKER_TRANSIENT,
            "NotifyFailure",
            ResultPath=None,
            Next="NotifyBatchDone",
        ),
        "NotifyBatchDone": publish(
            w.alerts_topic_arn,
            "Batch scoring finished",
            f"Batch run {{}} scored {{}} batches with {w.model_name} version {{}}; results under "
            f"s3://{w.processed_bucket}/{BATCH_OUTPUT_PREFIX}{{}}/",
            "$$.Execution.Name",
            "States.ArrayLength($.batches)",
            "$.model_version",
            "$.run.id",
            on_error="NotifyFailure",
            End=True,
        ),
        "DeleteModelAfterFailure": {
            **task(
                "arn:aws:states:::sagemaker:deleteModel",
                {"ModelName.$": model_name},
                SAGEMAKER_TRANSIENT,
                "NotifyFailure",
                ResultPath=None,
                Next="NotifyFailure",
            ),
            # Keep the original error for the alert; a failed clean-up reports its own.
            "Catch": [catch((ALL_ERRORS,), "NotifyFailure", "$.cleanup_error")],
        },
        "NotifyFailure": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": w.alerts_topic_arn,
                "Subject": "Batch scoring failed",
                "Message.$": "States.Format('Batch run {} failed: {}', $$.Execution.Name, "
                "States.JsonToString($.error))",
            },
            "ResultPath": None,
            "Retry": [retry(SNS_TRANSIENT)],
            "Catch": [catch((ALL_ERRORS,), "Failed", "$.notify_error")],
            "Next": "Failed",
        },
        "Failed": {"Type": "Fail", "Error": "BatchWorkflowFailed", "Cause": "see the alert and the execution"},
    }
    return {
        "Comment": f"Score batches with a registered {w.model_name} version (ARCHITECTURE §7)",
        "StartAt": "NameRun",
        "States": states,
    }


def _transform_states(w: BatchWorkflow) -> dict[str, State]:
    """One batch: a transform job (.sync) named <prefix>-<short id>, CSV lines in, one prediction per line out."""
    return {
        "Transform": task(
            "arn:aws:states:::sagemaker:createTransformJob.sync",
            {
                "TransformJobName.$": f"States.Format('{w.job_prefix}-{{}}', {SHORT_ID})",
                "ModelName.$": "$.model_name",
                "BatchStrategy": "MultiRecord",
                "MaxPayloadInMB": w.max_payload_mb,
                "TransformInput": {
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": f"States.Format('s3://{w.processed_bucket}/{{}}', $.input_key)",
                        }
                    },
                },
                "TransformOutput": {
                    "S3OutputPath.$": f"States.Format('s3://{w.processed_bucket}/{BATCH_OUTPUT_PREFIX}{{}}/', "
                    "$.run_id)",
                    "AssembleWith": "Line",
                    "KmsKeyId": w.data_key_arn,
                },
                "TransformResources": {
                    "InstanceType": w.instance_type,
                    "InstanceCount": w.instance_count,
                    "VolumeKmsKeyId": w.ml_key_arn,
                },
            },
            SAGEMAKER_TRANSIENT,
            "BatchFailed",
            ResultSelector={"job.$": "$.TransformJobName", "status.$": "$.TransformJobStatus"},
            End=True,
        ),
        "BatchFailed": {"Type": "Fail", "Error": "BatchFailed", "Cause": "a transform job failed"},
    }


# --- The rules -------------------------------------------------------------------------------------------------------


def _targets(state: State) -> Iterator[tuple[str, str]]:
    """(field, target state) of every transition out of ``state``."""
    if "Next" in state:
        yield "Next", state["Next"]
    if "Default" in state:
        yield "Default", state["Default"]
    for i, choice in enumerate(state.get("Choices", [])):
        yield f"Choices[{i}].Next", choice.get("Next", "")
    for i, catcher in enumerate(state.get("Catch", [])):
        yield f"Catch[{i}].Next", catcher.get("Next", "")


def _error_list_problems(where: str, field: str, entries: list[dict[str, Any]]) -> list[str]:
    problems = []
    for i, entry in enumerate(entries):
        errors = entry.get("ErrorEquals", [])
        if not errors:
            problems.append(f"{where}: {field}[{i}] has an empty ErrorEquals")
        if ALL_ERRORS in errors and (len(errors) > 1 or i != len(entries) - 1):
            problems.append(f"{where}: {field}[{i}]: States.ALL must be alone and in the last {field} entry")
    return problems


def _state_problems(where: str, state: State) -> list[str]:
    problems = []
    kind = state.get("Type")
    if kind == "Task":
        if not state.get("Retry"):
            problems.append(f"{where}: a Task needs a Retry")
        if not state.get("Catch"):
            problems.append(f"{where}: a Task needs a Catch")
    if kind == "Choice" and "Default" not in state:
        problems.append(f"{where}: a Choice needs a Default")
    if kind not in ("Choice", "Succeed", "Fail") and "Next" not in state and not state.get("End"):
        problems.append(f"{where}: needs Next or End")
    for field in ("Retry", "Catch"):
        problems += _error_list_problems(where, field, state.get(field, []))
    for retrier in state.get("Retry", []):
        if retrier.get("BackoffRate", 1) <= 1 or not 1 <= retrier.get("MaxAttempts", 3) <= 10:
            problems.append(f"{where}: every Retry backs off (BackoffRate > 1) with 1-10 attempts")
    return problems


def asl_problems(definition: Definition, scope: str = "") -> list[str]:
    """Every broken rule of the module docstring in ``definition`` (and its Map iterators), as readable lines."""
    states: dict[str, State] = definition.get("States", {})
    start = definition.get("StartAt")
    problems = [] if start in states else [f"{scope}StartAt {start!r} is not a state"]
    for name, state in states.items():
        where = f"{scope}{name}"
        problems += _state_problems(where, state)
        problems += [
            f"{where}: {field} names {target!r}, which is not a state here"
            for field, target in _targets(state)
            if target not in states
        ]
        for branch_field in ("Iterator", "ItemProcessor"):
            if branch_field in state:
                problems += asl_problems(state[branch_field], f"{where}.{branch_field}.")
    reachable: set[str] = set()
    todo: list[Any] = [start]
    while todo:
        current = todo.pop()
        if current in reachable or current not in states:
            continue
        reachable.add(current)
        todo += [target for _, target in _targets(states[current])]
    problems += [f"{scope}{name}: not reachable from StartAt" for name in states if name not in reachable]
    return problems


def task_resources(definition: Definition) -> list[str]:
    """Every Task's Resource, Map iterators included (the role must allow exactly these integrations)."""
    found = []
    for state in definition.get("States", {}).values():
        if state.get("Type") == "Task":
            found.append(state["Resource"])
        for branch_field in ("Iterator", "ItemProcessor"):
            if branch_field in state:
                found += task_resources(state[branch_field])
    return found
