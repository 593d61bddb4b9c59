"""The outputs of one environment stack: everything an operator or CI needs, each described (ARCHITECTURE §7)."""

from typing import Any

from cdktf import TerraformOutput


def pipeline_outputs(stack: Any) -> None:
    """Outputs of a built MlPipelineStack (its stage attributes: data_lake, tables, streaming, keys, ...)."""
    lake, tables = stack.data_lake, stack.tables
    outputs = {
        "raw_bucket": (lake.raw.name, "Bucket for raw training and inference data (uploads start workflows)"),
        "processed_bucket": (lake.processed.name, "Bucket for validated, normalized records"),
        "model_artifacts_bucket": (lake.model_artifacts.name, "Bucket for model.tar.gz artifacts"),
        "athena_results_bucket": (lake.athena_results.name, "Bucket for Athena query results"),
        "access_logs_bucket": (lake.logs.name, "Bucket receiving S3 server access logs"),
        "model_registry_table": (tables.model_registry.name, "DynamoDB table of registered models"),
        "experiments_table": (tables.experiments.name, "DynamoDB table of A/B experiments"),
        "predictions_table": (tables.predictions.name, "DynamoDB table of predictions (TTL)"),
        "inference_stream_name": (stack.streaming.name, "Kinesis stream for streaming inference requests"),
        "inference_stream_arn": (stack.streaming.arn, "ARN of the inference request stream"),
        "data_key_arn": (stack.data_key.arn, "KMS key for the data lake, tables and stream"),
        "ops_key_arn": (stack.ops_key.arn, "KMS key for logs, alerts and queues"),
        "ml_key_arn": (stack.ml_key.arn, "KMS key for model artifacts and SageMaker"),
        "alerts_topic_arn": (stack.alerts.topic_arn, "SNS topic receiving every alarm"),
        "dashboard_name": (stack.monitoring.dashboard_name, "CloudWatch dashboard of this environment"),
        "endpoint_config_name": (stack.serving.endpoint_config.name, "SageMaker endpoint configuration (A/B)"),
        "api_url": (
            stack.api.url,
            "Invoke URL of the inference API stage (POST/GET /predict, GET /models, POST /approvals)",
        ),
        "training_state_machine_arn": (
            stack.workflows.training_arn,
            "Training workflow: start it with an upload under the raw event prefix, the schedule, or start-execution",
        ),
        "batch_state_machine_arn": (
            stack.workflows.batch_arn,
            "Batch inference workflow: start-execution with model_version and manifest_key",
        ),
        "api_key_id": (stack.api.api_key.id, "Id of the API key (read the value with aws apigateway get-api-key)"),
        **{
            f"{f.function_key}_function_name": (f.name, f"Lambda function {f.function_key}")
            for f in stack.functions.all
        },
    }
    outputs.update(stack.analytics.outputs)
    if stack.serving.endpoint is not None:  # phase two
        outputs["endpoint_name"] = (stack.serving.endpoint.name, "SageMaker endpoint serving the A/B variants")
    for output_id, (value, description) in outputs.items():
        TerraformOutput(stack, output_id, value=value, description=description)
