"""Typed configuration: the environments in ``cdktf.json`` → ``context`` (ARCHITECTURE §2).

Everything reviewable lives in the committed ``cdktf.json``. :func:`load_config` validates the whole file and raises
one :class:`ConfigError` listing every problem (environment, field, what is allowed), so a bad pull request fails
before anything is synthesized.
"""

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from constructs.naming import LONGEST_COMPONENTS, Kind, Naming, NamingError
from constructs.serving_rules import validate_serving
from stacks.config_sections import (
    AWS_REGIONS,
    AccountId,
    AlarmsConfig,
    ApiConfig,
    BackendConfig,
    DataLakeConfig,
    DynamoDbConfig,
    FunctionsConfig,
    KinesisConfig,
    KmsConfig,
    LogsConfig,
    Region,
    SageMakerConfig,
    StateBackendConfig,
    StreamConsumerConfig,
    StrictModel,
    check_region,
)

ENVIRONMENTS = ("dev", "staging", "prod")

# Environment variable that overrides one environment's phase flag for a single run, e.g.
# ML_PIPELINE_ENDPOINTS_ENABLED_DEV=true. The committed cdktf.json stays the source of truth for review.
ENDPOINTS_OVERRIDE_PREFIX = "ML_PIPELINE_ENDPOINTS_ENABLED_"

PROJECT_PATTERN = r"[a-z][a-z0-9-]*[a-z0-9]"
SUFFIX_PATTERN = r"[a-z0-9]{1,16}"
Slug = Annotated[str, Field(pattern=f"^{PROJECT_PATTERN}$", min_length=2, max_length=32)]


def state_bucket_name(project: str, account_id: str, region: str, kind: str = "") -> str:
    """State buckets are global names: the account and region make them unique."""
    return "-".join(p for p in (project, "tfstate", kind, account_id, region) if p)


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration in cdktf.json ({len(problems)} problem(s)):\n{lines}")


class EnvironmentConfig(StrictModel):
    """One deployable environment: one ``ml-pipeline-<env>`` stack."""

    suffix: str | None = Field(None, pattern=f"^{SUFFIX_PATTERN}$")  # appended to every name
    region: Region
    account_ids: list[AccountId] = Field(min_length=1)  # the provider refuses any other account
    owner: str = Field(min_length=1, max_length=128)  # Owner tag
    cost_center: str = Field(min_length=1, max_length=128)  # CostCenter tag
    protect_stateful: bool = True  # prevent_destroy + deletion protection on stateful resources
    endpoints_enabled: bool = False  # THE phase flag: false = phase one (no SageMaker endpoint)
    backend: BackendConfig = BackendConfig()
    kms: KmsConfig = KmsConfig()
    logs: LogsConfig = LogsConfig()
    data_lake: DataLakeConfig = DataLakeConfig()
    dynamodb: DynamoDbConfig = DynamoDbConfig()
    kinesis: KinesisConfig = KinesisConfig()
    sagemaker: SageMakerConfig = SageMakerConfig()
    functions: FunctionsConfig = FunctionsConfig()
    stream_consumer: StreamConsumerConfig = StreamConsumerConfig()
    api: ApiConfig = ApiConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    alert_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list
    )  # e-mail addresses subscribed to the alerts topic

    _region = field_validator("region")(check_region)


class AppConfig(StrictModel):
    """The whole ``context`` block of cdktf.json."""

    project: Slug  # first part of every resource name
    repository: str = Field(min_length=1)  # Repository tag: where this code lives
    state_backend: StateBackendConfig
    environments: dict[str, EnvironmentConfig]

    @property
    def state_bucket(self) -> str:
        return state_bucket_name(self.project, self.state_backend.account_id, self.state_backend.region)

    @property
    def state_logs_bucket(self) -> str:
        return state_bucket_name(self.project, self.state_backend.account_id, self.state_backend.region, "logs")

    @property
    def state_key_alias(self) -> str:
        return f"alias/{self.project}-tfstate"

    @property
    def state_key_alias_arn(self) -> str:
        sb = self.state_backend
        return f"arn:aws:kms:{sb.region}:{sb.account_id}:{self.state_key_alias}"

    def naming(self, env: str) -> Naming:
        return Naming(self.project, env, self.environments[env].suffix)


def _location(loc: tuple[Any, ...]) -> tuple[str | None, str]:
    """Split a pydantic error location into (environment, dotted field)."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "environments":
        return parts[1], ".".join(parts[2:]) or "(environment)"
    return None, ".".join(parts) or "(context)"


def _describe(error: dict[str, Any]) -> str:
    env, field = _location(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; unknown keys are rejected)"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message} (got {error['input']!r})"
    where = f"environment '{env}', field '{field}'" if env else f"field '{field}'"
    return f"{where}: {message}"


def _naming_problems(context: dict[str, Any]) -> list[str]:
    """Names too long after suffixing, checked on the raw context so they are listed with schema problems."""
    project = context.get("project")
    if not isinstance(project, str) or not re.fullmatch(PROJECT_PATTERN, project):
        return []  # the schema reports the project itself
    problems = []
    backend = context.get("state_backend")
    valid_backend = isinstance(backend, dict) and backend.get("region") in AWS_REGIONS
    if valid_backend and isinstance(backend.get("account_id"), str) and re.fullmatch(r"\d{12}", backend["account_id"]):
        for kind in ("", "logs"):
            bucket = state_bucket_name(project, backend["account_id"], backend["region"], kind)
            try:
                Naming(project, "shared").check(bucket, Kind.S3_BUCKET, "tfstate")
            except NamingError as error:
                problems.append(f"field 'project': {error.detail}")
    environments = context.get("environments")
    for env, settings in (environments or {}).items() if isinstance(environments, dict) else ():
        suffix = settings.get("suffix") if isinstance(settings, dict) else None
        if env not in ENVIRONMENTS or not (suffix is None or re.fullmatch(SUFFIX_PATTERN, str(suffix))):
            continue
        naming = Naming(project, env, suffix)
        for kind, component in LONGEST_COMPONENTS.items():
            try:
                naming.name(component, kind)
            except NamingError as error:
                problems.append(f"environment '{env}', field 'project/suffix': {error.detail}")
                break
    return problems


def _cross_field_problems(config: AppConfig) -> list[str]:
    """Rules spanning sections, reported under the field a reviewer has to change."""
    problems = []
    for env, cfg in config.environments.items():
        if cfg.protect_stateful and cfg.data_lake.force_destroy:
            problems.append(
                f"environment '{env}', field 'data_lake.force_destroy': cannot be true while protect_stateful is true"
            )
        problems += validate_serving(env, cfg.region, cfg.sagemaker, endpoints_enabled=cfg.endpoints_enabled)
    return problems


def _apply_overrides(context: dict[str, Any], environ: dict[str, str]) -> list[str]:
    problems = []
    environments = context.get("environments")
    environments = environments if isinstance(environments, dict) else {}
    for key, value in environ.items():
        if not key.startswith(ENDPOINTS_OVERRIDE_PREFIX):
            continue
        env = key.removeprefix(ENDPOINTS_OVERRIDE_PREFIX).lower()
        if not isinstance(environments.get(env), dict):
            problems.append(f"{key}: no environment '{env}'; allowed: {', '.join(ENVIRONMENTS)}")
        elif value.lower() not in ("true", "false"):
            problems.append(f"environment '{env}', field 'endpoints_enabled' ({key}): must be true or false")
        else:
            environments[env]["endpoints_enabled"] = value.lower() == "true"
    return problems


def parse_config(context: dict[str, Any], environ: dict[str, str] | None = None) -> AppConfig:
    """Validate a ``context`` dict; raise :class:`ConfigError` with every problem found."""
    context = json.loads(json.dumps(context))  # private copy: overrides never touch the caller's dict
    problems = _apply_overrides(context, dict(os.environ if environ is None else environ))
    environments = context.get("environments")
    unknown_envs = sorted(set(environments) - set(ENVIRONMENTS)) if isinstance(environments, dict) else []
    problems += [f"environment '{e}': unknown environment; allowed: {', '.join(ENVIRONMENTS)}" for e in unknown_envs]
    config = None
    try:
        config = AppConfig.model_validate(context)
    except ValidationError as error:
        problems += [_describe(e) for e in error.errors()]
    problems += _naming_problems(context)
    if config is not None:
        problems += _cross_field_problems(config)
        if not config.environments:
            problems.append("field 'environments': at least one environment is required")
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: Path, environ: dict[str, str] | None = None) -> AppConfig:
    """Read ``cdktf.json`` and validate its ``context``."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError([f"cannot read {path}: {error}"]) from None
    return parse_config(document.get("context", {}), environ)
