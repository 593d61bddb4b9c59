"""One environment of the ML pipeline: ``ml-pipeline-<env>`` (ARCHITECTURE §1).

Composes the constructs; holds no resource definitions of its own beyond the provider, backend and outputs.
"""

from pathlib import Path

from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack

from constructs import Construct
from constructs.aws_modules import aws
from constructs.data_lake import DataLake, DataLakeProps
from constructs.encryption import KmsKey, KmsKeyProps, logs_grant, publisher_grant
from constructs.functions import Functions, FunctionsProps
from constructs.inference_api import InferenceApi, InferenceApiProps
from constructs.model_serving import ModelServing, ModelServingProps
from constructs.monitoring import Alerts, AlertsProps
from constructs.naming import Kind
from constructs.streaming import ConsumerMapping, ConsumerMappingProps, Streaming, StreamingProps
from constructs.tables import Tables, TablesProps
from stacks.common import aws_provider, local_state_path
from stacks.config import AppConfig

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambda_src"


def stack_name(env: str) -> str:
    return f"ml-pipeline-{env}"


class MlPipelineStack(TerraformStack):
    def __init__(self, scope: Construct, config: AppConfig, env: str) -> None:
        name = stack_name(env)
        super().__init__(scope, name)
        cfg = config.environments[env]
        naming = config.naming(env)
        self._backend(config, env, name)
        aws_provider(
            self,
            region=cfg.region,
            account_ids=cfg.account_ids,
            tags={
                "Project": config.project,
                "Environment": env,
                "Owner": cfg.owner,
                "CostCenter": cfg.cost_center,
                "Repository": config.repository,
            },
        )
        account_id = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller").account_id

        def key(component: str, description: str, services=()) -> KmsKey:
            props = KmsKeyProps(
                naming=naming,
                component=component,
                description=description,
                account_id=account_id,
                services=tuple(services),
                deletion_window_days=cfg.kms.deletion_window_days,
            )
            return KmsKey(self, f"{component}-key", props)

        self.data_key = key("data", "Encrypts the data lake, DynamoDB tables and the Kinesis stream")
        self.ops_key = key(
            "ops",
            "Encrypts logs, alert topics and dead-letter queues",
            [
                logs_grant(cfg.region, account_id),
                publisher_grant("cloudwatch.amazonaws.com"),
                publisher_grant("events.amazonaws.com"),
            ],
        )
        self.ml_key = key("ml", "Encrypts model artifacts and SageMaker data")

        lake = cfg.data_lake
        self.data_lake = DataLake(
            self,
            "data-lake",
            DataLakeProps(
                naming=naming,
                account_id=account_id,
                data_key_arn=self.data_key.arn,
                ml_key_arn=self.ml_key.arn,
                infrequent_access_days=lake.infrequent_access_days,
                glacier_days=lake.glacier_days,
                expire_days=lake.expire_days,
                noncurrent_expire_days=lake.noncurrent_expire_days,
                athena_results_expire_days=lake.athena_results_expire_days,
                access_logs_expire_days=lake.access_logs_expire_days,
                force_destroy=lake.force_destroy,
                prevent_destroy=cfg.protect_stateful,
            ),
        )
        self.tables = Tables(
            self,
            "tables",
            TablesProps(
                naming=naming,
                kms_key_arn=self.data_key.arn,
                billing_mode=cfg.dynamodb.billing_mode,
                read_capacity=cfg.dynamodb.read_capacity,
                write_capacity=cfg.dynamodb.write_capacity,
                protect=cfg.protect_stateful,
            ),
        )
        self.streaming = Streaming(
            self,
            "streaming",
            StreamingProps(
                naming=naming,
                kms_key_arn=self.data_key.arn,
                mode=cfg.kinesis.mode,
                shard_count=cfg.kinesis.shard_count,
                retention_hours=cfg.kinesis.retention_hours,
                protect=cfg.protect_stateful,
            ),
        )
        # Known in both phases, so the functions are configured (and granted) the same way before and after the flip.
        self.endpoint_name = naming.name("endpoint", Kind.SAGEMAKER)
        self.endpoint_arn = f"arn:aws:sagemaker:{cfg.region}:{account_id}:endpoint/{self.endpoint_name}"
        self.functions = self._functions(cfg, naming, account_id)
        fn = cfg.stream_consumer
        ConsumerMapping(
            self,
            "stream-consumer-mapping",
            ConsumerMappingProps(
                naming=naming,
                stream_arn=self.streaming.arn,
                function_name=self.functions.stream_consumer.name,
                function_role_name=self.functions.stream_consumer.role_name,
                function_policy=self.functions.stream_consumer.policy,
                ops_key_arn=self.ops_key.arn,
                batch_size=fn.batch_size,
                batching_window_seconds=fn.batching_window_seconds,
                max_retry_attempts=fn.max_retry_attempts,
                max_record_age_seconds=fn.max_record_age_seconds,
                parallelization_factor=fn.parallelization_factor,
            ),
        )
        self.api = self._api(cfg, naming, account_id)
        self.alerts = Alerts(
            self,
            "alerts",
            AlertsProps(
                naming=naming,
                ops_key_arn=self.ops_key.arn,
                account_id=account_id,
                alert_emails=tuple(cfg.alert_emails),
            ),
        )
        self.serving = ModelServing(
            self,
            "model-serving",
            ModelServingProps(
                naming=naming,
                region=cfg.region,
                account_id=account_id,
                sagemaker=cfg.sagemaker,
                endpoints_enabled=cfg.endpoints_enabled,
                ml_key_arn=self.ml_key.arn,
                ops_key_arn=self.ops_key.arn,
                artifacts_bucket_arn=self.data_lake.model_artifacts.arn,
                artifacts_bucket_name=self.data_lake.model_artifacts.name,
                alerts_topic_arn=self.alerts.topic_arn,
                traffic_shift_function_arn=self.functions.traffic_shift.arn,
                alarms=cfg.alarms,
                log_retention_days=cfg.logs.retention_days,
            ),
        )
        self._outputs()

    def _api(self, cfg, naming, account_id: str) -> InferenceApi:
        api, inference = cfg.api, self.functions.inference
        return InferenceApi(
            self,
            "inference-api",
            InferenceApiProps(
                naming=naming,
                region=cfg.region,
                account_id=account_id,
                inference_function_name=inference.name,
                inference_invoke_arn=inference.invoke_arn,
                inference_function_arn=inference.arn,
                ops_key_arn=self.ops_key.arn,
                log_retention_days=cfg.logs.retention_days,
                throttle_rate_limit=api.throttle_rate_limit,
                throttle_burst_limit=api.throttle_burst_limit,
                quota_limit=api.quota_limit,
                quota_period=api.quota_period,
                cache_enabled=api.cache_enabled,
                cache_size_gb=api.cache_size_gb,
                cache_ttl_seconds=api.cache_ttl_seconds,
                waf_enabled=api.waf_enabled,
                waf_rate_limit=api.waf_rate_limit,
                manage_account_logging_role=api.manage_account_logging_role,
            ),
        )

    def _functions(self, cfg, naming, account_id: str) -> Functions:
        lake, tables, fn = self.data_lake, self.tables, cfg.functions
        return Functions(
            self,
            "functions",
            FunctionsProps(
                naming=naming,
                account_id=account_id,
                region=cfg.region,
                source_root=LAMBDA_SOURCE,
                raw_bucket_name=lake.raw.name,
                raw_bucket_arn=lake.raw.arn,
                processed_bucket_name=lake.processed.name,
                processed_bucket_arn=lake.processed.arn,
                model_artifacts_bucket_name=lake.model_artifacts.name,
                model_artifacts_bucket_arn=lake.model_artifacts.arn,
                predictions_table_name=tables.predictions.name,
                predictions_table_arn=tables.predictions.arn,
                model_registry_table_name=tables.model_registry.name,
                model_registry_table_arn=tables.model_registry.arn,
                stream_arn=self.streaming.arn,
                data_key_arn=self.data_key.arn,
                ml_key_arn=self.ml_key.arn,
                ops_key_arn=self.ops_key.arn,
                endpoint_name=self.endpoint_name,
                endpoint_arn=self.endpoint_arn,
                endpoints_enabled=cfg.endpoints_enabled,
                predictions_ttl_days=cfg.dynamodb.predictions_ttl_days,
                feature_count=fn.feature_count,
                metric_name=fn.metric_name,
                metric_threshold=fn.metric_threshold,
                metric_goal=fn.metric_goal,
                memory_mb=fn.memory_mb,
                timeout_seconds=fn.timeout_seconds,
                reserved_concurrency=fn.reserved_concurrency,
                log_level=fn.log_level,
                log_retention_days=cfg.logs.retention_days,
            ),
        )

    def _backend(self, config: AppConfig, env: str, name: str) -> None:
        if config.environments[env].backend.mode == "local":
            LocalBackend(self, path=local_state_path(name))
            return
        S3Backend(
            self,
            bucket=config.state_bucket,
            key=f"{config.project}/{env}/terraform.tfstate",
            region=config.state_backend.region,
            encrypt=True,
            kms_key_id=config.state_key_alias_arn,
        )
        # Native S3 locking (Terraform >= 1.10); cdktf 0.21's S3Backend has no field for it yet.
        self.add_override("terraform.backend.s3.use_lockfile", True)

    def _outputs(self) -> None:
        lake = self.data_lake
        outputs = {
            "raw_bucket": (lake.raw.name, "Bucket for raw training and inference data (uploads start workflows)"),
            "processed_bucket": (lake.processed.name, "Bucket for validated, normalized records"),
            "model_artifacts_bucket": (lake.model_artifacts.name, "Bucket for model.tar.gz artifacts"),
            "athena_results_bucket": (lake.athena_results.name, "Bucket for Athena query results"),
            "access_logs_bucket": (lake.logs.name, "Bucket receiving S3 server access logs"),
            "model_registry_table": (self.tables.model_registry.name, "DynamoDB table of registered models"),
            "experiments_table": (self.tables.experiments.name, "DynamoDB table of A/B experiments"),
            "predictions_table": (self.tables.predictions.name, "DynamoDB table of predictions (TTL)"),
            "inference_stream_name": (self.streaming.name, "Kinesis stream for streaming inference requests"),
            "inference_stream_arn": (self.streaming.arn, "ARN of the inference request stream"),
            "data_key_arn": (self.data_key.arn, "KMS key for the data lake, tables and stream"),
            "ops_key_arn": (self.ops_key.arn, "KMS key for logs, alerts and queues"),
            "ml_key_arn": (self.ml_key.arn, "KMS key for model artifacts and SageMaker"),
            "alerts_topic_arn": (self.alerts.topic_arn, "SNS topic receiving every alarm"),
            "endpoint_config_name": (self.serving.endpoint_config.name, "SageMaker endpoint configuration (A/B)"),
            "api_url": (self.api.url, "Invoke URL of the inference API stage (POST/GET /predict, GET /models)"),
            "api_key_id": (self.api.api_key.id, "Id of the API key (read the value with aws apigateway get-api-key)"),
            **{
                f"{f.function_key}_function_name": (f.name, f"Lambda function {f.function_key}")
                for f in self.functions.all
            },
        }
        if self.serving.endpoint is not None:  # phase two
            outputs["endpoint_name"] = (self.serving.endpoint.name, "SageMaker endpoint serving the A/B variants")
        for output_id, (value, description) in outputs.items():
            TerraformOutput(self, output_id, value=value, description=description)
