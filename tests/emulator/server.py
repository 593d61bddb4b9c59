"""The local AWS emulator: moto's server plus the fixes the Terraform AWS provider needs from it.

Run as ``python -m tests.emulator.server --port N`` (the emulator fixture does, on 127.0.0.1). Every fix below is a
place where moto is missing an API call the provider makes, drops/mangles a field so that a clean plan would show a
diff, or cannot run what our workflows do (executions, our Lambda code, SageMaker jobs that leave results). Each is
listed in the README's emulator section; a fix is never a reason to ignore a diff in our own code.

Control endpoints (the emulator's own, not AWS's), served in front of moto:
  POST /_emulator/training-metrics  {"validation:auc": 0.91}  metrics every later training job reports (fix 14);
  GET shows them, DELETE restores the default {"validation:auc": 0.9}.
"""

import argparse
import atexit
import base64
import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
import zipfile
from functools import cache
from pathlib import Path
from types import SimpleNamespace

# --- Fix 6: IAM managed policies --------------------------------------------------------------------------------------
# Roles attach AWS managed policies (e.g. AmazonAPIGatewayPushToCloudWatchLogs); moto knows them only when asked to
# load them. Must be set before moto's IAM backend is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

import botocore
import botocore.session
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto.apigateway import responses as apigateway_responses
from moto.applicationautoscaling import responses as autoscaling_responses
from moto.athena import responses as athena_responses
from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import LambdaClientError
from moto.budgets import exceptions as budgets_exceptions
from moto.budgets import responses as budgets_responses
from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.core.utils import unix_time as moto_unix_time
from moto.core.utils import utcnow as moto_utcnow
from moto.iam import models as iam_models
from moto.kinesis import responses as kinesis_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.sagemaker import exceptions as sagemaker_exceptions
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker import responses as sagemaker_responses
from moto.sagemakerruntime import responses as sagemakerruntime_responses
from moto.sns import exceptions as sns_exceptions
from moto.sns import models as sns_models
from moto.sns import responses as sns_responses
from moto.stepfunctions import responses as sfn_responses
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.parser.api import HistoryEventType, InvalidDefinition, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.static_analyser.express_static_analyser import ExpressStaticAnalyser
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.asl.utils import json_path as sfn_json_path
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

# --- Fix 1: S3 PutBucketLogging ---------------------------------------------------------------------------------
# moto checks the target bucket's policy for a statement admitting logging.s3.amazonaws.com, but crashes (HTTP 500,
# which the provider retries for minutes) on any statement whose Principal is the string "*" -- and every bucket of
# ours has one: the TLS-only deny. Only dict principals can name the logging service, so skip the others.
_original_log_check = s3_models.FakeBucket._log_permissions_enabled_policy


def _log_permissions_enabled_policy(target_bucket, target_prefix):
    policy = target_bucket.policy
    if not policy:
        return False
    document = json.loads(policy.decode())
    document["Statement"] = [s for s in document.get("Statement", []) if isinstance(s.get("Principal"), dict)]
    # Check a view of the bucket with the filtered policy; the bucket itself is never modified (threaded server).
    filtered = json.dumps(document).encode()
    view = SimpleNamespace(policy=filtered, partition=target_bucket.partition, name=target_bucket.name)
    return _original_log_check(view, target_prefix)


s3_models.FakeBucket._log_permissions_enabled_policy = staticmethod(_log_permissions_enabled_policy)


# --- Fix 2: S3 GetBucketNotificationConfiguration --------------------------------------------------------------------
# moto stores EventBridgeConfiguration but leaves it out of the Get response, so every bucket with EventBridge
# notifications would plan `eventbridge = false -> true` forever. Add the (empty) element back.
_original_get_notification = s3_responses.S3Response.get_bucket_notification


def _get_bucket_notification(self):
    response = _original_get_notification(self)
    config = self.backend.get_bucket_notification_configuration(self.bucket_name)
    if config is None or config.event_bridge is None:
        return response
    status, headers, body = response
    body = body.decode() if isinstance(body, bytes) else body
    element = "<EventBridgeConfiguration></EventBridgeConfiguration>"
    if "</NotificationConfiguration>" in body:
        body = body.replace("</NotificationConfiguration>", element + "</NotificationConfiguration>")
    else:  # moto answered with an empty configuration
        body = f'<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{element}</NotificationConfiguration>'
    return status, headers, body


s3_responses.S3Response.get_bucket_notification = _get_bucket_notification


# --- Fix 3: S3 bucket-policy evaluation -------------------------------------------------------------------------------
# moto evaluates bucket policies on object requests but has no request context (TLS, encryption headers) and treats
# every condition operator it does not know (Bool, Null, StringNotEquals) as true: our conditional Deny statements
# (TLS-only, wrong KMS key) would then deny every object request. Evaluate only unconditional statements; the
# conditional ones are asserted on the synthesized policy by the unit tests.
def _get_permission(self, action, resource):
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode())
    document["Statement"] = [s for s in document.get("Statement", []) if "Condition" not in s]
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)


s3_models.FakeBucket.get_permission = _get_permission


# --- Fix 4: Kinesis CreateStream tags -------------------------------------------------------------------------------
# The provider passes default_tags in CreateStream's Tags parameter; moto ignores it, so every re-plan would add the
# tags again. Apply them as AddTagsToStream would.
_original_create_stream = kinesis_responses.KinesisResponse.create_stream


def _create_stream(self):
    result = _original_create_stream(self)
    tags = self._get_param("Tags")
    if tags:
        self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
    return result


kinesis_responses.KinesisResponse.create_stream = _create_stream


# --- Fix 5: Lambda DeadLetterConfig -----------------------------------------------------------------------------------
# moto accepts DeadLetterConfig on CreateFunction/UpdateFunctionConfiguration but never returns it, so every function
# with an async DLQ would plan `dead_letter_config` again on each re-plan. Keep it and return it.
_original_lambda_init = lambda_models.LambdaFunction.__init__
_original_get_configuration = lambda_models.LambdaFunction.get_configuration
_original_update_configuration = lambda_models.LambdaFunction.update_configuration


def _lambda_init(self, account_id, spec, *args, **kwargs):
    _original_lambda_init(self, account_id, spec, *args, **kwargs)
    self.dead_letter_config = spec.get("DeadLetterConfig")


def _lambda_get_configuration(self, *args, **kwargs):
    config = _original_get_configuration(self, *args, **kwargs)
    if getattr(self, "dead_letter_config", None):
        config["DeadLetterConfig"] = self.dead_letter_config
    return config


def _lambda_update_configuration(self, config_updates):
    if "DeadLetterConfig" in config_updates:
        self.dead_letter_config = config_updates["DeadLetterConfig"]
    return _original_update_configuration(self, config_updates)


lambda_models.LambdaFunction.__init__ = _lambda_init
lambda_models.LambdaFunction.get_configuration = _lambda_get_configuration
lambda_models.LambdaFunction.update_configuration = _lambda_update_configuration


# --- Fix 7: API Gateway PutIntegration cacheKeyParameters -------------------------------------------------------------
# moto's model stores and returns cacheKeyParameters, but its PutIntegration handler never reads them, so the cached
# GET /predict integration would plan `cache_key_parameters` again on every re-plan.
_original_put_integration = apigateway_responses.APIGatewayResponse.put_integration


def _put_integration(self):
    status, headers, body = _original_put_integration(self)
    cache_keys = self._get_param("cacheKeyParameters")
    if cache_keys:
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.cache_key_parameters = cache_keys
        body = json.dumps(integration.to_json())
    return status, headers, body


apigateway_responses.APIGatewayResponse.put_integration = _put_integration


# --- Fix 8: SageMaker CreateModel ------------------------------------------------------------------------------------
# moto ignores EnableNetworkIsolation (always answers false) and answers VpcConfig {} for a model without a VPC. Both
# force a replacement of every model on re-plan, and would make the phase flip look destructive. Store what was sent.
_original_create_model = sagemaker_responses.SageMakerResponse.create_model


def _create_model(self):
    result = _original_create_model(self)
    model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))
    model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
    if not self._get_param("VpcConfig"):
        model.vpc_config = None
    return result


sagemaker_responses.SageMakerResponse.create_model = _create_model


# --- Fix 9: Application Auto Scaling tags ----------------------------------------------------------------------------
# The provider reads and writes scalable-target tags (ListTagsForResource, TagResource, UntagResource); moto has none
# of these calls and answers HTTP 500, which the provider retries until it times out.
_scalable_target_tags: dict[str, dict[str, str]] = {}
_original_register_scalable_target = autoscaling_responses.ApplicationAutoScalingResponse.register_scalable_target


def _register_scalable_target(self):
    body = _original_register_scalable_target(self)
    arn = json.loads(body)["ScalableTargetARN"]
    _scalable_target_tags.setdefault(arn, {}).update(self._get_param("Tags") or {})
    return body


def _list_tags_for_resource(self):
    return json.dumps({"Tags": _scalable_target_tags.get(self._get_param("ResourceARN"), {})})


def _tag_resource(self):
    _scalable_target_tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
    return json.dumps({})


def _untag_resource(self):
    tags = _scalable_target_tags.get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return json.dumps({})


autoscaling_responses.ApplicationAutoScalingResponse.register_scalable_target = _register_scalable_target
autoscaling_responses.ApplicationAutoScalingResponse.list_tags_for_resource = _list_tags_for_resource
autoscaling_responses.ApplicationAutoScalingResponse.tag_resource = _tag_resource
autoscaling_responses.ApplicationAutoScalingResponse.untag_resource = _untag_resource


# --- Fix 10: several accounts --------------------------------------------------------------------------------------
# MOTO_ACCOUNT_ID pins *every* request to one account, whatever credentials it carries, so an assumed role in another
# account would act in the first one. Instead the wrapper sets only the account of credentials moto does not know
# (the emulator's own keys): credentials from sts:AssumeRole then act in the role's account, as on AWS.
def default_account(account_id: str) -> None:
    iam_models.DEFAULT_ACCOUNT_ID = account_id


# --- Fix 11: Step Functions executes workflows --------------------------------------------------------------------
# moto's ASL interpreter (off by default) really runs executions; the emulator fixture turns it on through
# /moto-api/config before anything is created. Its Task states call the services back through boto3 on
# localhost:$MOTO_PORT (main() sets it) with the keys "ak"/"sk", which act in the default account (fix 10): a state
# machine in another account would drive the default account's resources. A task whose role lives in another account
# therefore gets that role's credentials (an in-process sts:AssumeRole), so it acts in the role's account, as on AWS.
_original_boto_client_for = sfn_boto_client.boto_client_for


def _arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


@cache
def _role_credentials(role_arn: str, region: str, session_name: str) -> dict[str, str]:
    account = _arn_account(role_arn) or iam_models.DEFAULT_ACCOUNT_ID
    role = sts_backends[account][get_partition(region)].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy=None,
        duration=43200,
        external_id=None,
    )
    return {
        "AWS_ACCESS_KEY_ID": role.access_key_id,
        "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
        "AWS_SESSION_TOKEN": role.session_token,
    }


def _boto_client_for(region: str, service: str, state_credentials=None):
    role_arn = getattr(state_credentials, "role_arn", None)
    account = _arn_account(role_arn)
    client = _original_boto_client_for(region=region, service=service, state_credentials=state_credentials)
    if account is None or account == iam_models.DEFAULT_ACCOUNT_ID:
        return client
    credentials = _role_credentials(role_arn, region, "states-task")
    return sfn_boto_client.boto3.client(
        service,
        region_name=region,
        endpoint_url=client.meta.endpoint_url,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        config=client.meta.config,
    )


def _replace_everywhere(name: str, original, replacement) -> None:
    # The parser's modules import their helpers by name; importing the parser (above) has loaded all of them.
    for module in list(sys.modules.values()):
        if getattr(module, name, None) is original:
            setattr(module, name, replacement)


_replace_everywhere("boto_client_for", _original_boto_client_for, _boto_client_for)


# --- Fix 12: Step Functions ValidateStateMachineDefinition, ListStateMachineVersions -------------------------------
# The provider validates every changed definition at plan time (ValidateStateMachineDefinition) and lists the versions
# on every read (ListStateMachineVersions, for state_machine_version_arn); moto has neither (HTTP 500, retried until
# the plan fails). The definition is really parsed, with the ANTLR parser CreateStateMachine uses, plus the EXPRESS
# rules for EXPRESS machines, so a definition the interpreter cannot run fails the plan as it would fail on AWS. The
# parser does not check transitions: a StartAt/Next/Default/Catch target that is not a state of its scope is reported
# (MISSING_TRANSITION_TARGET) and, as on AWS, also refused by CreateStateMachine/UpdateStateMachine.
def _diagnostic(code: str, message: str) -> dict[str, str]:
    return {"severity": "ERROR", "code": code, "message": message}


def _transitions(state: dict):
    yield "Next", state.get("Next")
    yield "Default", state.get("Default")
    for index, choice in enumerate(state.get("Choices") or []):
        yield f"Choices[{index}]/Next", choice.get("Next") if isinstance(choice, dict) else None
    for index, catcher in enumerate(state.get("Catch") or []):
        yield f"Catch[{index}]/Next", catcher.get("Next") if isinstance(catcher, dict) else None


def _nested_scopes(state: dict):
    for index, branch in enumerate(state.get("Branches") or []):
        yield f"Branches[{index}]", branch
    for field in ("Iterator", "ItemProcessor"):
        if isinstance(state.get(field), dict):
            yield field, state[field]


def missing_transition_targets(scope: dict, where: str = "") -> list[dict[str, str]]:
    states = scope.get("States") if isinstance(scope.get("States"), dict) else {}
    problems = []
    if scope.get("StartAt") not in states:
        problems.append(f"Missing 'StartAt' target: {scope.get('StartAt')} at {where}/StartAt")
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        problems += [
            f"Missing '{field.rsplit('/', 1)[-1]}' target: {target} at {where}/States/{name}/{field}"
            for field, target in _transitions(state)
            if target is not None and target not in states
        ]
        for field, nested in _nested_scopes(state):
            problems += [d["message"] for d in missing_transition_targets(nested, f"{where}/States/{name}/{field}")]
    return [_diagnostic("MISSING_TRANSITION_TARGET", problem) for problem in problems]


def definition_diagnostics(definition: str, machine_type: str = "STANDARD") -> list[dict[str, str]]:
    try:
        json.loads(definition)
    except (TypeError, ValueError) as error:
        return [_diagnostic("INVALID_JSON_DESCRIPTION", str(error))]
    try:
        if machine_type == "EXPRESS":
            ExpressStaticAnalyser().analyse(definition)
        else:
            AmazonStateLanguageParser.parse(definition)
    except Exception as error:  # the parser's preprocessor raises whatever its components raise
        return [_diagnostic("SCHEMA_VALIDATION_FAILED", str(error) or type(error).__name__)]
    return missing_transition_targets(json.loads(definition))


def _validate_state_machine_definition(self):
    diagnostics = definition_diagnostics(self._get_param("definition"), self._get_param("type") or "STANDARD")
    return ActionResult({"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False})


def _list_state_machine_versions(self):
    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    versions = sorted(getattr(machine, "versions", {}).values(), key=lambda v: v.version, reverse=True)
    listed = [{"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in versions]
    return ActionResult({"stateMachineVersions": listed})


class InvalidDefinitionError(AWSError):
    # The parser's own InvalidDefinition sets `code`, which moto's AWSError ignores: it went out with no error code.
    TYPE = "InvalidDefinition"
    STATUS = 400


_original_validate_definition = StepFunctionsParserBackend._validate_definition


def _validate_definition(definition: str) -> None:
    try:
        _original_validate_definition(definition=definition)
    except InvalidDefinition as invalid:
        raise InvalidDefinitionError(invalid.message) from None
    problems = missing_transition_targets(json.loads(definition))
    if problems:
        raise InvalidDefinitionError("; ".join(f"{p['code']}: {p['message']}" for p in problems))


sfn_responses.StepFunctionResponse.validate_state_machine_definition = _validate_state_machine_definition
sfn_responses.StepFunctionResponse.list_state_machine_versions = _list_state_machine_versions
StepFunctionsParserBackend._validate_definition = staticmethod(_validate_definition)


# --- Fix 13: Step Functions SageMaker integration (request-response and .sync) ------------------------------------
# moto lists "sagemaker" among the services it does not integrate: it only forwards the call and supports only
# .waitForTaskToken, which AWS does not offer for SageMaker, so `createTrainingJob.sync` cannot even be created. This
# service makes the call on the emulator and, for .sync, polls DescribeTrainingJob/DescribeTransformJob until the job
# is terminal: Completed -> the Describe response is the task's output (datetimes rendered like the parser's other
# services), Failed/Stopped -> the task fails with SageMaker.AmazonSageMakerException and the FailureReason as cause.
# Parameters are filtered to the API shape's members (Step Functions refuses others); .waitForTaskToken and .sync on
# an action without a job are refused when the definition is parsed, as on AWS.
_SAGEMAKER_JOBS = {  # action -> (Describe call, name parameter, status field)
    "createtrainingjob": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "createtransformjob": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}
_SAGEMAKER_TERMINAL = {"Completed", "Failed", "Stopped"}
_SAGEMAKER_ERROR = "SageMaker.AmazonSageMakerException"
_SAGEMAKER_MODELED_ERRORS = {  # the Java SDK's exception class names, which Step Functions reports
    "ResourceInUse": "SageMaker.ResourceInUseException",
    "ResourceLimitExceeded": "SageMaker.ResourceLimitExceededException",
    "ResourceNotFound": "SageMaker.ResourceNotFoundException",
}


@cache
def _sagemaker_parameters(api_action: str) -> frozenset[str] | None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    operation = api_action[:1].upper() + api_action[1:]
    if operation not in model.operation_names:
        return None
    return frozenset(model.operation_model(operation).input_shape.members)


class StateTaskServiceSageMaker(StateTaskServiceCallback):
    def __init__(self):
        # WaitForTaskToken only so that the callback machinery .sync relies on is set up; refused below.
        super().__init__(supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})

    def _get_supported_parameters(self):
        return _sagemaker_parameters(self.resource.api_action)

    def _validate_service_integration_is_supported(self):
        super()._validate_service_integration_is_supported()
        condition = self.resource.condition
        if condition is None or (
            condition == ResourceCondition.Sync and self.resource.api_action.lower() in _SAGEMAKER_JOBS
        ):
            return
        raise ValueError(
            f"The resource provided {self.resource.resource_arn} not recognized. The value is not a valid resource "
            "ARN, or the resource is not available in this region."
        )

    def _failure(self, env, error: str, cause: str) -> FailureEvent:
        details = TaskFailedEventDetails(
            error=error, cause=cause, resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type()
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),
        )

    def _from_error(self, env, ex):
        if not isinstance(ex, ClientError):
            return super()._from_error(env=env, ex=ex)
        code = ex.response["Error"]["Code"]
        metadata = ex.response["ResponseMetadata"]
        cause = (
            f"{ex.response['Error']['Message']} (Service: AmazonSageMaker; Status Code: {metadata['HTTPStatusCode']}; "
            f"Error Code: {code}; Request ID: {metadata.get('RequestId')}; Proxy: null)"
        )
        return self._failure(env, _SAGEMAKER_MODELED_ERRORS.get(code, _SAGEMAKER_ERROR), cause)

    def _client(self, resource_runtime_part, state_credentials):
        return sfn_boto_client.boto_client_for(
            region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials
        )

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        client = self._client(resource_runtime_part, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters) or {}
        response.pop("ResponseMetadata", None)
        env.stack.append(json.loads(to_json_str(response)))  # datetimes as ISO 8601 strings

    def _build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        describe, name_parameter, status_field = _SAGEMAKER_JOBS[self.resource.api_action.lower()]
        env.stack.pop()  # the Create response; the job is followed by name
        client = self._client(resource_runtime_part, state_credentials)
        name = normalised_parameters[name_parameter]

        def resolve():
            job = getattr(client, describe)(**{name_parameter: name})
            job.pop("ResponseMetadata", None)
            status = job[status_field]
            if status not in _SAGEMAKER_TERMINAL:
                return None
            if status == "Completed":
                return json.loads(to_json_str(job))  # datetimes as ISO 8601 strings, as the parser renders them
            cause = job.get("FailureReason") or f"{name_parameter[:-4]} {name} ended with status {status}"
            raise FailureEventException(self._failure(env, _SAGEMAKER_ERROR, cause))

        return resolve


_original_state_task_service_for = state_task_factory.state_task_service_for


def _state_task_service_for(service_name: str):
    if service_name == "sagemaker":
        return StateTaskServiceSageMaker()
    return _original_state_task_service_for(service_name=service_name)


state_task_factory.state_task_service_for = _state_task_service_for


# --- Fix 14: SageMaker jobs leave results -------------------------------------------------------------------------
# moto's training job completes at once but writes no model and reports only a fake "train:progress" metric, and its
# transform job writes nothing, so a workflow could neither choose on a metric nor find its results. Emulated here:
# * training writes a small model.tar.gz to <S3OutputPath>/<TrainingJobName>/output/model.tar.gz (SageMaker's layout;
#   ModelArtifacts.S3ModelArtifacts names it) and reports FinalMetricDataList from the control endpoint
#   (POST /_emulator/training-metrics, default {"validation:auc": 0.9}); a missing output bucket fails the job;
# * a transform job writes <TransformOutput.S3OutputPath>/<input file name>.out per input object under the
#   TransformInput S3 prefix (one line "0.5" per input line); no input objects or a missing bucket fail the job.
DEFAULT_TRAINING_METRICS = {"validation:auc": 0.9}
_training_metrics = dict(DEFAULT_TRAINING_METRICS)
_training_metrics_lock = threading.Lock()


class _S3Problem(Exception):
    pass


def _s3_location(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise _S3Problem(f"Invalid S3 URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _s3_backend(account_id: str, region: str):
    return s3_models.s3_backends[account_id][get_partition(region)]


def _s3_bucket(account_id: str, region: str, bucket: str):
    try:
        return _s3_backend(account_id, region).get_bucket(bucket)
    except s3_models.MissingBucket:
        raise _S3Problem(f"The specified bucket does not exist: {bucket}") from None


def _put_s3(account_id: str, region: str, uri: str, body: bytes) -> None:
    bucket, key = _s3_location(uri)
    _s3_bucket(account_id, region, bucket)
    _s3_backend(account_id, region).put_object(bucket, key, body)


def _s3_objects(account_id: str, region: str, uri: str) -> list[tuple[str, bytes]]:
    bucket_name, prefix = _s3_location(uri)
    bucket = _s3_bucket(account_id, region, bucket_name)
    found = []
    for key in sorted(k for k in list(bucket.keys) if k.startswith(prefix) and not k.endswith("/")):
        value = getattr(bucket.keys.get(key), "value", None)
        if value is not None:
            found.append((key, value))
    return found


def _model_archive(job_name: str, metrics: dict[str, float]) -> bytes:
    content = json.dumps({"training_job": job_name, "metrics": metrics}, sort_keys=True).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        member = tarfile.TarInfo("model.json")
        member.size = len(content)
        tar.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def _run_training_job(account_id: str, region: str, job) -> None:
    with _training_metrics_lock:
        metrics = dict(_training_metrics)
    uri = f"{job.output_data_config['S3OutputPath'].rstrip('/')}/{job.training_job_name}/output/model.tar.gz"
    try:
        _put_s3(account_id, region, uri, _model_archive(job.training_job_name, metrics))
    except _S3Problem as problem:
        job.training_job_status = job.secondary_status = "Failed"
        job.failure_reason = f"ClientError: {problem}"
        job.model_artifacts = job.final_metric_data_list = None
        return
    job.model_artifacts = {"S3ModelArtifacts": uri}
    job.final_metric_data_list = [
        {"MetricName": name, "Value": float(value), "Timestamp": job.training_end_time}
        for name, value in metrics.items()
    ]


def _run_transform_job(account_id: str, region: str, job) -> None:
    source = job.transform_input["DataSource"]["S3DataSource"]["S3Uri"]
    output = job.transform_output["S3OutputPath"].rstrip("/")
    try:
        inputs = _s3_objects(account_id, region, source)
        if not inputs:
            raise _S3Problem(f'No S3 objects found under S3 URL "{source}" given in input data source.')
        for key, body in inputs:
            lines = [line for line in body.splitlines() if line.strip()]
            _put_s3(account_id, region, f"{output}/{key.rsplit('/', 1)[-1]}.out", b"0.5\n" * len(lines))
    except _S3Problem as problem:
        job.transform_job_status = "Failed"
        job.failure_reason = f"ClientError: {problem}"


_original_create_training_job = sagemaker_models.SageMakerModelBackend.create_training_job
_original_create_transform_job = sagemaker_models.SageMakerModelBackend.create_transform_job


def _create_training_job(self, *args, **kwargs):
    job = _original_create_training_job(self, *args, **kwargs)
    _run_training_job(self.account_id, self.region_name, job)
    return job


def _create_transform_job(self, *args, **kwargs):
    job = _original_create_transform_job(self, *args, **kwargs)
    _run_transform_job(self.account_id, self.region_name, job)
    return job


sagemaker_models.SageMakerModelBackend.create_training_job = _create_training_job
sagemaker_models.SageMakerModelBackend.create_transform_job = _create_transform_job


def _training_metrics_control(request: Request) -> Response:
    if request.method == "POST":
        metrics = request.get_json(silent=True)
        valid = isinstance(metrics, dict) and all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) for k, v in metrics.items()
        )
        if not valid:
            return Response('{"message": "expected a JSON object of metric name -> number"}', 400)
        with _training_metrics_lock:
            _training_metrics.clear()
            _training_metrics.update(metrics)
    elif request.method == "DELETE":
        with _training_metrics_lock:
            _training_metrics.clear()
            _training_metrics.update(DEFAULT_TRAINING_METRICS)
    with _training_metrics_lock:
        return Response(json.dumps(_training_metrics), 200, content_type="application/json")


_CONTROL_ROUTES = {"/_emulator/training-metrics": _training_metrics_control}


class EmulatorControl:
    """WSGI middleware: serves the emulator's own control endpoints under /_emulator/, passes the rest to moto."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_emulator/"):
            return self.app(environ, start_response)
        route = _CONTROL_ROUTES.get(path.rstrip("/"))
        response = route(Request(environ)) if route else Response('{"message": "no such control endpoint"}', 404)
        return response(environ, start_response)


# --- Fix 15: Lambda Invoke runs the deployed handler --------------------------------------------------------------
# moto runs functions only in Docker (absent here) and otherwise answers a canned string, so a workflow's Lambda task
# would never run our code. Invoke now unpacks the function's deployed zip (cached per code sha256) and runs
# <module>.<function> from its Handler in a subprocess with the deployed Environment.Variables, the emulator endpoint
# and credentials and the function's region -- nothing else from the server's environment. A raised exception comes
# back in Lambda's error shape with x-amz-function-error: Unhandled (so a Catch sees the class name as the error),
# the function's Timeout is enforced (Sandbox.Timedout), InvocationType=Event runs in the background (202).
_LAMBDA_RUNNER = r"""
import importlib, json, sys, time
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["code_dir"])


class Context:
    def __init__(self, fields):
        self.__dict__.update(fields)

    def get_remaining_time_in_millis(self):
        return max(0, int((spec["deadline"] - time.time()) * 1000))


def finish(outcome):
    with open(spec["result_path"], "w") as handle:
        json.dump(outcome, handle)
    sys.exit(0)


def error(kind, message):
    finish({"error": {"errorMessage": message, "errorType": kind, "stackTrace": []}})


module_name, _, function_name = spec["handler"].rpartition(".")
try:
    module = importlib.import_module(module_name.replace("/", "."))
except Exception as exc:
    error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
handler = getattr(module, function_name, None)
if handler is None:
    error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
event = json.loads(sys.stdin.read() or "{}")
try:
    result = handler(event, Context(spec["context"]))
except Exception as exc:
    error(type(exc).__name__, str(exc))
try:
    finish({"result": json.loads(json.dumps(result))})
except (TypeError, ValueError) as exc:
    error("Runtime.MarshalError", f"Unable to marshal response: {exc}")
"""
_code_root = Path(tempfile.mkdtemp(prefix="emulator-lambda-"))
atexit.register(shutil.rmtree, _code_root, True)
_code_lock = threading.Lock()
_LOG_TAIL_BYTES = 4096


def _code_dir(fn) -> Path:
    target = _code_root / fn.code_digest
    with _code_lock:
        if not target.is_dir():
            staging = Path(tempfile.mkdtemp(dir=_code_root))
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
                archive.extractall(staging)  # noqa: S202 -- zipfile drops absolute paths and ".." from member names
            staging.rename(target)
    return target


def _function_environment(fn, code_dir: Path) -> dict[str, str]:
    if fn.account_id == iam_models.DEFAULT_ACCOUNT_ID:
        credentials = {"AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator"}
    else:  # act as the function's role in its own account (the emulator's keys act in the default account)
        credentials = _role_credentials(fn.role, fn.region, fn.function_name)
    return {
        **{str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        **credentials,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{os.environ['MOTO_PORT']}",
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAMBDA_TASK_ROOT": str(code_dir),
        "_HANDLER": fn.handler,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }


def _lambda_error(kind: str, message: str) -> dict:
    return {"errorMessage": message, "errorType": kind, "stackTrace": []}


def run_handler(fn, event: bytes) -> tuple[dict | list | str | int | float | bool | None, dict | None, str]:
    """Run the deployed handler on ``event``: (result, error payload or None, logs)."""
    request_id = str(uuid.uuid4())
    code_dir = _code_dir(fn)
    with tempfile.TemporaryDirectory(dir=_code_root) as scratch:
        result_path = Path(scratch) / "result.json"
        spec = {
            "code_dir": str(code_dir),
            "handler": fn.handler,
            "result_path": str(result_path),
            "deadline": time.time() + fn.timeout,
            "context": {
                "aws_request_id": request_id,
                "function_name": fn.function_name,
                "function_version": str(fn.version),
                "memory_limit_in_mb": int(fn.memory_size),
                "invoked_function_arn": fn.function_arn,
                "log_group_name": fn.logs_group_name,
            },
        }
        command = [sys.executable, "-I", "-c", _LAMBDA_RUNNER, json.dumps(spec)]
        environment = _function_environment(fn, code_dir)
        try:
            done = subprocess.run(
                command, input=event, capture_output=True, env=environment, cwd=scratch, timeout=fn.timeout, check=False
            )
        except subprocess.TimeoutExpired as expired:
            logs = ((expired.stdout or b"") + (expired.stderr or b"")).decode(errors="replace")
            message = f"RequestId: {request_id} Error: Task timed out after {float(fn.timeout):.2f} seconds"
            return None, _lambda_error("Sandbox.Timedout", message), logs
        logs = (done.stdout + done.stderr).decode(errors="replace")
        if not result_path.is_file():
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {done.returncode}"
            return None, _lambda_error("Runtime.ExitError", message), logs
        outcome = json.loads(result_path.read_text())
    return outcome.get("result"), outcome.get("error"), logs


def _save_logs(fn, logs: str) -> None:
    # Into the function's log group when it exists (ours are created by Terraform first); never create one.
    if logs and fn.logs_group_name in fn.logs_backend.groups:
        fn.save_logs(logs)


def _lambda_invoke(self, body, request_headers, response_headers):
    event = body.encode() if isinstance(body, str) else (body or b"")
    try:
        json.loads(event or b"{}")
    except ValueError as error:
        raise LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {error}"
        ) from None
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        threading.Thread(target=lambda: _save_logs(self, run_handler(self, event)[2]), daemon=True).start()
        return b""
    result, error, logs = run_handler(self, event)
    _save_logs(self, logs)
    response_headers["x-amz-log-result"] = base64.b64encode(logs.encode()[-_LOG_TAIL_BYTES:]).decode()
    response_headers["x-amz-executed-version"] = str(self.version)
    if error is not None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(error).encode()
    return json.dumps(result).encode()


lambda_models.LambdaFunction.invoke = _lambda_invoke


# --- Fix 16: Step Functions JSONPath with a literal index --------------------------------------------------------
# moto's interpreter answers any path through a literal array index with a list: `$.FinalMetricDataList[0].Value`
# gives [0.91] instead of 0.91 (its fix for `[*]` over one element, moto issue #7825, also catches `[0]`), so a Choice
# on a training metric would never match. AWS returns the single value for a definite path (names and literal
# indexes only); such paths are answered directly, everything else (wildcards, slices, filters) as before.
_original_extract_json = sfn_json_path.extract_json
_DEFINITE_JSON_PATH = re.compile(r"\$(?:\.[^.\[\]*?@()',]+|\[\d+\]|\['[^']*'\])*")


def _extract_json(path: str, data):
    if _DEFINITE_JSON_PATH.fullmatch(path):
        matches = sfn_json_path.parse(path).find(data)
        if len(matches) == 1:
            return matches[0].value
    return _original_extract_json(path, data)


_replace_everywhere("extract_json", _original_extract_json, _extract_json)


# --- Fix 17: Step Functions logging and tracing configuration -------------------------------------------------------
# The provider (AWS SDK for Go v2) leaves false booleans out: turning X-Ray off sends tracingConfiguration {} and
# logging without execution data sends no includeExecutionData. moto skips an empty configuration on update, so the
# machine kept tracing on and the provider waited out its update timeout ("eventual consistency"). Both are stored
# with AWS's defaults filled in (enabled / includeExecutionData false, level OFF) and described as AWS does.
def _normalised_logging(config: dict | None) -> dict | None:
    if config is None:
        return None
    normal = {"level": config.get("level", "OFF"), "includeExecutionData": bool(config.get("includeExecutionData"))}
    if config.get("destinations"):
        normal["destinations"] = config["destinations"]
    return normal


def _normalised_tracing(config: dict | None) -> dict | None:
    return None if config is None else {"enabled": bool(config.get("enabled"))}


def _normalising_create(original):
    def create_state_machine(self, *args, loggingConfiguration=None, tracingConfiguration=None, **kwargs):
        return original(
            self,
            *args,
            loggingConfiguration=_normalised_logging(loggingConfiguration or {}),
            tracingConfiguration=_normalised_tracing(tracingConfiguration or {}),
            **kwargs,
        )

    return create_state_machine


def _normalising_update(original):
    def update_state_machine(self, *args, logging_configuration=None, tracing_configuration=None, **kwargs):
        return original(
            self,
            *args,
            logging_configuration=_normalised_logging(logging_configuration),
            tracing_configuration=_normalised_tracing(tracing_configuration),
            **kwargs,
        )

    return update_state_machine


for _backend in (StepFunctionBackend, StepFunctionsParserBackend):
    _backend.create_state_machine = _normalising_create(_backend.create_state_machine)
    _backend.update_state_machine = _normalising_update(_backend.update_state_machine)


# --- Fix 18: Step Functions aws-sdk tasks ---------------------------------------------------------------------------
# moto passes an aws-sdk task's parameters to boto3 and the response back as they are. On AWS, parameters are written
# with a capital first letter whatever the SDK's casing (aws-sdk:sfn:describeStateMachine takes "StateMachineArn"; moto
# failed with States.Runtime 'StateMachineArn'), and the response comes back with the body as text (moto: a stream
# object, so `States.StringToJson($.Body)` failed), timestamps as ISO 8601 strings and member names with a capital
# first letter. Both are converted along the operation's shapes (map keys, e.g. DynamoDB attributes, untouched).
_original_aws_sdk_eval_service_task = StateTaskServiceAwsSdk._eval_service_task


@cache
def _operation_model(service: str, action: str):
    model = botocore.session.get_session().get_service_model(service)
    for operation in model.operation_names:
        if botocore.xform_name(operation) == action:
            return model.operation_model(operation)
    return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _as_sdk_expects(value, shape):
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, dict):
        members = {_lower_first(m): m for m in shape.members}
        named = {members.get(_lower_first(k), k): v for k, v in value.items()}
        return {k: _as_sdk_expects(v, shape.members.get(k)) for k, v in named.items()}
    if kind == "list" and isinstance(value, list):
        return [_as_sdk_expects(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _as_sdk_expects(v, shape.value) for k, v in value.items()}
    return value


def _as_step_functions_returns(value, shape):
    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8", errors="replace")
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {
            (k[:1].upper() + k[1:] if k in members else k): _as_step_functions_returns(v, members.get(k))
            for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_as_step_functions_returns(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _as_step_functions_returns(v, shape.value) for k, v in value.items()}
    return value


def _aws_sdk_eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
    operation = _operation_model(self._get_boto_service_name(), self._get_boto_service_action())
    if operation is not None:
        normalised_parameters = _as_sdk_expects(normalised_parameters, operation.input_shape)
    _original_aws_sdk_eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials)
    response = _as_step_functions_returns(env.stack.pop(), operation.output_shape if operation else None)
    env.stack.append(json.loads(to_json_str(response)))


StateTaskServiceAwsSdk._eval_service_task = _aws_sdk_eval_service_task


# --- Fix 19: SageMaker ListModels filters ---------------------------------------------------------------------------
# moto ignores every ListModels parameter: NameContains answered all models, so a check that a workflow removed its
# own temporary models (or a clean-up by name) would see the deployed ones too. NameContains, SortBy and SortOrder
# (default: newest first, as on AWS) are applied.
def _list_models(self):
    contains = self._get_param("NameContains") or ""
    models = [m for m in self.sagemaker_backend.list_models() if contains in m.model_name]
    by_name = self._get_param("SortBy") == "Name"
    models.sort(
        key=(lambda m: m.model_name) if by_name else (lambda m: m.creation_time),
        reverse=self._get_param("SortOrder", "Descending") == "Descending",
    )
    return ActionResult({"Models": [model.response_object for model in models]})


sagemaker_responses.SageMakerResponse.list_models = _list_models


# --- Fix 20: Athena DeleteNamedQuery ---------------------------------------------------------------------------------
# moto has no DeleteNamedQuery (HTTP 500, which the provider retries for minutes: destroy of the named queries hung),
# and GetNamedQuery of a deleted query crashed instead of answering InvalidRequestException "... does not exist", the
# provider's signal that a resource is gone. Both answered as on AWS.
_original_get_named_query = athena_responses.AthenaResponse.get_named_query


def _get_named_query(self):
    query_id = self._get_param("NamedQueryId")
    if self.athena_backend.get_named_query(query_id) is None:
        return self.error(f"NamedQuery {query_id} does not exist", 400)
    return _original_get_named_query(self)


def _delete_named_query(self):
    self.athena_backend.named_queries.pop(self._get_param("NamedQueryId"), None)
    return json.dumps({})


athena_responses.AthenaResponse.get_named_query = _get_named_query
athena_responses.AthenaResponse.delete_named_query = _delete_named_query


# --- Fix 21: Budgets subscribers, tags and UpdateBudget ---------------------------------------------------------------
# The provider reads each notification's subscribers (DescribeSubscribersForNotification) and the budget's tags
# (ListTagsForResource, and TagResource/UntagResource for tags_all), and changes a budget with UpdateBudget; moto has
# none of these (HTTP 500, retried until the apply timed out) and ignores CreateBudget's ResourceTags. Per the Budgets
# API reference: subscribers are those created with the notification (NotificationsWithSubscribers/CreateNotification),
# NotFoundException for an unknown budget or notification; a budget's ARN is arn:aws:budgets::<account>:budget/<name>
# and its tags are [{Key, Value}]; UpdateBudget replaces everything but the name (CalculatedSpend restarts at zero).
def _budget(backend, account_id: str, name: str, action: str):
    budget = backend.budgets[account_id].get(name)
    if budget is None:
        raise budgets_exceptions.NotFoundException(f"Unable to {action}: {name} - the budget doesn't exist.")
    return budget


def _budget_from_arn(backend, arn: str):
    parts = (arn or "").split(":", 5)
    if len(parts) != 6 or parts[2] != "budgets" or not parts[5].startswith("budget/"):
        raise budgets_exceptions.NotFoundException(f"Unable to find resource {arn}")
    return _budget(backend, parts[4], parts[5][len("budget/") :], "find budget")


def _notification_key(notification: dict) -> tuple:
    return (
        notification.get("NotificationType"),
        notification.get("ComparisonOperator"),
        float(notification.get("Threshold") or 0),
        notification.get("ThresholdType") or "PERCENTAGE",  # AWS may omit it for PERCENTAGE (the provider says so)
    )


def _budgets_tags(tags: list[dict] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


_original_create_budget = budgets_responses.BudgetsResponse.create_budget


def _create_budget(self):
    result = _original_create_budget(self)
    budget = _budget(self.backend, self._get_param("AccountId"), self._get_param("Budget")["BudgetName"], "tag")
    budget.resource_tags = _budgets_tags(self._get_param("ResourceTags"))
    return result


def _describe_subscribers_for_notification(self):
    name = self._get_param("BudgetName")
    budget = _budget(self.backend, self._get_param("AccountId"), name, "describe subscribers")
    wanted = _notification_key(self._get_param("Notification") or {})
    for notification in budget.notifications:
        if _notification_key(notification.details) == wanted:
            return json.dumps({"Subscribers": notification.subscribers or []})
    raise budgets_exceptions.NotFoundException(
        f"Unable to describe subscribers: {name} - the notification doesn't exist."
    )


def _update_budget(self):
    new = dict(self._get_param("NewBudget"))
    budget = _budget(self.backend, self._get_param("AccountId"), new["BudgetName"], "update budget")
    new.setdefault("TimePeriod", budget.budget.get("TimePeriod"))
    new["LastUpdatedTime"] = moto_unix_time()
    budget.budget = new
    return json.dumps({})


def _budgets_list_tags_for_resource(self):
    budget = _budget_from_arn(self.backend, self._get_param("ResourceARN"))
    tags = getattr(budget, "resource_tags", {})
    return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def _budgets_tag_resource(self):
    budget = _budget_from_arn(self.backend, self._get_param("ResourceARN"))
    budget.resource_tags = {**getattr(budget, "resource_tags", {}), **_budgets_tags(self._get_param("ResourceTags"))}
    return json.dumps({})


def _budgets_untag_resource(self):
    budget = _budget_from_arn(self.backend, self._get_param("ResourceARN"))
    removed = set(self._get_param("ResourceTagKeys") or [])
    budget.resource_tags = {k: v for k, v in getattr(budget, "resource_tags", {}).items() if k not in removed}
    return json.dumps({})


budgets_responses.BudgetsResponse.create_budget = _create_budget
budgets_responses.BudgetsResponse.describe_subscribers_for_notification = _describe_subscribers_for_notification
budgets_responses.BudgetsResponse.update_budget = _update_budget
budgets_responses.BudgetsResponse.list_tags_for_resource = _budgets_list_tags_for_resource
budgets_responses.BudgetsResponse.tag_resource = _budgets_tag_resource
budgets_responses.BudgetsResponse.untag_resource = _budgets_untag_resource


# --- Fix 22: SageMaker endpoint deployment configuration, UpdateEndpoint ---------------------------------------------
# moto ignores CreateEndpoint's DeploymentConfig, so DescribeEndpoint had no LastDeploymentConfig ("the most recent
# deployment configuration for the endpoint", which the provider reads back as deployment_config): every guarded
# endpoint (blue/green canary or linear, auto-rollback alarms) would be replaced on each re-plan. moto also has no
# UpdateEndpoint (HTTP 500), which the provider calls for a new endpoint config or deployment config. UpdateEndpoint
# switches the endpoint to the new config's variants at once (the emulator deploys instantly) and, as on AWS, keeps
# the last deployment configuration only with RetainDeploymentConfig, else takes the one sent (or none).
_original_create_endpoint = sagemaker_responses.SageMakerResponse.create_endpoint


def _create_endpoint(self):
    result = _original_create_endpoint(self)
    endpoint = self.sagemaker_backend.endpoints[self._get_param("EndpointName")]
    endpoint.last_deployment_config = self._get_param("DeploymentConfig") or None
    return result


def _update_endpoint(self):
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        arn = sagemaker_models.FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise sagemaker_exceptions.ValidationError(message=f"Could not find endpoint '{arn}'.")
    config_name = self._get_param("EndpointConfigName")
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        arn = sagemaker_models.FakeEndpointConfig.arn_formatter(config_name, backend.account_id, backend.region_name)
        raise sagemaker_exceptions.ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
    endpoint.data_capture_config = config.data_capture_config
    if not self._get_param("RetainDeploymentConfig", False):
        endpoint.last_deployment_config = self._get_param("DeploymentConfig") or None
    endpoint.last_modified_time = moto_utcnow()
    return ActionResult({"EndpointArn": endpoint.arn})


sagemaker_responses.SageMakerResponse.create_endpoint = _create_endpoint
sagemaker_responses.SageMakerResponse.update_endpoint = _update_endpoint


# --- Fix 23: SNS subscriptions that need confirmation ----------------------------------------------------------------
# moto confirms every subscription at once and delivers to it; on AWS an http, https, email or email-json endpoint
# must confirm first (ConfirmSubscription): until then GetSubscriptionAttributes says PendingConfirmation "true" and
# ConfirmationWasAuthenticated "false", nothing is delivered to it, Subscribe answers "pending confirmation" unless
# ReturnSubscriptionArn is set, and Unsubscribe refuses it ("Cannot unsubscribe a subscription that is pending
# confirmation"; it goes with its topic). Delivering was worse than wrong here: moto POSTed every alert to the real
# https endpoint, i.e. to the internet. The emulator sends no confirmation request, so such subscriptions stay pending.
_CONFIRMED_BY_ENDPOINT = {"http", "https", "email", "email-json"}
_original_sns_subscribe = sns_models.SNSBackend.subscribe
_original_sns_unsubscribe = sns_models.SNSBackend.unsubscribe
_original_subscription_publish = sns_models.Subscription.publish
_original_subscribe_response = sns_responses.SNSResponse.subscribe


def _pending(subscription) -> bool:
    return str(subscription.attributes.get("PendingConfirmation")).lower() == "true"


def _sns_subscribe(self, topic_arn: str, endpoint: str, protocol: str):
    existing = self._find_subscription(topic_arn, endpoint, protocol)
    subscription = _original_sns_subscribe(self, topic_arn, endpoint, protocol)
    if existing is None and protocol in _CONFIRMED_BY_ENDPOINT:
        subscription.attributes.update({"PendingConfirmation": "true", "ConfirmationWasAuthenticated": "false"})
    return subscription


def _sns_unsubscribe(self, subscription_arn: str) -> None:
    subscription = self.subscriptions.get(subscription_arn)
    if subscription is not None and _pending(subscription):
        raise sns_exceptions.SNSInvalidParameter(
            "Invalid parameter: SubscriptionArn Reason: Cannot unsubscribe a subscription that is pending confirmation"
        )
    _original_sns_unsubscribe(self, subscription_arn)


def _subscription_publish(self, *args, **kwargs):
    if _pending(self):
        return None
    return _original_subscription_publish(self, *args, **kwargs)


def _subscribe_response(self):
    result = _original_subscribe_response(self)
    subscription = self.backend.subscriptions.get(result.result["SubscriptionArn"])
    returns_arn = str(self._get_param("ReturnSubscriptionArn", "false")).lower() == "true"
    if subscription is not None and _pending(subscription) and not returns_arn:
        result.result["SubscriptionArn"] = "pending confirmation"
    return result


sns_models.SNSBackend.subscribe = _sns_subscribe
sns_models.SNSBackend.unsubscribe = _sns_unsubscribe
sns_models.Subscription.publish = _subscription_publish
sns_responses.SNSResponse.subscribe = _subscribe_response


# --- Fix 24: Lambda PutFunctionEventInvokeConfig overwrites -----------------------------------------------------------
# moto appends every Put to a list and answers the first one forever, so a changed configuration (e.g. the on-failure
# destination removed) never showed and the provider planned the change again on every re-plan. Per the Lambda API
# reference, Put "overwrites" an existing configuration ("If you exclude any settings, they are removed") and
# UpdateFunctionEventInvokeConfig sets only the options it is given. One configuration per function, as before (moto
# ignores the Qualifier; ours are all unqualified).
def _put_function_event_invoke_config(self, function_name: str, config: dict) -> dict:
    fn = self.get_function(function_name)
    fn.event_invoke_config = [lambda_models.EventInvokeConfig(fn.function_arn, fn.last_modified, config)]
    return fn.event_invoke_config[0].response()


def _update_function_event_invoke_config(self, function_name: str, config: dict) -> dict:
    fn = self.get_function(function_name)
    current = fn.event_invoke_config[0].config if fn.event_invoke_config else {}
    return _put_function_event_invoke_config(self, function_name, {**current, **config})


lambda_models.LambdaBackend.put_function_event_invoke_config = _put_function_event_invoke_config
lambda_models.LambdaBackend.update_function_event_invoke_config = _update_function_event_invoke_config


# --- Fix 25: SageMaker runtime InvokeEndpoint -------------------------------------------------------------------------
# moto answers every InvokeEndpoint with static data ("body", variant "invoked_production_variant"), even for an
# endpoint that does not exist, unless a results queue is configured: an inference or stream-consumer handler never
# saw a prediction per row, an A/B split, or a traffic shift. Answer like a deployed built-in XGBoost endpoint:
# - an endpoint that is not there: ValidationError (400) "Endpoint <name> of account <account> not found.", AWS's
#   wording;
# - text/csv bodies, one row per line (blank lines skipped): one score in [0, 1] per row, in row order, a
#   deterministic function of the row (_score). Accept application/json answers a JSON list ([0.73, 0.12]); text/csv,
#   */* or none answers one comma-separated line. A row that is not numbers is the container's 400, which SageMaker
#   passes on as ModelError (424) "Received client error (400) from primary with message "...". See <log group> in
#   account <account> for more information." (AWS's shape), with OriginalStatusCode, OriginalMessage, LogStreamArn;
#   another content type is the container's 415, another Accept its 406 (the emulator reads and writes CSV only);
# - the variant: X-Amzn-SageMaker-Target-Variant if sent (ValidationError if the endpoint has no such variant), else
#   the endpoint's CURRENT weights (DescribeEndpoint's CurrentWeight, which UpdateEndpointWeightsAndCapacities and
#   UpdateEndpoint change): a hash of the body picks a point on the cumulative weights, so distinct bodies split as
#   the weights do and a drained (weight 0) variant gets nothing. Answered in x-Amzn-Invoked-Production-Variant.
# With a results queue configured (moto-api /moto-api/static/sagemaker/endpoint-results), moto's behaviour is kept:
# queued results first, and a request it answered from the queue keeps its answer.
_original_invoke_endpoint = sagemakerruntime_responses.SageMakerRuntimeResponse.invoke_endpoint
_CSV_TYPES = {"text/csv", "csv"}


def _runtime_error(code: str, status: int, message: str, **members) -> tuple[int, dict, str]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "status": status}  # moto reads "status"
    return status, headers, json.dumps({"message": message, **members})


def _model_error(region: str, account: str, endpoint: str, status: int, message: str) -> tuple[int, dict, str]:
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
    kind = "client" if status < 500 else "server"
    return _runtime_error(
        "ModelError",
        424,
        f'Received {kind} error ({status}) from primary with message "{message}". '
        f"See {console} in account {account} for more information.",
        OriginalStatusCode=status,
        OriginalMessage=message,
        LogStreamArn=f"arn:{get_partition(region)}:logs:{region}:{account}:log-group:{group}",
    )


def _score(features: list[float]) -> float:
    """The emulated model: logistic of -0.5 + sum(x_i * (-1)^i / (i + 1)), in [0, 1], the same for the same row."""
    z = -0.5 + sum(x * (-1) ** i / (i + 1) for i, x in enumerate(features))
    return 1.0 / (1.0 + math.exp(-max(-700.0, min(700.0, z))))


def _chosen_variant(variants: list[dict], body: bytes) -> str | None:
    weights = [max(0.0, float(v.get("CurrentWeight", 1.0) or 0.0)) for v in variants]
    total = sum(weights)
    if total <= 0:
        return None
    point = int.from_bytes(hashlib.sha256(body).digest()[:8], "big") / 2**64 * total
    for variant, weight in zip(variants, weights, strict=True):
        if point < weight:
            return variant["VariantName"]
        point -= weight
    return next(v["VariantName"] for v, w in zip(variants, weights, strict=True) if w > 0)  # float rounding


def _moto_repr(self) -> bytes:
    """moto's key for a queued result (SageMakerRuntimeResponse.invoke_endpoint)."""
    unique = {k: v for k, v in self.headers.items() if k.lower().startswith("x-amzn-sagemaker")}
    unique["Accept"] = self.headers.get("Accept")
    unique["Body"] = self.body
    return base64.b64encode(json.dumps(unique).encode("utf-8"))


class _Refused(Exception):  # carries the error response AWS would give
    def __init__(self, response: tuple[int, dict, str]):
        super().__init__(response[2])
        self.response = response


def _invoked_variant(self, name: str, account: str, variants: list[dict], body: bytes) -> str:
    target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
    if target is None:
        variant = _chosen_variant(variants, body)
        if variant is None:
            raise _Refused(
                _runtime_error("ValidationError", 400, f"Endpoint {name} has no variant with traffic weight.")
            )
        return variant
    if target not in {v["VariantName"] for v in variants}:
        message = f"Variant {target} not found for endpoint {name} of account {account}."
        raise _Refused(_runtime_error("ValidationError", 400, message))
    return target


def _inference(self, name: str, account: str, body: bytes) -> tuple[str, str]:
    """(content type, answer) of the emulated XGBoost container for this request."""
    content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in _CSV_TYPES:
        message = f"{content_type or 'None'} is not an accepted ContentType: csv, text/csv."
        raise _Refused(_model_error(self.region, account, name, 415, message))
    accept = (self.headers.get("Accept") or "text/csv").split(";")[0].strip().lower()
    if accept not in {"application/json", "text/csv", "*/*"}:
        message = f"{accept} is not an accepted Accept type: application/json, text/csv."
        raise _Refused(_model_error(self.region, account, name, 406, message))
    scores = []
    for row in filter(str.strip, body.decode("utf-8", errors="replace").splitlines()):
        try:
            scores.append(_score([float(cell) for cell in row.split(",")]))
        except ValueError as error:
            message = f"Unable to evaluate payload provided: {error}"
            raise _Refused(_model_error(self.region, account, name, 400, message)) from None
    if not scores:
        raise _Refused(_model_error(self.region, account, name, 400, "Unable to evaluate payload provided: no rows"))
    if accept == "application/json":
        return "application/json", json.dumps(scores)
    return "text/csv", ",".join(repr(score) for score in scores)


def _invoke_endpoint(self):
    name = self.path.split("/")[2]
    runtime = self.sagemakerruntime_backend
    answered = runtime.results.get(self._get_params().get("EndpointName"), {})  # moto's key (None, as it parses)
    if runtime.results_queue or _moto_repr(self) in answered:
        return _original_invoke_endpoint(self)
    account = self.current_account
    endpoint = sagemaker_models.sagemaker_backends[account][self.region].endpoints.get(name)
    if endpoint is None:
        return _runtime_error("ValidationError", 400, f"Endpoint {name} of account {account} not found.")
    body = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
    try:
        variant = _invoked_variant(self, name, account, endpoint.production_variants or [], body)
        answer_type, answer = _inference(self, name, account, body)
    except _Refused as refused:
        return refused.response
    headers = {"Content-Type": answer_type, "x-Amzn-Invoked-Production-Variant": variant, "status": 200}
    return 200, headers, answer


sagemakerruntime_responses.SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint


def build_app():
    return EmulatorControl(DomainDispatcherApplication(create_backend_app))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--default-account", default="111111111111", help="account of unknown credentials")
    args = parser.parse_args()
    default_account(args.default_account)
    # Fix 11: the ASL interpreter's task clients call this server back on localhost:$MOTO_PORT, never via a proxy.
    os.environ["MOTO_PORT"] = str(args.port)
    os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "localhost", "127.0.0.1"]))
    run_simple(args.host, args.port, build_app(), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
