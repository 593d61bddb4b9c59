"""One Lambda function and everything it owns: role, log group, dead-letter queue (ARCHITECTURE §5).

Secure defaults of every function (one place: :class:`LambdaFunctionProps` and :func:`_base_statements`):

- python3.12 on arm64, code from a deterministic zip (same source → same hash → no diff), X-Ray tracing active;
- its log group ``/aws/lambda/<name>`` is created *before* the function (otherwise Lambda creates one on the first
  invocation, without retention or KMS, and Terraform cannot manage it), with retention and the ops key;
- environment variables encrypted with the ops key; reserved concurrency caps cost and protects the tables;
- an SQS dead-letter queue (ops key, 14 days) for asynchronous invocations that fail every retry;
- a role that only ``lambda.amazonaws.com`` acting for this account can assume, with one inline policy: its own log
  group, X-Ray, its own DLQ, the ops key, and the grants of lambda_src/README.md on exact ARNs.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cdktf import AssetType, TerraformAsset

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.packaging import DEFAULT_OUT_DIR, FUNCTIONS, build_zip, source_hash
from constructs.policy import Statement, allow, document
from stacks.config_sections import LOG_RETENTION_DAYS

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
METRICS_NAMESPACE = "MlPipeline"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum: time to inspect and redrive a failed event
# Sid of the one statement on Resource "*": X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level
# permissions (Service Authorization Reference), so an allowlist of wildcard statements can name it.
XRAY_SID = "XRayNoResourceLevelPermissions"
# Variables every function gets; callers cannot override them.
RESERVED_VARIABLES = ("LOG_LEVEL", "METRICS_NAMESPACE", "ENVIRONMENT")
BASE_SIDS = ("WriteOwnLogGroup", XRAY_SID, "SendToOwnDeadLetterQueue", "UseOpsKey")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SID = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class LambdaFunctionProps:
    """One function of lambda_src/ and everything it owns."""

    naming: Naming  # function name {project}-{fn}-{env}, role {project}-{fn}-fn-{env}, queue {project}-{fn}-dlq-{env}
    function: str  # one of packaging.FUNCTIONS: the folder and module in lambda_src/
    description: str  # what the function does (shown in the console)
    account_id: str  # account of the function: trust-policy condition and log group ARN
    region: str  # region of the function: log group ARN
    ops_key_arn: str  # encrypts the log group, the DLQ and the environment variables
    source_root: Path  # lambda_src/ folder
    environment: Mapping[str, str] = field(default_factory=dict)  # function settings (RESERVED_VARIABLES are added)
    statements: tuple[Statement, ...] = ()  # the function's own grants: Allow statements on exact ARNs
    log_level: str = "INFO"  # LOG_LEVEL of the handlers' JSON logger
    log_retention_days: int = 365  # CloudWatch Logs retention of the function's log group
    memory_mb: int = 512  # 128-10240; CPU scales with memory
    timeout_seconds: int = 30  # 1-900
    reserved_concurrency: int = 10  # ≥ 1: caps cost and the load on downstream tables
    metrics_namespace: str = METRICS_NAMESPACE  # EMF namespace of the handlers' metrics
    partition: str = "aws"  # ARN partition (aws, aws-cn, aws-us-gov)
    build_dir: Path = DEFAULT_OUT_DIR  # cache folder of the built zips


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
        if "*" in resources:
            problems.append(f"{where}: least privilege needs exact ARNs, not Resource '*'")
        if sid in BASE_SIDS:
            problems.append(f"{where}: the Sid is reserved for the statements every function gets")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{where}: NotAction/NotResource grant everything else")
    duplicates = sorted({s for s in sids if isinstance(s, str) and sids.count(s) > 1})
    if duplicates:
        problems.append(f"duplicate Sids {duplicates}: IAM requires unique Sids within a policy")
    return problems


def _validate(props: LambdaFunctionProps) -> None:
    """Collect every problem, raise once."""
    problems = []
    if props.function not in FUNCTIONS:
        problems.append(f"function must be one of {', '.join(FUNCTIONS)} (got {props.function!r})")
    if not 128 <= props.memory_mb <= 10240:
        problems.append(f"memory_mb must be 128-10240 (got {props.memory_mb})")
    if not 1 <= props.timeout_seconds <= 900:
        problems.append(f"timeout_seconds must be 1-900 (got {props.timeout_seconds})")
    if props.reserved_concurrency < 1:
        problems.append(f"reserved_concurrency must be ≥ 1 (got {props.reserved_concurrency}; 0 disables the function)")
    if props.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(f"log_retention_days {props.log_retention_days} is not a CloudWatch Logs retention")
    if props.log_level not in LOG_LEVELS:
        problems.append(f"log_level must be one of {', '.join(LOG_LEVELS)} (got {props.log_level!r})")
    for name in props.environment:
        if name in RESERVED_VARIABLES:
            problems.append(f"environment variable {name} is set by the construct")
        elif name.startswith("AWS_") or not _VARIABLE.fullmatch(name):
            problems.append(f"environment variable {name!r} is not allowed (letters, digits, _; no AWS_ prefix)")
    problems += _statement_problems(props.statements)
    if problems:
        raise ValueError(f"function '{props.function}': " + "; ".join(problems))


def _base_statements(props: LambdaFunctionProps, log_group_name: str, dlq_arn: str) -> list[Statement]:
    """What every function needs to run: write its logs and traces, dead-letter, use the ops key."""
    logs, xray, dlq, ops_key = BASE_SIDS
    log_group_arn = f"arn:{props.partition}:logs:{props.region}:{props.account_id}:log-group:{log_group_name}"
    return [
        allow(logs, ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
        allow(xray, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        allow(dlq, ["sqs:SendMessage"], [dlq_arn]),
        # Env var decryption, and the DLQ's SSE: a sender needs GenerateDataKey and Decrypt on the queue's key.
        allow(ops_key, ["kms:Decrypt", "kms:GenerateDataKey"], [props.ops_key_arn]),
    ]


def assume_role_policy(account_id: str) -> str:
    """Only Lambda, acting for this account, may assume the role (confused-deputy guard)."""
    return document(
        {
            "Sid": "LambdaAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


class LambdaFunction(Construct):
    """Exposes ``function``, ``name``, ``arn``, ``invoke_arn``, ``role``, ``role_arn``, ``role_name``, ``policy``
    (the inline role policy: depend on it where AWS checks the role's rights at creation, e.g. an event source
    mapping), ``log_group``, ``dlq``, ``asset``."""

    def __init__(self, scope: Construct, id: str, props: LambdaFunctionProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        n = props.naming
        component = props.function.replace("_", "-")
        name = n.name(component, Kind.LAMBDA)
        log_group_name = f"/aws/lambda/{name}"
        n.check(log_group_name, Kind.LOG_GROUP, component)

        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "logs",
            name=log_group_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=props.ops_key_arn,
        )
        self.dlq = aws.sqs_queue.SqsQueue(
            self,
            "dlq",
            name=n.name(f"{component}-dlq", Kind.SQS),
            kms_master_key_id=props.ops_key_arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
        )
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name(f"{component}-fn", Kind.IAM_ROLE),
            description=f"Execution role of the {props.function} function",
            assume_role_policy=assume_role_policy(props.account_id),
        )
        statements = [*_base_statements(props, log_group_name, self.dlq.arn), *props.statements]
        self.policy = aws.iam_role_policy.IamRolePolicy(
            self,
            "policy",
            name=n.name(f"{component}-fn", Kind.IAM_POLICY),
            role=self.role.id,
            policy=document(*statements),
        )

        code = build_zip(props.function, props.source_root, props.build_dir)
        self.asset = TerraformAsset(self, "code", path=str(code), type=AssetType.FILE)
        lf = aws.lambda_function
        variables = {
            **props.environment,
            "LOG_LEVEL": props.log_level,
            "METRICS_NAMESPACE": props.metrics_namespace,
            "ENVIRONMENT": n.env,
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
            memory_size=props.memory_mb,
            timeout=props.timeout_seconds,
            reserved_concurrent_executions=props.reserved_concurrency,
            kms_key_arn=props.ops_key_arn,
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
        self.role_arn: str = self.role.arn
        self.role_name: str = self.role.name
        self.function_key: str = props.function  # e.g. "stream_consumer"
