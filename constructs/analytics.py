"""Glue catalog, crawler and Athena for the A/B questions (ARCHITECTURE §7, issue #10 item 5).

Per production variant and UTC day: how many requests, the mean model score, and the latency (mean and p99).

**Tables are defined here, not discovered.** The database holds three ``aws_glue_catalog_table`` resources with a known
schema (the data contracts of lambda_src/README.md, SageMaker data capture and DynamoDB export), and the crawler has
*catalog targets*: it only adds the partitions of tables that already exist. The alternative -- S3 targets with a
``table_prefix`` and exclusions -- lets the crawler invent table names, column types and partition names on its first
run. Then the named queries would name tables that do not exist until a crawl has run (and that a crawl over odd data
can rename or retype); Terraform would not own the schema; and a column such as ``captureData.endpointOutput.data``
would be whatever type the sample suggested. With explicit tables the queries are valid from the first apply, a unit
test checks every table and column they name, and the crawler's schema change policy is ``LOG`` in both directions:
it never changes or deletes a table Terraform owns (AWS refuses ``DEPRECATE_IN_DATABASE`` for catalog targets anyway)
and its configuration makes new partitions inherit the table's schema and SerDe (``InheritFromTable``).

The tables:

- ``data_capture``: ``s3://<model-artifacts>/data-capture/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/*.jsonl``,
  one SageMaker capture record per line. The six folder levels are the partition keys, so the crawler maps each folder
  to its key (the layout is not ``key=value``, which Athena's ``MSCK REPAIR TABLE`` would need). This is the table the
  crawler serves: requests and mean score come from here.
- ``processed_records``: ``s3://<processed>/processed/``, the preprocess function's JSON Lines ``{"id", "features"}``.
  Unpartitioned: its keys mirror whatever key a raw upload had, so no folder level means the same thing everywhere.
- ``prediction_exports``: ``s3://<processed>/exports/predictions/``, DynamoDB exports (``DYNAMODB_JSON``) of the
  predictions table, which is where latency lives (data capture has none). An export is laid out as
  ``AWSDynamoDB/<export-id>/data/*.json.gz`` with its manifests *beside* ``data/``, so no folder level is a partition
  key either; each export is a full snapshot, and the query keeps one copy of each ``request_id`` (from the newest
  export) and reads only ``.../data/`` files (``"$path"``).

Athena reads an unpartitioned table's location recursively, so the two unpartitioned tables are complete as soon as
objects land: the crawler targets only ``data_capture`` (:data:`CRAWLED_TABLES`). Listing an unpartitioned table with
sub-folders in a catalog target would only make the crawler try to add partitions the table does not have.

Secure defaults (knobs in :class:`AnalyticsSettings`):

- a Glue security configuration: S3 SSE-KMS and job bookmarks CSE-KMS with the data key, CloudWatch Logs SSE-KMS with
  the ops key; the crawler uses it, and its log group -- ``/aws-glue/crawlers-role/<role>-<security configuration>``,
  where Glue writes a crawler's logs once a security configuration is attached -- is created first with our retention
  and the ops key;
- the crawler role: only Glue acting for this account assumes it; one inline policy on exact ARNs (the catalog, the
  database, the crawled tables; the crawled prefixes; the keys of those objects; its own log group); no ``*``;
- the Athena workgroup enforces its configuration (clients cannot turn encryption off or move results), writes results
  to ``s3://<athena-results>/results/`` with SSE-KMS and the data key (the bucket's key: its policy refuses any other),
  checks the results bucket's owner, publishes CloudWatch metrics, and cancels a query past the bytes-scanned cutoff.
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from constructs import Construct
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings, owned_log_group
from constructs.model_serving import DATA_CAPTURE_PREFIX
from constructs.naming import Kind, Naming, NamingError
from constructs.policy import Statement, allow, document, service_trust_policy
from constructs.refs import BucketRef, Deployment, KeyRef
from constructs.settings import Settings

# --- facts about Glue and Athena ---------------------------------------------------------------------------------

# Athena's minimum for BytesScannedCutoffPerQuery is 10,000,000 bytes (Athena API reference, WorkGroupConfiguration);
# 10 MiB is the smallest whole number of MiB above it. There is no AWS maximum: 1 PiB only catches a unit mistake.
MIN_CUTOFF_MB = 10
MAX_CUTOFF_MB = 1024**3
MIB = 1024 * 1024
# Athena QueryString is at most 262,144 characters, a named query's Description at most 1,024 (CreateNamedQuery).
MAX_QUERY_LENGTH = 262_144
MAX_DESCRIPTION_LENGTH = 1_024
# Glue cron: cron(Minutes Hours Day-of-month Month Day-of-week Year), UTC ("Time-based schedules for jobs and
# crawlers"). One of Day-of-month and Day-of-week must be "?": Glue refuses a value (or *) in both.
CRON_FIELDS = ("Minutes", "Hours", "Day-of-month", "Month", "Day-of-week", "Year")
_CRON = re.compile(r"cron\((?P<body>[^()]*)\)")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*?,/#-]+")


@dataclass(frozen=True)
class NameRule:
    """A Glue or Athena naming rule (API reference of each create call)."""

    max_len: int
    pattern: str  # full match
    describe: str


# Glue accepts any single-line string for database and table names, but Athena (Hive DDL) reads only lower-case
# letters, digits and underscores: a hyphen makes every query quote the name, and upper case is folded silently.
GLUE_CATALOG_NAME = NameRule(255, r"[a-z0-9_]+", "1-255 lower-case letters, digits and _ (Athena reads no other)")
ATHENA_WORKGROUP = NameRule(128, r"[A-Za-z0-9._-]+", "1-128 letters, digits and ._-")
ATHENA_NAMED_QUERY = NameRule(128, r"[A-Za-z0-9._-]+", "1-128 letters, digits and ._-")
GLUE_CRAWLER = NameRule(255, r"[A-Za-z0-9._-]+", "1-255 letters, digits and ._-")
GLUE_SECURITY_CONFIGURATION = NameRule(255, r"[A-Za-z0-9._-]+", "1-255 letters, digits and ._-")

# --- the tables (data contracts) ---------------------------------------------------------------------------------

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
# The OpenX SerDe lower-cases JSON keys (captureData -> capturedata, DynamoDB's "Item"/"S"/"N" -> item/s/n), so the
# Glue columns, which Athena requires in lower case, match them.
CASE_INSENSITIVE = {"case.insensitive": "TRUE"}

PROCESSED_PREFIX = "processed"  # the preprocess function's output (lambda_src/README.md)
PREDICTIONS_EXPORT_PREFIX = "exports/predictions"  # ExportTableToPointInTime --s3-prefix (runbook)
RESULTS_PREFIX = "results"  # Athena query results in the athena-results bucket

CAPTURE_TABLE = "data_capture"
PROCESSED_TABLE = "processed_records"
EXPORTS_TABLE = "prediction_exports"

_CAPTURE_PAYLOAD = "struct<observedcontenttype:string,mode:string,data:string,encoding:string>"
_S = "struct<s:string>"
_N = "struct<n:string>"

Source = Literal["processed", "artifacts"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Hive type, as Glue stores it
    comment: str


@dataclass(frozen=True)
class TableSpec:
    """One catalog table: where its objects are, their schema and how they are read."""

    name: str
    description: str
    source: Source  # which bucket (and so which key) holds the objects
    prefix: str  # the table location under that bucket, without slashes at either end
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = ()
    serde_parameters: tuple[tuple[str, str], ...] = tuple(CASE_INSENSITIVE.items())
    compressed: bool = False


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        name=CAPTURE_TABLE,
        description="SageMaker data capture of the endpoint: one request/response pair per line",
        source="artifacts",
        prefix=DATA_CAPTURE_PREFIX,
        columns=(
            Column(
                "capturedata",
                f"struct<endpointinput:{_CAPTURE_PAYLOAD},endpointoutput:{_CAPTURE_PAYLOAD}>",
                "captureData: the request and the model's answer (data is text, or base64 when encoding is BASE64)",
            ),
            Column(
                "eventmetadata",
                "struct<eventid:string,inferencetime:string,inferenceid:string>",
                "eventMetadata: inferenceTime is ISO-8601 UTC",
            ),
            Column("eventversion", "string", "eventVersion of the capture format"),
        ),
        # data-capture/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/: SageMaker's folders, in this order (UTC).
        partition_keys=(
            Column("endpoint_name", "string", "SageMaker endpoint name"),
            Column("variant", "string", "production variant that answered"),
            Column("yyyy", "string", "capture year (UTC)"),
            Column("mm", "string", "capture month, two digits"),
            Column("dd", "string", "capture day, two digits"),
            Column("hh", "string", "capture hour, two digits"),
        ),
        # A capture record that is not JSON (a truncated file) is skipped, not a failed query.
        serde_parameters=(*CASE_INSENSITIVE.items(), ("ignore.malformed.json", "TRUE")),
    ),
    TableSpec(
        name=PROCESSED_TABLE,
        description="Validated, normalised records written by the preprocess function (JSON Lines)",
        source="processed",
        prefix=PROCESSED_PREFIX,
        columns=(
            Column("id", "string", "record id from the raw upload"),
            Column("features", "array<double>", "features, z-scored against the training baseline when one exists"),
        ),
    ),
    TableSpec(
        name=EXPORTS_TABLE,
        description="DynamoDB exports (DYNAMODB_JSON) of the predictions table: one item per line, gzip",
        source="processed",
        prefix=PREDICTIONS_EXPORT_PREFIX,
        columns=(
            Column(
                "item",
                "struct<"
                f"request_id:{_S},variant:{_S},variant_shard:{_S},created_at:{_S},expires_at:{_N},"
                f"latency_ms:{_N},prediction:struct<n:string,s:string>,status:{_S},source:{_S}"
                ">",
                "Item: the prediction record (attribute -> {S|N: value}; see lambda_src/README.md)",
            ),
        ),
        # The export's manifests (manifest-*.json, *.md5) share the prefix: the query reads only .../data/ files,
        # and a manifest line that is not JSON must not fail it.
        serde_parameters=(*CASE_INSENSITIVE.items(), ("ignore.malformed.json", "TRUE")),
        compressed=True,
    ),
)
TABLES_BY_NAME = {table.name: table for table in TABLES}
# The tables whose partitions the crawler adds (see the module docstring for why only this one).
CRAWLED_TABLES: tuple[str, ...] = (CAPTURE_TABLE,)

# --- the named queries (A/B questions) ---------------------------------------------------------------------------

# SQL as plain text with two placeholders, {database} (the Glue database) and {window_days}
# (AnalyticsSettings.query_window_days); the table names are TABLES' names (a unit test checks every table and column
# a query names). Common table expressions are written once and joined into each query.

# One row per captured request: variant, UTC day (from the partition folders) and the model's answer as text.
_CAPTURED = """captured AS (
    SELECT
        variant,
        yyyy || '-' || mm || '-' || dd AS utc_date,
        CASE
            WHEN upper(capturedata.endpointoutput.encoding) = 'BASE64'
                THEN try(from_utf8(from_base64(capturedata.endpointoutput.data)))
            ELSE capturedata.endpointoutput.data
        END AS answer
    FROM "{database}"."data_capture"
    WHERE yyyy || '-' || mm || '-' || dd >= CAST(current_date - INTERVAL '{window_days}' DAY AS varchar)
)"""

# The score is the answer as the inference path parses it (lambda_src/mlp_common/model.py): a number, or the first of
# {"predictions": [{"score": x}]} / {"predictions": [x]}. A label has no score and is left out of the mean.
_CAPTURE_STATS = """capture_stats AS (
    SELECT
        variant,
        utc_date,
        count(*) AS requests,
        avg(
            coalesce(
                try_cast(trim(answer) AS double),
                try_cast(try(json_extract_scalar(answer, '$.predictions[0].score')) AS double),
                try_cast(try(json_extract_scalar(answer, '$.predictions[0]')) AS double)
            )
        ) AS mean_score
    FROM captured
    GROUP BY variant, utc_date
)"""

# One row per completed prediction in the window. Exports are full snapshots, so an item is in every export taken
# while it lived: the newest export's copy is kept (an export id starts with its creation time in milliseconds).
_EXPORTED = """exported AS (
    SELECT
        item.request_id.s AS request_id,
        item.variant.s AS variant,
        substr(item.created_at.s, 1, 10) AS utc_date,
        try_cast(item.latency_ms.n AS double) AS latency_ms,
        regexp_extract("$path", 'AWSDynamoDB/([^/]+)/data/', 1) AS export_id
    FROM "{database}"."prediction_exports"
    WHERE "$path" LIKE '%/AWSDynamoDB/%/data/%'
        AND item.status.s = 'completed'
        AND item.created_at.s >= CAST(current_date - INTERVAL '{window_days}' DAY AS varchar)
)"""

_LATEST = """latest AS (
    SELECT
        variant,
        utc_date,
        latency_ms,
        row_number() OVER (PARTITION BY request_id ORDER BY export_id DESC) AS copy_rank
    FROM exported
)"""

_LATENCY_STATS = """latency_stats AS (
    SELECT
        variant,
        utc_date,
        count(*) AS requests,
        avg(latency_ms) AS mean_latency_ms,
        approx_percentile(latency_ms, 0.99) AS p99_latency_ms
    FROM latest
    WHERE copy_rank = 1 AND latency_ms IS NOT NULL
    GROUP BY variant, utc_date
)"""


def _query(ctes: tuple[str, ...], select: str) -> str:
    return "\n".join(("WITH " + ",\n".join(ctes), select))


@dataclass(frozen=True)
class NamedQuerySpec:
    key: str  # attribute key in Analytics.named_queries
    component: str  # the name is {project}-{component}-{env}
    description: str
    template: str  # SQL with {database} and {window_days}

    def sql(self, database: str, window_days: int) -> str:
        return self.template.format(database=database, window_days=window_days)


NAMED_QUERIES: tuple[NamedQuerySpec, ...] = (
    NamedQuerySpec(
        key="requests_and_score",
        component="ab-requests-score",
        description="A/B: requests and mean model score per variant per UTC day (endpoint data capture)",
        template=_query(
            (_CAPTURED, _CAPTURE_STATS),
            """SELECT variant, utc_date, requests, mean_score
FROM capture_stats
ORDER BY 2 DESC, 1
""",
        ),
    ),
    NamedQuerySpec(
        key="latency",
        component="ab-latency",
        description="A/B: predictions, mean and p99 latency (ms) per variant per UTC day (predictions table exports)",
        template=_query(
            (_EXPORTED, _LATEST, _LATENCY_STATS),
            """SELECT variant, utc_date, requests, mean_latency_ms, p99_latency_ms
FROM latency_stats
ORDER BY 2 DESC, 1
""",
        ),
    ),
    NamedQuerySpec(
        key="daily_summary",
        component="ab-daily-summary",
        description="A/B: requests, mean score, mean and p99 latency per variant per UTC day, side by side",
        template=_query(
            (_CAPTURED, _CAPTURE_STATS, _EXPORTED, _LATEST, _LATENCY_STATS),
            """SELECT
    coalesce(capture_stats.variant, latency_stats.variant) AS variant,
    coalesce(capture_stats.utc_date, latency_stats.utc_date) AS utc_date,
    capture_stats.requests AS captured_requests,
    capture_stats.mean_score,
    latency_stats.requests AS recorded_predictions,
    latency_stats.mean_latency_ms,
    latency_stats.p99_latency_ms
FROM capture_stats
FULL OUTER JOIN latency_stats
    ON capture_stats.variant = latency_stats.variant AND capture_stats.utc_date = latency_stats.utc_date
ORDER BY 2 DESC, 1
""",
        ),
    ),
)


# --- settings, props, names --------------------------------------------------------------------------------------


def check_glue_cron(value: str | None) -> str | None:
    """``value`` is a Glue cron expression with 6 fields (None: no schedule)."""
    if value is None:
        return None
    match = _CRON.fullmatch(value.strip())
    if match is None or value != value.strip():
        raise ValueError(
            f"must be a Glue cron expression cron({' '.join(CRON_FIELDS)}), e.g. cron(15 2 * * ? *); got {value!r}"
        )
    fields = match.group("body").split()
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(
            f"a Glue cron expression has {len(CRON_FIELDS)} fields ({' '.join(CRON_FIELDS)}), got {len(fields)}"
        )
    bad = [
        f"{name} {field!r}" for name, field in zip(CRON_FIELDS, fields, strict=True) if not _CRON_FIELD.fullmatch(field)
    ]
    if bad:
        raise ValueError(f"fields with characters cron does not allow: {', '.join(bad)}")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(
            f"exactly one of Day-of-month ({day_of_month!r}) and Day-of-week ({day_of_week!r}) must be '?': "
            "Glue refuses a value in both, and needs one"
        )
    return value


class AnalyticsSettings(Settings):
    """Knobs of the Glue crawler and the Athena workgroup (``analytics`` in cdktf.json)."""

    # When the crawler adds new data-capture partitions: a Glue cron expression in UTC (6 fields); null = on demand
    crawler_schedule: str | None = "cron(15 2 * * ? *)"
    # Athena cancels a query of the workgroup once it has scanned this many MiB (Athena's minimum is 10 MB)
    bytes_scanned_cutoff_mb: int = Field(10_240, ge=MIN_CUTOFF_MB, le=MAX_CUTOFF_MB)
    # The named queries cover this many UTC days up to today (bounds the data they scan)
    query_window_days: int = Field(30, ge=1, le=3650)

    _cron = field_validator("crawler_schedule")(check_glue_cron)


@dataclass(frozen=True)
class AnalyticsProps:
    """What analytics reads and where it writes; its knobs are ``settings`` and ``logs``."""

    # naming of every resource; account and region: role trust, catalog/log ARNs, results bucket owner; partition: ARNs
    deployment: Deployment
    processed_bucket: BucketRef  # holds processed/ (preprocess output) and exports/predictions/ (DynamoDB exports)
    artifacts_bucket: BucketRef  # model-artifacts: holds data-capture/ (the crawled table)
    athena_results_bucket: BucketRef  # query results go to results/ here
    data_key: KeyRef  # the processed and athena-results buckets' key: results, Glue S3 data and job bookmarks
    ml_key: KeyRef  # the artifacts bucket's key: data capture objects are encrypted with it
    ops_key: KeyRef  # encrypts the crawler's logs (security configuration and log group)
    force_destroy: bool  # let destroy delete the workgroup with its saved queries and history (follows data_lake)
    settings: AnalyticsSettings
    logs: LogsSettings  # retention of the crawler's log group


@dataclass(frozen=True)
class AnalyticsNames:
    """Every name the construct gives, derived from the environment's naming."""

    database: str
    workgroup: str
    crawler: str
    security_configuration: str
    role: str
    policy: str
    log_group: str
    named_queries: dict[str, str]  # NamedQuerySpec.key -> name


class AnalyticsError(ValueError):
    """Names or wiring AWS would refuse at apply time; ``problems`` lists each one."""

    def __init__(self, env: str, problems: list[str]) -> None:
        self.env = env
        self.problems = problems
        super().__init__(f"environment '{env}', analytics: " + "; ".join(problems))


def _plain(naming: Naming, component: str) -> str:
    """``{project}-{component}-{env}[-{suffix}]`` without Naming's check (the caller collects every problem)."""
    return f"{naming.project}-{component}-{naming.stem}".lower()


def analytics_names(naming: Naming) -> AnalyticsNames:
    role = _plain(naming, "analytics-crawler")
    security_configuration = _plain(naming, "analytics")
    return AnalyticsNames(
        # Glue/Athena catalog names take no hyphen: mlpipe_analytics_prod_eu
        database=_plain(naming, "analytics").replace("-", "_"),
        workgroup=_plain(naming, "analytics"),
        crawler=_plain(naming, "analytics-crawler"),
        security_configuration=security_configuration,
        role=role,
        policy=role,
        # Where Glue writes a crawler's logs once a security configuration is attached (the role's path is "/").
        log_group=f"/aws-glue/crawlers-role/{role}-{security_configuration}",
        named_queries={q.key: _plain(naming, q.component) for q in NAMED_QUERIES},
    )


def _rule_problem(what: str, name: str, rule: NameRule) -> str | None:
    if len(name) <= rule.max_len and re.fullmatch(rule.pattern, name):
        return None
    return f"{what} name '{name}' ({len(name)} chars) breaks the rule: {rule.describe}"


def name_problems(naming: Naming, names: AnalyticsNames) -> list[str]:
    """Every name AWS would refuse, each with its rule: shorten the project, environment or suffix name."""
    problems: list[str | None] = [
        _rule_problem("Glue database", names.database, GLUE_CATALOG_NAME),
        _rule_problem("Athena workgroup", names.workgroup, ATHENA_WORKGROUP),
        _rule_problem("Glue crawler", names.crawler, GLUE_CRAWLER),
        _rule_problem("Glue security configuration", names.security_configuration, GLUE_SECURITY_CONFIGURATION),
        *(_rule_problem("Glue table", t.name, GLUE_CATALOG_NAME) for t in TABLES),
        *(_rule_problem(f"Athena named query '{k}'", n, ATHENA_NAMED_QUERY) for k, n in names.named_queries.items()),
    ]
    for name, kind, component in (
        (names.role, Kind.IAM_ROLE, "analytics-crawler"),
        (names.policy, Kind.IAM_POLICY, "analytics-crawler"),
        (names.log_group, Kind.LOG_GROUP, "analytics-crawler-logs"),
    ):
        try:
            naming.check(name, kind, component)
        except NamingError as error:
            problems.append(error.detail)
    return [p for p in problems if p]


def _query_problems(names: AnalyticsNames, window_days: int) -> list[str]:
    problems = []
    for spec in NAMED_QUERIES:
        sql = spec.sql(names.database, window_days)
        if len(sql) > MAX_QUERY_LENGTH:
            problems.append(f"named query '{spec.key}' is {len(sql)} chars; Athena takes at most {MAX_QUERY_LENGTH}")
        if not 1 <= len(spec.description) <= MAX_DESCRIPTION_LENGTH:
            problems.append(f"named query '{spec.key}' needs a description of 1-{MAX_DESCRIPTION_LENGTH} chars")
    unknown = sorted(set(CRAWLED_TABLES) - set(TABLES_BY_NAME))
    if unknown:
        problems.append(f"the crawler targets tables that are not defined: {unknown}")
    return problems


def validate(props: AnalyticsProps) -> AnalyticsNames:
    """The names, once every rule holds; else one :class:`AnalyticsError` listing every problem."""
    naming = props.deployment.naming
    names = analytics_names(naming)
    problems = name_problems(naming, names) + _query_problems(names, props.settings.query_window_days)
    if problems:
        raise AnalyticsError(naming.env, problems)
    return names


# --- the crawler role --------------------------------------------------------------------------------------------

TRUST_SID = "GlueAssumesRoleForThisAccount"
PARTITION_ACTIONS = (
    "glue:BatchCreatePartition",
    "glue:BatchGetPartition",
    "glue:BatchUpdatePartition",
    "glue:CreatePartition",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:UpdatePartition",
)


@dataclass(frozen=True)
class CrawlerGrants:
    """What the crawler reads: the crawled tables, their objects and keys, and where it logs."""

    database: str
    tables: tuple[TableSpec, ...]
    sources: dict[Source, tuple[BucketRef, KeyRef]]
    ops_key: KeyRef
    log_group: str


def crawler_statements(deployment: Deployment, grants: CrawlerGrants) -> list[Statement]:
    """The crawler role's permissions, each on exact ARNs.

    The catalog actions are those that read the crawled tables and add or refresh their partitions: no table is
    created, updated or deleted (the schema change policy is LOG). Objects are read only under the crawled prefixes,
    decrypted only through S3, and the crawler writes only its own log group, which Glue associates with the ops key.
    """
    d = deployment
    glue = f"arn:{d.partition}:glue:{d.region}:{d.account_id}"
    table_arns = [f"{glue}:table/{grants.database}/{t.name}" for t in grants.tables]
    catalog = [f"{glue}:catalog", f"{glue}:database/{grants.database}"]
    buckets: dict[str, list[str]] = {}
    keys: list[str] = []
    for table in grants.tables:
        bucket, key = grants.sources[table.source]
        buckets.setdefault(bucket.arn, []).append(table.prefix)
        if key.arn not in keys:
            keys.append(key.arn)
    objects = [f"{arn}/{prefix}/*" for arn, prefixes in buckets.items() for prefix in prefixes]
    prefixes = sorted({p for ps in buckets.values() for p in ps})
    log_group = f"arn:{d.partition}:logs:{d.region}:{d.account_id}:log-group:{grants.log_group}"
    return [
        allow("ReadCrawledTables", ["glue:GetDatabase", "glue:GetTable"], [*catalog, *table_arns]),
        allow("AddCrawledPartitions", list(PARTITION_ACTIONS), [*catalog, *table_arns]),
        allow("ReadCrawledObjects", ["s3:GetObject"], objects),
        allow(
            "ListCrawledPrefixes",
            ["s3:ListBucket"],
            list(buckets),
            Condition={"StringLike": {"s3:prefix": [form for p in prefixes for form in (f"{p}/", f"{p}/*")]}},
        ),
        # SSE-KMS objects: S3 decrypts them with the caller's permission, so the grant holds only via S3.
        allow(
            "DecryptCrawledObjects",
            ["kms:Decrypt"],
            keys,
            Condition={"StringEquals": {"kms:ViaService": f"s3.{d.region}.amazonaws.com"}},
        ),
        allow("WriteOwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
        # The security configuration's CloudWatch encryption: Glue associates the ops key with the log group.
        allow("EncryptOwnLogGroup", ["logs:AssociateKmsKey"], [log_group, f"{log_group}:*"]),
        allow("UseOpsKeyForLogs", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [grants.ops_key.arn]),
    ]


# --- the construct -----------------------------------------------------------------------------------------------


class Analytics(Construct):
    """Exposes ``names`` (:class:`AnalyticsNames`), ``database`` (+ ``database_name``), ``tables`` (name ->
    GlueCatalogTable), ``security_configuration``, ``crawler`` (+ ``crawler_name``), ``crawler_role``
    (+ ``crawler_role_arn``), ``crawler_policy``, ``log_group``, ``workgroup`` (+ ``workgroup_name``),
    ``named_queries`` (:attr:`NamedQuerySpec.key` -> AthenaNamedQuery), ``named_query_ids`` and ``outputs`` (output
    id -> (value, description) for the stack's outputs)."""

    def __init__(self, scope: Construct, id: str, props: AnalyticsProps) -> None:
        super().__init__(scope, id)
        self.names = validate(props)
        self._props = props
        self._sources: dict[Source, tuple[BucketRef, KeyRef]] = {
            "processed": (props.processed_bucket, props.data_key),
            "artifacts": (props.artifacts_bucket, props.ml_key),
        }
        self._build_catalog()
        self._build_crawler()
        self._build_athena()
        self.outputs: dict[str, tuple[str, str]] = {
            "analytics_database": (self.database_name, "Glue database of the A/B analytics tables"),
            "analytics_workgroup": (self.workgroup_name, "Athena workgroup for the A/B named queries"),
            "analytics_crawler": (self.crawler_name, "Glue crawler adding data-capture partitions"),
            "analytics_crawler_log_group": (self.log_group.name, "Log group of the analytics crawler"),
        }

    def _location(self, table: TableSpec) -> str:
        bucket, _ = self._sources[table.source]
        return f"s3://{bucket.name}/{table.prefix}/"

    def _build_catalog(self) -> None:
        self.database = aws.glue_catalog_database.GlueCatalogDatabase(
            self,
            "database",
            name=self.names.database,
            description="A/B analytics: endpoint data capture, processed records, predictions table exports",
        )
        self.database_name: str = self.database.name
        gct = aws.glue_catalog_table
        self.tables: dict[str, Any] = {}
        for table in TABLES:
            parameters = {"EXTERNAL": "TRUE", "classification": "json"}
            if table.compressed:
                parameters["compressionType"] = "gzip"
            self.tables[table.name] = gct.GlueCatalogTable(
                self,
                f"table-{table.name.replace('_', '-')}",
                name=table.name,
                database_name=self.database.name,
                description=table.description,
                table_type="EXTERNAL_TABLE",
                parameters=parameters,
                partition_keys=[
                    gct.GlueCatalogTablePartitionKeys(name=c.name, type=c.type, comment=c.comment)
                    for c in table.partition_keys
                ]
                or None,
                storage_descriptor=gct.GlueCatalogTableStorageDescriptor(
                    location=self._location(table),
                    input_format=TEXT_INPUT_FORMAT,
                    output_format=TEXT_OUTPUT_FORMAT,
                    compressed=table.compressed,
                    ser_de_info=gct.GlueCatalogTableStorageDescriptorSerDeInfo(
                        name="json", serialization_library=JSON_SERDE, parameters=dict(table.serde_parameters)
                    ),
                    columns=[
                        gct.GlueCatalogTableStorageDescriptorColumns(name=c.name, type=c.type, comment=c.comment)
                        for c in table.columns
                    ],
                ),
            )

    def _build_crawler(self) -> None:
        props, names = self._props, self.names
        d = props.deployment
        sec = aws.glue_security_configuration
        self.security_configuration = sec.GlueSecurityConfiguration(
            self,
            "security-configuration",
            name=names.security_configuration,
            encryption_configuration=sec.GlueSecurityConfigurationEncryptionConfiguration(
                cloudwatch_encryption=sec.GlueSecurityConfigurationEncryptionConfigurationCloudwatchEncryption(
                    cloudwatch_encryption_mode="SSE-KMS", kms_key_arn=props.ops_key.arn
                ),
                job_bookmarks_encryption=sec.GlueSecurityConfigurationEncryptionConfigurationJobBookmarksEncryption(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=props.data_key.arn
                ),
                s3_encryption=sec.GlueSecurityConfigurationEncryptionConfigurationS3Encryption(
                    s3_encryption_mode="SSE-KMS", kms_key_arn=props.data_key.arn
                ),
            ),
        )
        # Created before the crawler: otherwise Glue creates it on the first run, without retention, outside Terraform.
        self.log_group = owned_log_group(
            self,
            "crawler-logs",
            naming=d.naming,
            name=names.log_group,
            component="analytics-crawler-logs",
            retention_days=props.logs.retention_days,
            kms_key_arn=props.ops_key.arn,
        )
        self.crawler_role = aws.iam_role.IamRole(
            self,
            "crawler-role",
            name=names.role,
            description="Glue crawler of the A/B analytics tables",
            assume_role_policy=service_trust_policy(TRUST_SID, "glue.amazonaws.com", d.account_id),
        )
        self.crawler_role_arn: str = self.crawler_role.arn
        crawled = tuple(TABLES_BY_NAME[name] for name in CRAWLED_TABLES)
        grants = CrawlerGrants(names.database, crawled, self._sources, props.ops_key, names.log_group)
        self.crawler_policy = aws.iam_role_policy.IamRolePolicy(
            self,
            "crawler-policy",
            name=names.policy,
            role=self.crawler_role.id,
            policy=document(*crawler_statements(d, grants)),
        )
        gc = aws.glue_crawler
        self.crawler = gc.GlueCrawler(
            self,
            "crawler",
            name=names.crawler,
            description="Adds the new data-capture partitions (tables and schemas are Terraform's)",
            database_name=self.database.name,
            role=self.crawler_role.arn,
            security_configuration=self.security_configuration.name,
            schedule=props.settings.crawler_schedule,
            catalog_target=[
                gc.GlueCrawlerCatalogTarget(
                    database_name=self.database.name, tables=[self.tables[name].name for name in CRAWLED_TABLES]
                )
            ],
            # LOG both ways: the crawler never changes or deletes a table Terraform owns; new partitions still land.
            schema_change_policy=gc.GlueCrawlerSchemaChangePolicy(delete_behavior="LOG", update_behavior="LOG"),
            # Incremental crawls (CRAWL_NEW_FOLDERS_ONLY) exist only for S3 targets.
            recrawl_policy=gc.GlueCrawlerRecrawlPolicy(recrawl_behavior="CRAWL_EVERYTHING"),
            configuration=crawler_configuration(),
            # The role must hold its permissions, and the log group exist, before the first (scheduled) run.
            depends_on=[self.crawler_policy, self.log_group],
        )
        self.crawler_name: str = self.crawler.name

    def _build_athena(self) -> None:
        props, names = self._props, self.names
        wg = aws.athena_workgroup
        results = props.athena_results_bucket
        self.workgroup = wg.AthenaWorkgroup(
            self,
            "workgroup",
            name=names.workgroup,
            description="A/B analytics: enforced configuration, KMS-encrypted results, bytes-scanned cutoff",
            state="ENABLED",
            force_destroy=props.force_destroy,
            configuration=wg.AthenaWorkgroupConfiguration(
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=props.settings.bytes_scanned_cutoff_mb * MIB,
                requester_pays_enabled=False,
                engine_version=wg.AthenaWorkgroupConfigurationEngineVersion(selected_engine_version="AUTO"),
                result_configuration=wg.AthenaWorkgroupConfigurationResultConfiguration(
                    output_location=f"s3://{results.name}/{RESULTS_PREFIX}/",
                    expected_bucket_owner=props.deployment.account_id,
                    encryption_configuration=wg.AthenaWorkgroupConfigurationResultConfigurationEncryptionConfiguration(
                        encryption_option="SSE_KMS", kms_key_arn=props.data_key.arn
                    ),
                ),
            ),
        )
        self.workgroup_name: str = self.workgroup.name
        self.named_queries: dict[str, Any] = {
            spec.key: aws.athena_named_query.AthenaNamedQuery(
                self,
                f"query-{spec.component}",
                name=names.named_queries[spec.key],
                description=spec.description,
                workgroup=self.workgroup.name,
                database=self.database.name,
                query=spec.sql(names.database, props.settings.query_window_days),
            )
            for spec in NAMED_QUERIES
        }
        self.named_query_ids: dict[str, str] = {key: query.id for key, query in self.named_queries.items()}


def crawler_configuration() -> str:
    """The crawler's Configuration JSON: new partitions inherit the table's schema and SerDe; no partition index
    (it would change a table Terraform owns); the grouping AWS sets for catalog targets anyway (no perpetual diff)."""
    return json.dumps(
        {
            "Version": 1.0,
            "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
            "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
            "CreatePartitionIndex": False,
        },
        sort_keys=True,
    )
