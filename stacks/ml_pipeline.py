"""One environment of the ML pipeline: ``ml-pipeline-<env>`` (ARCHITECTURE §1).

The composition root: it reads as the pipeline's stages (keys → data layer → compute → API → serving → outputs),
each a short method that hands the environment's settings to a construct and wires it to what earlier stages built.
It defines no resources of its own beyond the provider, the backend and the outputs.
"""

from pathlib import Path

from cdktf import LocalBackend, S3Backend, TerraformStack

from constructs import Construct
from constructs.analytics import Analytics, AnalyticsProps
from constructs.aws_modules import aws
from constructs.data_lake import DataLake, DataLakeProps
from constructs.encryption import KmsKey, KmsKeyProps, ServiceGrant, logs_grant, publisher_grant
from constructs.event_rules import EventRules, EventRulesProps
from constructs.functions import Functions, FunctionsProps
from constructs.inference_api import InferenceApi, InferenceApiProps
from constructs.model_serving import ModelServing, ModelServingProps
from constructs.monitoring import RUNBOOK, Alerts, AlertsProps, Monitoring, MonitoringProps
from constructs.refs import Deployment
from constructs.serving_rules import endpoint_ref
from constructs.streaming import ConsumerMapping, ConsumerMappingProps, Streaming, StreamingProps
from constructs.tables import Tables, TablesProps
from constructs.workflows import WorkflowFunctions, Workflows, WorkflowsProps
from stacks.common import aws_provider, local_state_path
from stacks.config import AppConfig, EnvironmentConfig
from stacks.outputs import pipeline_outputs

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambda_src"


def stack_name(env: str) -> str:
    return f"ml-pipeline-{env}"


class MlPipelineStack(TerraformStack):
    def __init__(self, scope: Construct, config: AppConfig, env: str) -> None:
        super().__init__(scope, stack_name(env))
        self.cfg: EnvironmentConfig = config.environments[env]
        self._state_and_provider(config, env)
        account_id = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller").account_id
        self.where = Deployment(config.naming(env), account_id, self.cfg.region)
        self._keys()
        self._data_layer()
        self._compute()
        self._api()
        self._serving()
        self._workflows()
        self._triggers()
        self._analytics()
        self._monitoring()
        pipeline_outputs(self)

    def _state_and_provider(self, config: AppConfig, env: str) -> None:
        cfg = self.cfg
        if cfg.backend.mode == "local":
            LocalBackend(self, path=local_state_path(stack_name(env)))
        else:
            state = config.state_location(env)  # in the environment's own account and region: see stacks/state.py
            S3Backend(
                self,
                bucket=state.bucket,
                key=state.state_key(env),
                region=state.region,
                encrypt=True,
                kms_key_id=state.key_alias_arn,
            )
            # Native S3 locking (Terraform >= 1.10); cdktf 0.21's S3Backend has no field for it yet.
            self.add_override("terraform.backend.s3.use_lockfile", True)
        tags = {"Project": config.project, "Environment": env, "Owner": cfg.owner, "CostCenter": cfg.cost_center}
        aws_provider(
            self, region=cfg.region, account_ids=cfg.account_ids, tags={**tags, "Repository": config.repository}
        )

    def _key(self, component: str, description: str, services: tuple[ServiceGrant, ...] = ()) -> KmsKey:
        where, cfg = self.where, self.cfg
        props = KmsKeyProps(
            where.naming, component, description, where.account_id, services, cfg.kms, protect=cfg.protect_stateful
        )
        return KmsKey(self, f"{component}-key", props)

    def _keys(self) -> None:
        """One key per domain: data, operations (logs, alerts, queues), ML artifacts."""
        self.data_key = self._key("data", "Encrypts the data lake, DynamoDB tables and the Kinesis stream")
        account, region = self.where.account_id, self.cfg.region
        publishers = (
            publisher_grant("cloudwatch.amazonaws.com"),
            publisher_grant("events.amazonaws.com", account_id=account, region=region),
            publisher_grant("budgets.amazonaws.com"),
        )
        logs = logs_grant(region, account)
        self.ops_key = self._key("ops", "Encrypts logs, alert topics and dead-letter queues", (logs, *publishers))
        self.ml_key = self._key("ml", "Encrypts model artifacts and SageMaker data")

    def _data_layer(self) -> None:
        """Buckets, tables and the inference-request stream."""
        cfg, naming, protect = self.cfg, self.where.naming, self.cfg.protect_stateful
        self.data_lake = DataLake(
            self,
            "data-lake",
            DataLakeProps(naming, self.where.account_id, self.data_key.ref, self.ml_key.ref, protect, cfg.data_lake),
        )
        self.tables = Tables(self, "tables", TablesProps(naming, self.data_key.ref, protect, cfg.dynamodb))
        self.streaming = Streaming(self, "streaming", StreamingProps(naming, self.data_key.ref, protect, cfg.kinesis))

    def _compute(self) -> None:
        """The functions, and the stream feeding the consumer."""
        cfg, lake, tables = self.cfg, self.data_lake, self.tables
        # Known in both phases, so the functions are configured (and granted) the same way before and after the flip.
        self.endpoint = endpoint_ref(self.where)
        self.functions = Functions(
            self,
            "functions",
            FunctionsProps(
                deployment=self.where,
                source_root=LAMBDA_SOURCE,
                raw_bucket=lake.raw.ref,
                processed_bucket=lake.processed.ref,
                model_artifacts_bucket=lake.model_artifacts.ref,
                predictions_table=tables.predictions_ref,
                model_registry_table=tables.model_registry_ref,
                stream=self.streaming.ref,
                data_key=self.data_key.ref,
                ml_key=self.ml_key.ref,
                ops_key=self.ops_key.ref,
                endpoint_name=self.endpoint.name,
                endpoint_arn=self.endpoint.arn,
                endpoints_enabled=cfg.endpoints_enabled,
                predictions_ttl_days=cfg.dynamodb.predictions_ttl_days,
                settings=cfg.functions,
                logs=cfg.logs,
            ),
        )
        consumer = self.functions.stream_consumer
        self.consumer_mapping = ConsumerMapping(
            self,
            "stream-consumer-mapping",
            ConsumerMappingProps(
                naming=self.where.naming,
                stream=self.streaming.ref,
                function_name=consumer.name,
                function_role_name=consumer.role_name,
                function_policy=consumer.policy,
                ops_key=self.ops_key.ref,
                settings=cfg.stream_consumer,
            ),
        )

    def _api(self) -> None:
        """The REST API in front of the inference function."""
        functions = self.functions
        props = InferenceApiProps(
            self.where, functions.inference.ref, functions.approval.ref, self.ops_key.ref, self.cfg.api, self.cfg.logs
        )
        self.api = InferenceApi(self, "inference-api", props)

    def _serving(self) -> None:
        """Alerts, models and endpoint config; in phase two the endpoint with its autoscaling and alarms."""
        cfg = self.cfg
        alerts = AlertsProps(self.where.naming, self.ops_key.ref, self.where.account_id, cfg.alerts)
        self.alerts = Alerts(self, "alerts", alerts)
        self.serving = ModelServing(
            self,
            "model-serving",
            ModelServingProps(
                deployment=self.where,
                ml_key=self.ml_key.ref,
                ops_key=self.ops_key.ref,
                artifacts_bucket=self.data_lake.model_artifacts.ref,
                alerts_topic=self.alerts.ref,
                traffic_shift_function=self.functions.traffic_shift.ref,
                endpoints_enabled=cfg.endpoints_enabled,
                settings=cfg.sagemaker,
                alarms=cfg.alarms,
                logs=cfg.logs,
            ),
        )

    def _workflows(self) -> None:
        """Training (with the approval gate) and batch inference: state machines over the functions and SageMaker."""
        cfg, f, lake = self.cfg, self.functions, self.data_lake
        self.workflows = Workflows(
            self,
            "workflows",
            WorkflowsProps(
                deployment=self.where,
                functions=WorkflowFunctions(f.validate.ref, f.preprocess.ref, f.evaluate.ref, f.approval.ref),
                processed_bucket=lake.processed.ref,
                artifacts_bucket=lake.model_artifacts.ref,
                registry_table=self.tables.model_registry_ref,
                alerts_topic=self.alerts.ref,
                data_key=self.data_key.ref,
                ml_key=self.ml_key.ref,
                ops_key=self.ops_key.ref,
                metric_name=cfg.functions.metric_name,
                approval_required=cfg.approval_required,
                training=cfg.training,
                batch=cfg.batch,
                logs=cfg.logs,
            ),
        )

    def _triggers(self) -> None:
        """EventBridge: the schedule and raw uploads start training; SageMaker state changes reach the alerts."""
        cfg = self.cfg
        self.event_rules = EventRules(
            self,
            "event-rules",
            EventRulesProps(
                deployment=self.where,
                training_state_machine_arn=self.workflows.training_arn,
                training_job_prefix=self.workflows.training_job_prefix,
                endpoint_name=self.endpoint.name,
                raw_bucket=self.data_lake.raw.ref,
                raw_event_prefix=cfg.data_lake.raw_event_prefix,
                alerts_topic=self.alerts.ref,
                ops_key=self.ops_key.ref,
                settings=cfg.triggers,
            ),
        )

    def _analytics(self) -> None:
        """Glue catalog, crawler and the Athena workgroup with the A/B queries."""
        cfg, lake = self.cfg, self.data_lake
        self.analytics = Analytics(
            self,
            "analytics",
            AnalyticsProps(
                self.where,
                lake.processed.ref,
                lake.model_artifacts.ref,
                lake.athena_results.ref,
                self.data_key.ref,
                self.ml_key.ref,
                self.ops_key.ref,
                cfg.data_lake.force_destroy,
                cfg.analytics,
                cfg.logs,
            ),
        )

    def _monitoring(self) -> None:
        """An alarm on everything that can fail (each construct's specs), the dashboard and the monthly budget."""
        cfg, alarms = self.cfg, self.cfg.alarms
        specs = [
            *self.event_rules.alarms,
            *self.functions.alarm_specs(alarms),
            *self.tables.alarm_specs(),
            *self.workflows.alarm_specs(),
            *self.api.alarm_specs(alarms),
            *self.streaming.alarm_specs(alarms),
            *self.consumer_mapping.alarms,
        ]
        variants = [v.name for v in cfg.sagemaker.variants] if cfg.endpoints_enabled else []
        self.monitoring = Monitoring(
            self,
            "monitoring",
            MonitoringProps(
                deployment=self.where,
                alerts_topic=self.alerts.ref,
                alarms=tuple(specs),
                shown=tuple(self.serving.alarm_specs),
                graphs=tuple(self.functions.graphs(variants)),
                runbook=RUNBOOK.format(env=self.where.naming.env),
                budget=cfg.budget,
            ),
        )
