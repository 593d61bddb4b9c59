"""Typed configuration: the environments in ``cdktf.json`` → ``context`` (ARCHITECTURE §2).

Everything reviewable lives in the committed ``cdktf.json``. :func:`load_config` validates the whole file and raises
one :class:`ConfigError` listing every problem (environment, field, what is allowed), so a bad pull request fails
before anything is synthesized.
"""

import copy
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from constructs.alarms import AlarmsSettings
from constructs.analytics import AnalyticsSettings
from constructs.aws_limits import MAX_DAYS
from constructs.data_lake import DataLakeSettings
from constructs.encryption import KmsSettings
from constructs.event_rules import TriggersSettings
from constructs.functions import FunctionsSettings
from constructs.inference_api import ApiSettings
from constructs.log_group import LogsSettings
from constructs.monitoring import (
    AlertsSettings,
    BudgetSettings,
    EmailAddress,
    HttpsEndpoint,
    check_unique_addresses,
    check_unique_endpoints,
)
from constructs.naming import LONGEST_COMPONENTS, Naming, NamingError
from constructs.quotas import concurrency_problems, limit_problems
from constructs.serving_rules import SageMakerSettings, image_problems, validate_serving
from constructs.settings import AccountId, Region, Settings, TagValue
from constructs.streaming import KinesisSettings, StreamConsumerSettings
from constructs.tables import TablesSettings
from constructs.workflows import BatchSettings, TrainingSettings
from stacks import strict_json
from stacks.state import StateLocation
from stacks.strict_json import Location

# Environment names: any number, e.g. dev, qa, staging, prod, prod-eu, team-a (2-16 characters; they are part of
# every resource name, so the generated names are checked against each service's limit as well).
ENV_PATTERN = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"
ENV_MIN_LENGTH, ENV_MAX_LENGTH = 2, 16

# Environment variable that overrides one environment's phase flag for a single run, e.g.
# ML_PIPELINE_ENDPOINTS_ENABLED_DEV=true. The committed cdktf.json stays the source of truth for review.
ENDPOINTS_OVERRIDE_PREFIX = "ML_PIPELINE_ENDPOINTS_ENABLED_"

PROJECT_PATTERN = r"[a-z][a-z0-9-]*[a-z0-9]"
SUFFIX_PATTERN = r"[a-z0-9]{1,16}"
Slug = Annotated[str, Field(pattern=f"^{PROJECT_PATTERN}$", min_length=2, max_length=32)]


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration in cdktf.json ({len(problems)} problem(s)):\n{lines}")


class StateBackendConfig(Settings):
    """Settings of the bootstrap stacks that hold the environments' Terraform state (§3, stacks/state.py): one per
    account and region that an environment deploys to, derived from the environments."""

    noncurrent_version_expire_days: int = Field(90, ge=1, le=MAX_DAYS)  # old state versions are kept this long
    kms_deletion_window_days: int = Field(30, ge=7, le=30)  # waiting period before the state key is deleted


class BackendConfig(Settings):
    """Where one environment stack keeps its state."""

    mode: Literal["s3", "local"] = "s3"  # "local" only for offline synth, tests and the emulator demo


class EnvironmentConfig(Settings):
    """One deployable environment: one ``ml-pipeline-<env>`` stack."""

    suffix: str | None = Field(None, pattern=f"^{SUFFIX_PATTERN}$")  # appended to every name
    region: Region
    account_ids: list[AccountId] = Field(min_length=1)  # the provider refuses any other account
    owner: TagValue  # Owner tag
    cost_center: TagValue  # CostCenter tag
    protect_stateful: bool = True  # prevent_destroy + deletion protection on stateful resources
    endpoints_enabled: bool = False  # THE phase flag: false = phase one (no SageMaker endpoint)
    # Each section is the settings model of the construct it configures (constructs/<module>.py), embedded as is.
    backend: BackendConfig = BackendConfig()
    kms: KmsSettings = KmsSettings()
    logs: LogsSettings = LogsSettings()
    data_lake: DataLakeSettings = DataLakeSettings()
    dynamodb: TablesSettings = TablesSettings()
    kinesis: KinesisSettings = KinesisSettings()
    sagemaker: SageMakerSettings = SageMakerSettings()
    functions: FunctionsSettings = FunctionsSettings()
    stream_consumer: StreamConsumerSettings = StreamConsumerSettings()
    api: ApiSettings = ApiSettings()
    alarms: AlarmsSettings = AlarmsSettings()
    training: TrainingSettings = TrainingSettings()
    batch: BatchSettings = BatchSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    triggers: TriggersSettings = TriggersSettings()
    budget: BudgetSettings = BudgetSettings()
    alert_emails: list[EmailAddress] = Field(default_factory=list)  # subscribed to the alerts topic (each once)
    # HTTPS endpoints subscribed to the alerts topic (chat or paging webhooks; each once; https only)
    alert_https_endpoints: list[HttpsEndpoint] = Field(default_factory=list)

    _unique_emails = field_validator("alert_emails")(check_unique_addresses)
    _unique_endpoints = field_validator("alert_https_endpoints")(check_unique_endpoints)

    @property
    def alerts(self) -> AlertsSettings:
        """Who gets the alerts (constructs/monitoring.py)."""
        return AlertsSettings(alert_emails=self.alert_emails, alert_https_endpoints=self.alert_https_endpoints)

    @property
    def approval_required(self) -> bool:
        """The model approval gate: as configured, else on exactly where stateful resources are protected."""
        required = self.training.approval_required
        return self.protect_stateful if required is None else required

    @property
    def deploy_account(self) -> str:
        """The account the stack is deployed with: it holds the state and ends the global (bucket) names."""
        return self.account_ids[0]


class AppConfig(Settings):
    """The whole ``context`` block of cdktf.json."""

    project: Slug  # first part of every resource name
    repository: TagValue  # Repository tag: where this code lives
    state_backend: StateBackendConfig = StateBackendConfig()  # settings shared by every state bootstrap
    environments: dict[str, EnvironmentConfig]

    def state_location(self, env: str) -> StateLocation:
        """Where ``env`` keeps its state: its deploy account (the first of account_ids) and its region."""
        cfg = self.environments[env]
        return StateLocation(self.project, cfg.deploy_account, cfg.region)

    @property
    def state_locations(self) -> list[StateLocation]:
        """Every account and region that needs a state bootstrap, in a stable order."""
        return sorted({self.state_location(env) for env in self.environments})

    def naming(self, env: str) -> Naming:
        return _naming(self.project, env, self.environments[env])


def _naming(project: str, env: str, cfg: "EnvironmentConfig") -> Naming:
    """Names of one environment; global names (buckets) carry its deploy account and region."""
    return Naming(project, env, cfg.suffix, account_id=cfg.deploy_account, region=cfg.region)


def _where(loc: tuple[Any, ...]) -> str:
    """Name a location in the context: "environment 'dev', field 'kinesis.mode'" or "field 'project'"."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "environments":
        return f"environment '{parts[1]}', field '{'.'.join(parts[2:]) or '(environment)'}'"
    return f"field '{'.'.join(parts) or '(context)'}'"


def _describe(error: Any) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; unknown keys are rejected)"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message} (got {_shown(error['input'])})"
    return f"{_where(error['loc'])}: {message}"


def _shown(value: Any) -> str:
    text = repr(value)
    size = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= 80 else f"{text[:60]}… ({size} characters)"


def _naming_problems(project: str, env: str, cfg: EnvironmentConfig) -> list[str]:
    """Every generated name of one (schema-valid) environment that breaks an AWS naming rule."""
    naming = _naming(project, env, cfg)
    problems = []
    for kind, component in LONGEST_COMPONENTS.items():
        try:
            naming.name(component, kind)
        except NamingError as error:
            problems.append(f"environment '{env}', field 'project/suffix': {error.detail}")
            break
    return problems


def _environment_problems(project: str | None, env: str, cfg: EnvironmentConfig) -> list[str]:
    """Rules spanning sections of one schema-valid environment, reported under the field a reviewer has to change."""
    problems = []
    if (cfg.protect_stateful or cfg.endpoints_enabled) and not cfg.alerts.subscriber_count:
        why = "protect_stateful" if cfg.protect_stateful else "endpoints_enabled"
        problems.append(
            f"environment '{env}', field 'alert_emails': the alerts topic needs at least one subscriber (an address "
            f"in alert_emails or a URL in alert_https_endpoints) while {why} is true; without one no alarm reaches "
            "a person"
        )
    if cfg.protect_stateful and cfg.data_lake.force_destroy:
        problems.append(
            f"environment '{env}', field 'data_lake.force_destroy': cannot be true while protect_stateful is true"
        )
    # The state buckets (<project>-tfstate-logs-<account>-<region>) are always shorter than the model-artifacts
    # bucket, so the environment's own names cover them.
    naming_problems = _naming_problems(project, env, cfg) if project else []
    # Variant-derived names are checked once the fixed names fit: a long project name or suffix is reported once.
    naming = _naming(project, env, cfg) if project and not naming_problems else None
    problems += validate_serving(env, cfg.region, cfg.sagemaker, naming, endpoints_enabled=cfg.endpoints_enabled)
    problems += limit_problems(env, cfg.functions, cfg.api)
    problems += [
        f"environment '{env}', field '{at}': {message}"
        for at, message in image_problems("training.image_uri", cfg.region, cfg.training.image_uri)
    ]
    return problems + naming_problems


def _shared_account_problems(environments: dict[str, EnvironmentConfig]) -> list[str]:
    """API Gateway's CloudWatch role is one setting per account and region: only one environment may manage it."""
    owners: dict[tuple[str, str], str] = {}
    problems = []
    for env, cfg in environments.items():
        if not cfg.api.manage_account_logging_role:
            continue
        for account in cfg.account_ids:
            other = owners.setdefault((account, cfg.region), env)
            if other != env:
                problems.append(
                    f"environment '{env}', field 'api.manage_account_logging_role': environment '{other}' already "
                    f"manages the API Gateway logging role of account {account} in {cfg.region} (one per account "
                    "and region); set it to false here"
                )
    return problems


def _apply_overrides(context: dict[str, Any], environ: dict[str, str]) -> list[str]:
    problems: list[str] = []
    environments = context.get("environments")
    if not isinstance(environments, dict):
        return problems  # the schema reports `environments` itself
    for key, value in environ.items():
        if not key.startswith(ENDPOINTS_OVERRIDE_PREFIX):
            continue
        # Shells cannot export a name with "-": PROD_EU means prod-eu (environment names never contain "_").
        env = key.removeprefix(ENDPOINTS_OVERRIDE_PREFIX).lower().replace("_", "-")
        if not isinstance(environments.get(env), dict):
            known = ", ".join(sorted(e for e, v in environments.items() if isinstance(v, dict))) or "none"
            problems.append(f"{key}: cdktf.json has no environment '{env}'; its environments: {known}")
        elif value.lower() not in ("true", "false"):
            problems.append(f"environment '{env}', field 'endpoints_enabled' ({key}): must be true or false")
        else:
            environments[env]["endpoints_enabled"] = value.lower() == "true"
    return problems


def parse_config(
    context: Any, environ: dict[str, str] | None = None, known: Sequence[tuple[Location, str]] = ()
) -> AppConfig:
    """Validate a ``context`` dict; raise :class:`ConfigError` with every problem found.

    ``known`` are problems already found at given locations (strict JSON); schema errors at or below them are not
    repeated. Cross-field rules run for every environment whose own fields are valid, whatever fails elsewhere.
    """
    if not isinstance(context, dict):
        raise ConfigError([f"field 'context': must be a JSON object with the configuration, got {_kind(context)}"])
    context = copy.deepcopy(context)  # private copy: overrides never touch the caller's dict
    problems = [f"{_where(loc)}: {message}" for loc, message in known]
    problems += _apply_overrides(context, dict(os.environ if environ is None else environ))
    environments = context.get("environments")
    problems += _environment_name_problems(environments)
    config = None
    try:
        config = AppConfig.model_validate(context)
    except ValidationError as error:
        problems += [_describe(e) for e in error.errors() if not _below(tuple(e["loc"]), known)]
    project = context.get("project") if isinstance(context.get("project"), str) else None
    project = project if project and re.fullmatch(PROJECT_PATTERN, project) else None
    valid_envs = _valid_environments(environments)
    for env, cfg in valid_envs.items():
        problems += _environment_problems(project, env, cfg)
    problems += _shared_account_problems(valid_envs)
    # Reserved concurrency adds up over every environment sharing an account and region.
    problems += concurrency_problems({e: (c.account_ids, c.region, c.functions) for e, c in valid_envs.items()})
    if isinstance(environments, dict) and not environments:
        problems.append("field 'environments': at least one environment is required")
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _valid_env_name(env: str) -> bool:
    return ENV_MIN_LENGTH <= len(env) <= ENV_MAX_LENGTH and re.fullmatch(ENV_PATTERN, env) is not None


def _environment_name_problems(environments: Any) -> list[str]:
    if not isinstance(environments, dict):
        return []
    return [
        f"environment '{env}': not a valid environment name; allowed: {ENV_MIN_LENGTH}-{ENV_MAX_LENGTH} characters of "
        "a-z, 0-9 and single hyphens, starting with a letter (e.g. dev, qa, prod-eu)"
        for env in environments
        if not _valid_env_name(env)
    ]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _below(loc: Location, known: Sequence[tuple[Location, str]]) -> bool:
    return any(loc[: len(at)] == at for at, _ in known)


def _valid(model: type[Settings], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _valid_environments(environments: Any) -> dict[str, EnvironmentConfig]:
    """The environments whose own fields pass the schema (each validated on its own)."""
    if not isinstance(environments, dict):
        return {}
    valid = {}
    for env, settings in environments.items():
        if _valid_env_name(env) and (cfg := _valid(EnvironmentConfig, settings)) is not None:
            valid[env] = cfg
    return valid


def load_config(path: Path, environ: dict[str, str] | None = None) -> AppConfig:
    """Read ``cdktf.json`` (strict JSON, see stacks/strict_json.py) and validate its ``context``."""
    try:
        document, known = strict_json.parse(path.read_bytes())
    except OSError as error:
        raise ConfigError([f"cannot read {path}: {error.strerror or error}"]) from None
    except strict_json.StrictJsonError as error:
        raise ConfigError([f"cannot read {path}: {error}"]) from None
    if not isinstance(document, dict):
        raise ConfigError([f"cannot read {path}: the top level must be a JSON object, got {_kind(document)}"])
    context_known = [(loc[1:], message) for loc, message in known if loc[:1] == ("context",)]
    outside = [
        f"cannot read {path}: '{'.'.join(map(str, loc))}' {message}"
        for loc, message in known
        if loc[:1] != ("context",)
    ]
    if outside:
        raise ConfigError(outside)
    try:
        return parse_config(document.get("context", {}), environ, context_known)
    except RecursionError:
        raise ConfigError([f"cannot read {path}: nested too deeply"]) from None
