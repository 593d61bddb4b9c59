"""The local AWS emulator: moto's server plus the fixes the Terraform AWS provider needs from it.

Run as ``python -m tests.emulator.server --port N`` (the emulator fixture does, on 127.0.0.1). Every fix below is a
place where moto is missing an API call the provider makes, or drops/mangles a field so that a clean plan would show
a diff. Each is listed in the README's emulator section; a fix is never a reason to ignore a diff in our own code.
"""

import argparse
import json
import os
from types import SimpleNamespace

# --- Fix 6: IAM managed policies --------------------------------------------------------------------------------------
# Roles attach AWS managed policies (e.g. AmazonAPIGatewayPushToCloudWatchLogs); moto knows them only when asked to
# load them. Must be set before moto's IAM backend is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.apigateway import responses as apigateway_responses
from moto.applicationautoscaling import responses as autoscaling_responses
from moto.awslambda import models as lambda_models
from moto.iam import models as iam_models
from moto.kinesis import responses as kinesis_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.sagemaker import responses as sagemaker_responses
from werkzeug.serving import run_simple

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


def build_app():
    return DomainDispatcherApplication(create_backend_app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--default-account", default="111111111111", help="account of unknown credentials")
    args = parser.parse_args()
    default_account(args.default_account)
    run_simple(args.host, args.port, build_app(), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
