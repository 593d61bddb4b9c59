"""One Lambda function and everything it owns: role, log group, dead-letter queue (ARCHITECTURE §5).

Secure defaults of every function (one place: this module, with the knobs in
:class:`~constructs.functions.FunctionsSettings`):

- python3.12 on arm64, code from a deterministic zip (same source → same hash → no diff), X-Ray tracing active;
- its log group ``/aws/lambda/<name>`` is created *before* the function (otherwise Lambda creates one on the first
  invocation, without retention or KMS, and Terraform cannot manage it), with retention and the ops key;
- environment variables encrypted with the ops key; reserved concurrency only where ``reserved_concurrency`` names
  the function (a reservation counts against the account's quota, see constructs/quotas.py);
- an SQS dead-letter queue (ops key, 14 days) for asynchronous invocations that fail every retry;
- a role that only ``lambda.amazonaws.com`` acting for this account can assume, with one inline policy: its own log
  group, X-Ray, its own DLQ, the ops key, and the grants of lambda_src/README.md on exact ARNs.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from cdktf import AssetType, TerraformAsset

from constructs import Construct
from constructs.alarms import AlarmSpec, AlarmsSettings, Comparison, Stage, queue_depth_alarm
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings, owned_log_group
from constructs.naming import Kind
from constructs.packaging import DEFAULT_OUT_DIR, FUNCTIONS, build_zip, source_hash
from constructs.policy import Statement, allow, document, service_trust_policy
from constructs.refs import Deployment, FunctionRef, KeyRef

if TYPE_CHECKING:  # constructs.functions builds on this module; the settings are only read here
    from constructs.functions import FunctionName, FunctionsSettings

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
# EMF namespace of the handlers' metrics: dashboards and alarms read it, so it is not a per-environment knob.
METRICS_NAMESPACE = "MlPipeline"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to inspect and redrive a failed event
# Sid of the one statement on Resource "*": X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level
# permissions (Service Authorization Reference), so an allowlist of wildcard statements can name it.
XRAY_SID = "XRayNoResourceLevelPermissions"
TRUST_SID = "LambdaAssumesRoleForThisAccount"
# A function's own statements on Resource "*": only actions AWS offers no resource-level permission for, each by Sid
# (tests/unit/test_invariants.py keeps the same allowlist with the reasons).
WILDCARD_SIDS = frozenset({"AnswerWorkflowTasksNoResourceLevelPermissions"})
# Variables every function gets (a contract with lambda_src/mlp_common); callers cannot override them.
ENV_LOG_LEVEL = "LOG_LEVEL"
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"
ENV_ENVIRONMENT = "ENVIRONMENT"
RESERVED_VARIABLES = (ENV_LOG_LEVEL, ENV_METRICS_NAMESPACE, ENV_ENVIRONMENT)
BASE_SIDS = ("WriteOwnLogGroup", XRAY_SID, "SendToOwnDeadLetterQueue", "UseOpsKey")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SID = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class LambdaFunctionProps:
    """One function of lambda_src/ and everything it owns; its knobs are ``settings`` and ``logs``."""

    # naming: function {project}-{fn}-{env}, role {project}-{fn}-fn-{env}, queue {project}-{fn}-dlq-{env};
    # account: trust-policy condition and log group ARN; region and partition: log group ARN
    deployment: Deployment
    function: str  # one of packaging.FUNCTIONS: the folder and module in lambda_src/
    description: str  # what the function does (shown in the console)
    ops_key: KeyRef  # encrypts the log group, the DLQ and the environment variables
    source_root: Path  # lambda_src/ folder
    settings: "FunctionsSettings"  # memory, timeout, reserved concurrency, log level
    logs: LogsSettings  # retention of the function's log group
    environment: Mapping[str, str] = field(default_factory=dict)  # function settings (RESERVED_VARIABLES are added)
    statements: tuple[Statement, ...] = ()  # the function's own grants: Allow statements on exact ARNs
    build_dir: Path = DEFAULT_OUT_DIR  # cache folder of the built zips
    timeout_seconds: int | None = None  # this function's own timeout (None: settings.timeout_seconds)


def _statement_problems(statements: tuple[Statement, ...]) -> list[str]:
    problems = []
    sids = [s.get("Sid") for s in statements]
    for statement in statements:
        sid = statement.get("Sid")
        where = f"statement {sid!r}"
        if not isinstance(sid, str) or not _SID.fullmatch(sid):
            problems.append(f"{where}: needs an alphanumeric Sid")
        if statement.get("Effect") != "Allow":
            problems.append(f"{where}: must be an Allow statement")
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources or []
        if not resources:
            problems.append(f"{where}: names no Resource")
        if "*" in resources and sid not in WILDCARD_SIDS:
            problems.append(f"{where}: least privilege needs exact ARNs, not Resource '*'")
        if sid in BASE_SIDS:
            problems.append(f"{where}: the Sid is reserved for the statements every function gets")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{where}: NotAction/NotResource grant everything else")
    duplicates = sorted({s for s in sids if isinstance(s, str) and sids.count(s) > 1})
    if duplicates:
        problems.append(f"duplicate Sids {duplicates}: IAM requires unique Sids within a policy")
    return problems


def _environment_problems(environment: Mapping[str, str]) -> list[str]:
    problems = []
    for name in environment:
        if name in RESERVED_VARIABLES:
            problems.append(f"environment variable {name} is set by the construct")
        elif name.startswith("AWS_") or not _VARIABLE.fullmatch(name):
            problems.append(f"environment variable {name!r} is not allowed (letters, digits, _; no AWS_ prefix)")
    return problems


def _validate(props: LambdaFunctionProps) -> None:
    """Collect every wiring problem, raise once (the settings models have checked the knobs)."""
    problems = []
    if props.function not in FUNCTIONS:
        problems.append(f"function must be one of {', '.join(FUNCTIONS)} (got {props.function!r})")
    problems += _environment_problems(props.environment)
    problems += _statement_problems(props.statements)
    if problems:
        raise ValueError(f"function '{props.function}': " + "; ".join(problems))


def _base_statements(props: LambdaFunctionProps, log_group_name: str, dlq_arn: str) -> list[Statement]:
    """What every function needs to run: write its logs and traces, dead-letter, use the ops key."""
    logs, xray, dlq, ops_key = BASE_SIDS
    d = props.deployment
    log_group_arn = f"arn:{d.partition}:logs:{d.region}:{d.account_id}:log-group:{log_group_name}"
    return [
        allow(logs, ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
        allow(xray, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        allow(dlq, ["sqs:SendMessage"], [dlq_arn]),
        # Env var decryption, and the DLQ's SSE: a sender needs GenerateDataKey and Decrypt on the queue's key.
        allow(ops_key, ["kms:Decrypt", "kms:GenerateDataKey"], [props.ops_key.arn]),
    ]


class LambdaFunction(Construct):
    """Exposes ``ref`` (:class:`~constructs.refs.FunctionRef` for the next construct), ``function``, ``name``,
    ``arn``, ``invoke_arn``, ``role``, ``role_arn``, ``role_name``, ``policy`` (the inline role policy: depend on it
    where AWS checks the role's rights at creation, e.g. an event source mapping), ``log_group``, ``dlq``, ``asset``,
    ``function_key``."""

    def __init__(self, scope: Construct, id: str, props: LambdaFunctionProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        n, settings = props.deployment.naming, props.settings
        component = props.function.replace("_", "-")
        name = n.name(component, Kind.LAMBDA)
        log_group_name = f"/aws/lambda/{name}"

        self.log_group = owned_log_group(
            self,
            "logs",
            naming=n,
            name=log_group_name,
            component=component,
            retention_days=props.logs.retention_days,
            kms_key_arn=props.ops_key.arn,
        )
        self.dlq = aws.sqs_queue.SqsQueue(
            self,
            "dlq",
            name=n.name(f"{component}-dlq", Kind.SQS),
            kms_master_key_id=props.ops_key.arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
        )
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name(f"{component}-fn", Kind.IAM_ROLE),
            description=f"Execution role of the {props.function} function",
            assume_role_policy=service_trust_policy(TRUST_SID, "lambda.amazonaws.com", props.deployment.account_id),
        )
        statements = [*_base_statements(props, log_group_name, self.dlq.arn), *props.statements]
        self.policy = aws.iam_role_policy.IamRolePolicy(
            self,
            "policy",
            name=n.name(f"{component}-fn", Kind.IAM_POLICY),
            role=self.role.id,
            policy=document(*statements),
        )

        self.timeout_seconds: int = props.timeout_seconds or settings.timeout_seconds
        self.dlq_name: str = self.dlq.name
        code = build_zip(props.function, props.source_root, props.build_dir)
        self.asset = TerraformAsset(self, "code", path=str(code), type=AssetType.FILE)
        lf = aws.lambda_function
        variables = {
            **props.environment,
            ENV_LOG_LEVEL: settings.log_level,
            ENV_METRICS_NAMESPACE: METRICS_NAMESPACE,
            ENV_ENVIRONMENT: n.env,
        }
        self.function = lf.LambdaFunction(
            self,
            "function",
            function_name=name,
            description=props.description,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=f"{props.function}.handler",
            filename=self.asset.path,
            source_code_hash=source_hash(code),
            memory_size=settings.memory_mb,
            timeout=self.timeout_seconds,
            # None (no entry) leaves the attribute out: the function shares the account's unreserved pool.
            reserved_concurrent_executions=settings.reserved_concurrency.get(cast("FunctionName", props.function)),
            kms_key_arn=props.ops_key.arn,
            environment=lf.LambdaFunctionEnvironment(variables=dict(sorted(variables.items()))),
            tracing_config=lf.LambdaFunctionTracingConfig(mode="Active"),
            dead_letter_config=lf.LambdaFunctionDeadLetterConfig(target_arn=self.dlq.arn),
            # The log group must exist first (or Lambda creates an unencrypted one); CreateFunction checks that the
            # role may already send to the DLQ and write traces, so the inline policy must be attached first too.
            depends_on=[self.log_group, self.policy],
        )
        self.name: str = self.function.function_name
        self.arn: str = self.function.arn
        self.invoke_arn: str = self.function.invoke_arn
        self.ref = FunctionRef(name=self.name, arn=self.arn, invoke_arn=self.invoke_arn)
        self.role_arn: str = self.role.arn
        self.role_name: str = self.role.name
        self.function_key: str = props.function  # e.g. "stream_consumer"

    def alarm_specs(self, stage: Stage, alarms: AlarmsSettings) -> list[AlarmSpec]:
        """Errors, throttles, an invocation close to the timeout, and a failed asynchronous event in the DLQ."""
        key, name = self.node.id, self.name  # e.g. "stream-consumer", its function name
        dimensions = {"FunctionName": name}
        near_timeout_ms = self.timeout_seconds * 1000 * alarms.function_duration_timeout_percent / 100

        def spec(
            kind: str, metric: str, statistic: str, threshold: float, comparison: Comparison, check: str
        ) -> AlarmSpec:
            return AlarmSpec(
                id=f"{key}-{kind}",
                name=f"{key}-{kind}",
                description=check,
                stage=stage,
                namespace="AWS/Lambda",
                metric_name=metric,
                dimensions=dimensions,
                statistic=statistic,
                threshold=threshold,
                comparison=comparison,
                period=300,
                evaluation_periods=1,
            )

        logs = f"/aws/lambda/{name}"
        return [
            spec(
                "errors",
                "Errors",
                "Sum",
                alarms.function_errors,
                "GreaterThanOrEqualToThreshold",
                f"Function {key}: invocations failed. Check first: ERROR lines in {logs} "
                "(CloudWatch Logs Insights: filter level = 'ERROR'), then the X-Ray trace of a failed request.",
            ),
            spec(
                "throttles",
                "Throttles",
                "Sum",
                0,
                "GreaterThanThreshold",
                f"Function {key}: invocations throttled. Check first: the account's concurrent executions "
                "(ConcurrentExecutions, the Lambda quota) and functions.reserved_concurrency for this function.",
            ),
            spec(
                "duration",
                "Duration",
                "Maximum",
                near_timeout_ms,
                "GreaterThanThreshold",
                f"Function {key}: an invocation took over {alarms.function_duration_timeout_percent}% of its "
                f"{self.timeout_seconds} s timeout. Check first: the slow dependency in its X-Ray traces, then memory "
                "(more memory is more CPU) before raising the timeout.",
            ),
            queue_depth_alarm(
                f"{key}-dlq-depth",
                f"{key}-dlq-depth",
                stage,
                self.dlq_name,
                f"Function {key}: an asynchronous event failed every retry and waits in its dead-letter queue. "
                f"Check first: the message and the ERROR lines in {logs} at that time; fix, then redrive.",
            ),
        ]
