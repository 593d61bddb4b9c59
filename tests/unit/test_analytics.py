"""Analytics (ARCHITECTURE §7, issue #10 item 5): Glue catalog and crawler, Athena workgroup and the A/B named queries,
synthesized in a test-local stack that holds only the provider and the construct.

checkov (tests/terraform/test_checkov.py, over every synthesized stack) runs these checks on the resources built here;
:func:`test_the_values_checkov_inspects` asserts each inspected value, so a regression fails here first:

- CKV_AWS_82   aws_athena_workgroup: configuration.enforce_workgroup_configuration is true
- CKV_AWS_159  aws_athena_workgroup: configuration.result_configuration.encryption_configuration.encryption_option set
- CKV_AWS_99   aws_glue_security_configuration: CloudWatch SSE-KMS + key, job bookmarks CSE-KMS + key, S3 not DISABLED
- CKV_AWS_195  aws_glue_crawler: security_configuration set
- CKV_AWS_158  aws_cloudwatch_log_group: kms_key_id set
- CKV_AWS_66   aws_cloudwatch_log_group: retention_in_days set
- CKV_AWS_338  aws_cloudwatch_log_group: retention of at least 365 days (dev/staging keep 30/90: a stack-level skip)
- CKV_AWS_60, CKV_AWS_61, CKV_AWS_274, CKV2_AWS_56  aws_iam_role (trust limited to one service, no admin policies)
- CKV_AWS_62, CKV_AWS_63, CKV2_AWS_40  aws_iam_role_policy (no "*" action, no full admin / IAM privileges)

Not applicable here: CKV_AWS_94 (aws_glue_data_catalog_encryption_settings, an account-wide resource this construct
does not own) and CKV_AWS_77 (aws_athena_database; the database is a Glue catalog database).
"""

import json
import re
from typing import Any

import cdktf
import pytest
from cdktf import App, TerraformStack
from pydantic import ValidationError

from constructs.analytics import (
    CAPTURE_TABLE,
    EXPORTS_TABLE,
    MIB,
    NAMED_QUERIES,
    PROCESSED_TABLE,
    TABLES,
    Analytics,
    AnalyticsError,
    AnalyticsProps,
    AnalyticsSettings,
    analytics_names,
    name_problems,
)
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings
from constructs.naming import Naming
from constructs.refs import BucketRef, Deployment, KeyRef
from tests.support.synth import of_type, policy_of, resources
from tests.support.terraform import terraform, terraform_env

ACCOUNT = "123456789012"
REGION = "us-east-1"
NAMING = Naming(project="mlpipe", env="dev")
DEPLOYMENT = Deployment(naming=NAMING, account_id=ACCOUNT, region=REGION)
DATA_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
ML_KEY = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
OPS_KEY = "arn:aws:kms:us-east-1:123456789012:key/33333333-3333-3333-3333-333333333333"
PROCESSED = "mlpipe-processed-dev-123456789012-us-east-1"
ARTIFACTS = "mlpipe-model-artifacts-dev-123456789012-us-east-1"
RESULTS = "mlpipe-athena-results-dev-123456789012-us-east-1"
DATABASE = "mlpipe_analytics_dev"
WORKGROUP = "mlpipe-analytics-dev"
CRAWLER = "mlpipe-analytics-crawler-dev"
ROLE = "mlpipe-analytics-crawler-dev"
SECURITY_CONFIGURATION = "mlpipe-analytics-dev"
LOG_GROUP = "/aws-glue/crawlers-role/mlpipe-analytics-crawler-dev-mlpipe-analytics-dev"
LOG_GROUP_ARN = f"arn:aws:logs:us-east-1:123456789012:log-group:{LOG_GROUP}"
GLUE = "arn:aws:glue:us-east-1:123456789012"
EXPECTED_COUNTS = {
    "aws_glue_catalog_database": 1,
    "aws_glue_catalog_table": 3,
    "aws_glue_security_configuration": 1,
    "aws_glue_crawler": 1,
    "aws_iam_role": 1,
    "aws_iam_role_policy": 1,
    "aws_cloudwatch_log_group": 1,
    "aws_athena_workgroup": 1,
    "aws_athena_named_query": 3,
}


def bucket(name: str) -> BucketRef:
    return BucketRef(name=name, arn=f"arn:aws:s3:::{name}")


def analytics_props(
    *,
    settings: AnalyticsSettings | None = None,
    logs: LogsSettings | None = None,
    force_destroy: bool = False,
    naming: Naming = NAMING,
) -> AnalyticsProps:
    return AnalyticsProps(
        deployment=Deployment(naming=naming, account_id=ACCOUNT, region=REGION),
        processed_bucket=bucket(PROCESSED),
        artifacts_bucket=bucket(ARTIFACTS),
        athena_results_bucket=bucket(RESULTS),
        data_key=KeyRef(DATA_KEY),
        ml_key=KeyRef(ML_KEY),
        ops_key=KeyRef(OPS_KEY),
        force_destroy=force_destroy,
        settings=settings or AnalyticsSettings(),
        logs=logs or LogsSettings(),
    )


def build(stack: TerraformStack, props: AnalyticsProps) -> Analytics:
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    return Analytics(stack, "analytics", props)


def synth(**props: Any) -> dict[str, Any]:
    """A stack with the provider and the construct only; the parsed Terraform JSON."""
    stack = TerraformStack(cdktf.Testing.app(), "analytics")
    build(stack, analytics_props(**props))
    return json.loads(cdktf.Testing.synth(stack))


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return synth()


def logical_id(stack: dict[str, Any], rtype: str, construct_id: str) -> str:
    """Logical id of the construct's child ``construct_id`` (Testing.synth keeps no construct-path metadata)."""
    pattern = rf"analytics_{re.escape(construct_id)}_[0-9A-F]{{8}}"
    (found,) = [logical for logical in of_type(stack, rtype) if re.fullmatch(pattern, logical)]
    return found


def ref(stack: dict[str, Any], rtype: str, construct_id: str, attribute: str) -> str:
    return f"${{{rtype}.{logical_id(stack, rtype, construct_id)}.{attribute}}}"


def only(stack: dict[str, Any], rtype: str) -> dict[str, Any]:
    (body,) = of_type(stack, rtype).values()
    return body


def tables_by_name(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {body["name"]: body for body in of_type(stack, "aws_glue_catalog_table").values()}


# --- what is built -----------------------------------------------------------------------------------------------


def test_resource_counts(stack):
    counts = {rtype: len(items) for rtype, items in stack["resource"].items()}
    assert counts == EXPECTED_COUNTS


def test_every_resource_lives_under_the_construct(stack):
    assert all(logical.startswith("analytics_") for _, logical, _ in resources(stack))


# --- names -------------------------------------------------------------------------------------------------------


def test_names_follow_the_convention_and_the_database_takes_no_hyphen(stack):
    assert only(stack, "aws_glue_catalog_database")["name"] == DATABASE
    assert only(stack, "aws_athena_workgroup")["name"] == WORKGROUP
    assert only(stack, "aws_glue_crawler")["name"] == CRAWLER
    assert only(stack, "aws_iam_role")["name"] == ROLE
    assert only(stack, "aws_iam_role_policy")["name"] == ROLE
    assert only(stack, "aws_glue_security_configuration")["name"] == SECURITY_CONFIGURATION
    assert sorted(q["name"] for q in of_type(stack, "aws_athena_named_query").values()) == [
        "mlpipe-ab-daily-summary-dev",
        "mlpipe-ab-latency-dev",
        "mlpipe-ab-requests-score-dev",
    ]


@pytest.mark.parametrize(
    ("naming", "database"),
    [
        (Naming(project="mlpipe", env="prod-eu"), "mlpipe_analytics_prod_eu"),
        (Naming(project="ml-pipe", env="qa", suffix="b2"), "ml_pipe_analytics_qa_b2"),
    ],
)
def test_hyphens_become_underscores_in_the_database_name(naming, database):
    names = analytics_names(naming)
    assert names.database == database
    assert name_problems(naming, names) == []


def test_the_crawler_log_group_is_where_glue_writes_with_a_security_configuration(stack):
    # /aws-glue/crawlers-role/<role name>-<security configuration name>: the group Glue writes a crawler's logs to once
    # a security configuration is attached (the role has the default path "/").
    assert analytics_names(NAMING).log_group == LOG_GROUP
    log_group = {k: v for k, v in only(stack, "aws_cloudwatch_log_group").items() if k != "//"}
    assert log_group == {
        "name": LOG_GROUP,
        "retention_in_days": 365,
        "kms_key_id": OPS_KEY,
    }


def test_log_retention_comes_from_the_logs_settings():
    assert only(synth(logs=LogsSettings(retention_days=30)), "aws_cloudwatch_log_group")["retention_in_days"] == 30


# --- catalog -----------------------------------------------------------------------------------------------------

CAPTURE_PAYLOAD = "struct<observedcontenttype:string,mode:string,data:string,encoding:string>"
JSON_STORAGE = {
    "input_format": "org.apache.hadoop.mapred.TextInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
}


def _columns(table: dict[str, Any], field: str = "columns") -> list[tuple[str, str]]:
    block = table["storage_descriptor"] if field == "columns" else table
    return [(c["name"], c["type"]) for c in block.get(field, [])]


def test_three_tables_in_the_database(stack):
    database = ref(stack, "aws_glue_catalog_database", "database", "name")
    tables = tables_by_name(stack)
    assert set(tables) == {CAPTURE_TABLE, PROCESSED_TABLE, EXPORTS_TABLE}
    for table in tables.values():
        assert table["database_name"] == database
        assert table["table_type"] == "EXTERNAL_TABLE"
        assert table["parameters"]["EXTERNAL"] == "TRUE"
        assert table["parameters"]["classification"] == "json"
        assert {k: table["storage_descriptor"][k] for k in JSON_STORAGE} == JSON_STORAGE


def test_data_capture_table_schema_and_partitions(stack):
    table = tables_by_name(stack)[CAPTURE_TABLE]
    assert table["storage_descriptor"]["location"] == f"s3://{ARTIFACTS}/data-capture/"
    assert _columns(table) == [
        ("capturedata", f"struct<endpointinput:{CAPTURE_PAYLOAD},endpointoutput:{CAPTURE_PAYLOAD}>"),
        ("eventmetadata", "struct<eventid:string,inferencetime:string,inferenceid:string>"),
        ("eventversion", "string"),
    ]
    # data-capture/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/: one key per folder level, in order.
    assert _columns(table, "partition_keys") == [
        ("endpoint_name", "string"),
        ("variant", "string"),
        ("yyyy", "string"),
        ("mm", "string"),
        ("dd", "string"),
        ("hh", "string"),
    ]
    assert table["storage_descriptor"]["compressed"] is False
    assert table["storage_descriptor"]["ser_de_info"] == {
        "name": "json",
        "serialization_library": "org.openx.data.jsonserde.JsonSerDe",
        "parameters": {"case.insensitive": "TRUE", "ignore.malformed.json": "TRUE"},
    }


def test_processed_records_table_schema(stack):
    table = tables_by_name(stack)[PROCESSED_TABLE]
    assert table["storage_descriptor"]["location"] == f"s3://{PROCESSED}/processed/"
    assert _columns(table) == [("id", "string"), ("features", "array<double>")]
    assert "partition_keys" not in table
    assert table["storage_descriptor"]["ser_de_info"]["parameters"] == {"case.insensitive": "TRUE"}


def test_prediction_exports_table_reads_dynamodb_json(stack):
    table = tables_by_name(stack)[EXPORTS_TABLE]
    assert table["storage_descriptor"]["location"] == f"s3://{PROCESSED}/exports/predictions/"
    s, n = "struct<s:string>", "struct<n:string>"
    assert _columns(table) == [
        (
            "item",
            f"struct<request_id:{s},variant:{s},variant_shard:{s},created_at:{s},expires_at:{n},latency_ms:{n},"
            f"prediction:struct<n:string,s:string>,status:{s},source:{s}>",
        )
    ]
    assert "partition_keys" not in table
    assert table["storage_descriptor"]["compressed"] is True
    assert table["parameters"]["compressionType"] == "gzip"
    assert table["storage_descriptor"]["ser_de_info"]["parameters"] == {
        "case.insensitive": "TRUE",
        "ignore.malformed.json": "TRUE",
    }


# --- security configuration and crawler --------------------------------------------------------------------------


def test_security_configuration_encrypts_s3_and_bookmarks_with_the_data_key_and_logs_with_the_ops_key(stack):
    assert only(stack, "aws_glue_security_configuration")["encryption_configuration"] == {
        "cloudwatch_encryption": {"cloudwatch_encryption_mode": "SSE-KMS", "kms_key_arn": OPS_KEY},
        "job_bookmarks_encryption": {"job_bookmarks_encryption_mode": "CSE-KMS", "kms_key_arn": DATA_KEY},
        "s3_encryption": {"s3_encryption_mode": "SSE-KMS", "kms_key_arn": DATA_KEY},
    }


def test_crawler_adds_data_capture_partitions_to_the_defined_table(stack):
    crawler = only(stack, "aws_glue_crawler")
    database = ref(stack, "aws_glue_catalog_database", "database", "name")
    capture = ref(stack, "aws_glue_catalog_table", "table-data-capture", "name")
    assert crawler["database_name"] == database
    assert crawler["role"] == ref(stack, "aws_iam_role", "crawler-role", "arn")
    assert crawler["security_configuration"] == ref(
        stack, "aws_glue_security_configuration", "security-configuration", "name"
    )
    assert crawler["schedule"] == "cron(15 2 * * ? *)"
    assert crawler["catalog_target"] == [{"database_name": database, "tables": [capture]}]
    for target in ("s3_target", "dynamodb_target", "jdbc_target", "table_prefix"):
        assert target not in crawler
    assert crawler["schema_change_policy"] == {"delete_behavior": "LOG", "update_behavior": "LOG"}
    assert crawler["recrawl_policy"] == {"recrawl_behavior": "CRAWL_EVERYTHING"}
    assert json.loads(crawler["configuration"]) == {
        "Version": 1.0,
        "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
        "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
        "CreatePartitionIndex": False,
    }


def test_crawler_waits_for_its_permissions_and_its_log_group(stack):
    policy = logical_id(stack, "aws_iam_role_policy", "crawler-policy")
    log_group = logical_id(stack, "aws_cloudwatch_log_group", "crawler-logs")
    assert only(stack, "aws_glue_crawler")["depends_on"] == [
        f"aws_iam_role_policy.{policy}",
        f"aws_cloudwatch_log_group.{log_group}",
    ]


def test_crawler_schedule_comes_from_settings_and_null_turns_it_off():
    daily = synth(settings=AnalyticsSettings(crawler_schedule="cron(0 */6 ? * MON-FRI *)"))
    assert only(daily, "aws_glue_crawler")["schedule"] == "cron(0 */6 ? * MON-FRI *)"
    assert "schedule" not in only(synth(settings=AnalyticsSettings(crawler_schedule=None)), "aws_glue_crawler")


# --- crawler role ------------------------------------------------------------------------------------------------


def test_only_glue_for_this_account_assumes_the_crawler_role(stack):
    assert policy_of(only(stack, "aws_iam_role"), "assume_role_policy") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GlueAssumesRoleForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": "glue.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ],
    }


def test_crawler_role_statements_on_exact_arns(stack):
    policy = only(stack, "aws_iam_role_policy")
    assert policy["role"] == ref(stack, "aws_iam_role", "crawler-role", "id")
    catalog = [f"{GLUE}:catalog", f"{GLUE}:database/{DATABASE}", f"{GLUE}:table/{DATABASE}/{CAPTURE_TABLE}"]
    assert policy_of(policy)["Statement"] == [
        {
            "Sid": "ReadCrawledTables",
            "Effect": "Allow",
            "Action": ["glue:GetDatabase", "glue:GetTable"],
            "Resource": catalog,
        },
        {
            "Sid": "AddCrawledPartitions",
            "Effect": "Allow",
            "Action": [
                "glue:BatchCreatePartition",
                "glue:BatchGetPartition",
                "glue:BatchUpdatePartition",
                "glue:CreatePartition",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:UpdatePartition",
            ],
            "Resource": catalog,
        },
        {
            "Sid": "ReadCrawledObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{ARTIFACTS}/data-capture/*"],
        },
        {
            "Sid": "ListCrawledPrefixes",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{ARTIFACTS}"],
            "Condition": {"StringLike": {"s3:prefix": ["data-capture/", "data-capture/*"]}},
        },
        {
            "Sid": "DecryptCrawledObjects",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [ML_KEY],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        },
        {
            "Sid": "WriteOwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{LOG_GROUP_ARN}:*"],
        },
        {
            "Sid": "EncryptOwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:AssociateKmsKey"],
            "Resource": [LOG_GROUP_ARN, f"{LOG_GROUP_ARN}:*"],
        },
        {
            "Sid": "UseOpsKeyForLogs",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": [OPS_KEY],
        },
    ]


def _documents(stack):
    for rtype, logical_id, body in resources(stack):
        for field in ("policy", "assume_role_policy"):
            if isinstance(body.get(field), str):
                yield f"{rtype}.{logical_id}.{field}", json.loads(body[field])


def test_no_statement_allows_a_wildcard_resource_or_action(stack):
    """No statement needs Resource "*": every action here has resource-level permissions. The only wildcards are the
    objects under a crawled prefix and the streams of the crawler's own log group."""
    documents = list(_documents(stack))
    assert len(documents) == 2
    for where, document in documents:
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (where, statement)
            targets = statement.get("Resource", [])
            for target in [targets] if isinstance(targets, str) else targets:
                assert target != "*", (where, statement)
                if "*" in target:
                    assert target.count("*") == 1 and target.endswith(("/*", ":*")), (where, target)
                    assert (
                        target.removesuffix("*")
                        .removesuffix(":")
                        .startswith((f"arn:aws:s3:::{ARTIFACTS}/data-capture/", LOG_GROUP_ARN))
                    ), (where, target)


# --- Athena ------------------------------------------------------------------------------------------------------


def test_workgroup_enforces_encrypted_results_metrics_and_the_cutoff(stack):
    workgroup = only(stack, "aws_athena_workgroup")
    assert workgroup["state"] == "ENABLED"
    assert workgroup["force_destroy"] is False
    assert workgroup["configuration"] == {
        "enforce_workgroup_configuration": True,
        "publish_cloudwatch_metrics_enabled": True,
        "bytes_scanned_cutoff_per_query": 10_240 * 1024 * 1024,
        "requester_pays_enabled": False,
        "engine_version": {"selected_engine_version": "AUTO"},
        "result_configuration": {
            "output_location": f"s3://{RESULTS}/results/",
            "expected_bucket_owner": ACCOUNT,
            "encryption_configuration": {"encryption_option": "SSE_KMS", "kms_key_arn": DATA_KEY},
        },
    }


@pytest.mark.parametrize(("megabytes", "cutoff"), [(10, 10_485_760), (51_200, 53_687_091_200)])
def test_cutoff_is_the_setting_in_mib(megabytes, cutoff):
    assert megabytes * MIB == cutoff
    stack = synth(settings=AnalyticsSettings(bytes_scanned_cutoff_mb=megabytes))
    assert only(stack, "aws_athena_workgroup")["configuration"]["bytes_scanned_cutoff_per_query"] == cutoff


def test_force_destroy_only_from_the_prop():
    assert only(synth(force_destroy=True), "aws_athena_workgroup")["force_destroy"] is True


def test_named_queries_live_in_the_workgroup_and_the_database(stack):
    workgroup = ref(stack, "aws_athena_workgroup", "workgroup", "name")
    database = ref(stack, "aws_glue_catalog_database", "database", "name")
    queries = {q["name"]: q for q in of_type(stack, "aws_athena_named_query").values()}
    for spec in NAMED_QUERIES:
        query = queries[f"mlpipe-{spec.component}-dev"]
        assert query["workgroup"] == workgroup
        assert query["database"] == database
        assert query["description"] == spec.description
        assert query["query"] == spec.sql(DATABASE, 30)
        assert "{" not in query["query"], "every placeholder is filled"


def test_query_window_comes_from_settings():
    stack = synth(settings=AnalyticsSettings(query_window_days=7))
    for query in of_type(stack, "aws_athena_named_query").values():
        assert "current_date - INTERVAL '7' DAY" in query["query"]
        assert "INTERVAL '30'" not in query["query"]


# Every word a query may use besides the tables' columns and its own aliases: Trino keywords and functions.
SQL_KEYWORDS = ("with", "as", "select", "from", "where", "and", "or", "case", "when", "then", "else", "end", "group",
                "by", "order", "desc", "asc", "is", "not", "null", "like", "over", "partition", "full", "outer",
                "join", "on", "interval", "day", "cast", "current_date", "varchar", "double")  # fmt: skip
SQL_FUNCTIONS = ("upper", "try", "from_utf8", "from_base64", "count", "avg", "coalesce", "try_cast", "trim",
                 "json_extract_scalar", "substr", "regexp_extract", "row_number", "approx_percentile")  # fmt: skip
SQL_WORDS = frozenset(SQL_KEYWORDS + SQL_FUNCTIONS)
PSEUDO_COLUMNS = frozenset({'"$path"'})


def hive_fields(hive_type: str) -> dict[str, Any]:
    """Field tree of a Hive type: struct fields map to their own trees, anything else is a leaf ({})."""

    def parse(i: int) -> tuple[dict[str, Any], int]:
        if hive_type.startswith("struct<", i):
            fields, i = {}, i + len("struct<")
            while hive_type[i] != ">":
                colon = hive_type.index(":", i)
                fields[hive_type[i:colon]], i = parse(colon + 1)
                i += hive_type[i] == ","
            return fields, i + 1
        if hive_type.startswith("array<", i):
            _, i = parse(i + len("array<"))
            return {}, i + 1
        match = re.compile(r"[a-z]+").match(hive_type, i)
        assert match, hive_type[i:]
        return {}, match.end()

    tree, end = parse(0)
    assert end == len(hive_type), hive_type
    return tree


def sql_problems(sql: str, database: str, tables: dict[str, dict[str, Any]]) -> list[str]:
    """What ``sql`` names that is not a table of ``database`` in ``tables``, a column or struct field of the tables it
    reads, one of its own aliases, a Trino keyword or function (``tables``: name -> Glue table body)."""
    problems = []
    referenced = re.findall(r'"([^"]+)"\."([^"]+)"', sql)
    schema: dict[str, Any] = {}
    for db, table in referenced:
        if db != database or table not in tables:
            problems.append(f"unknown table {db}.{table}")
            continue
        body = tables[table]
        for column in body["storage_descriptor"]["columns"] + body.get("partition_keys", []):
            schema[column["name"]] = hive_fields(column["type"])
    text = re.sub(r"'[^']*'", "''", sql)  # string literals name nothing
    text = re.sub(r'"[^"]+"\."[^"]+"', "", text)
    for quoted in set(re.findall(r'"[^"]*"', text)) - PSEUDO_COLUMNS:
        problems.append(f"unknown quoted name {quoted}")
    text = re.sub(r'"[^"]*"', "", text)
    aliases = {a.lower() for a in re.findall(r"\bAS\s+([A-Za-z_]\w*)", text, flags=re.IGNORECASE)}
    ctes = {c.lower() for c in re.findall(r"([A-Za-z_]\w*)\s+AS\s*\(", text, flags=re.IGNORECASE)}
    for chain in re.findall(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", text):
        head, *rest = chain.lower().split(".")
        if head in ctes and len(rest) == 1 and (rest[0] in aliases or rest[0] in schema):
            continue
        if not rest and (head in SQL_WORDS or head in aliases or head in ctes):
            continue
        node = schema.get(head)
        for part in rest:
            node = None if node is None else node.get(part)
        if node is None:
            problems.append(f"unknown name {chain}")
    return problems


def test_the_sql_check_reports_what_no_table_defines(stack):
    tables = tables_by_name(stack)
    bad = 'SELECT item.latency_ms.s, capturedata.nope, bogus FROM "mlpipe_analytics_dev"."prediction_exports"'
    assert sql_problems(bad, DATABASE, tables) == [
        "unknown name item.latency_ms.s",
        "unknown name capturedata.nope",
        "unknown name bogus",
    ]
    assert sql_problems('SELECT id FROM "other_db"."processed_records"', DATABASE, tables) == [
        "unknown table other_db.processed_records",
        "unknown name id",
    ]


def test_each_named_query_names_only_the_databases_tables_and_their_columns(stack):
    tables = tables_by_name(stack)
    read = set()
    for query in of_type(stack, "aws_athena_named_query").values():
        assert sql_problems(query["query"], DATABASE, tables) == [], query["name"]
        read |= {table for _, table in re.findall(r'"([^"]+)"\."([^"]+)"', query["query"])}
    # Requests and score come from data capture, latency from the predictions table exports.
    assert read == {CAPTURE_TABLE, EXPORTS_TABLE}


def test_the_table_specs_are_the_synthesized_tables(stack):
    tables = tables_by_name(stack)
    for spec in TABLES:
        assert _columns(tables[spec.name]) == [(c.name, c.type) for c in spec.columns]
        assert _columns(tables[spec.name], "partition_keys") == [(c.name, c.type) for c in spec.partition_keys]


# --- checkov's inspected values ----------------------------------------------------------------------------------


def test_the_values_checkov_inspects(stack):
    workgroup = only(stack, "aws_athena_workgroup")["configuration"]
    assert workgroup["enforce_workgroup_configuration"] is True  # CKV_AWS_82
    assert workgroup["result_configuration"]["encryption_configuration"]["encryption_option"] == "SSE_KMS"  # 159
    encryption = only(stack, "aws_glue_security_configuration")["encryption_configuration"]  # CKV_AWS_99
    assert encryption["cloudwatch_encryption"]["cloudwatch_encryption_mode"] == "SSE-KMS"
    assert encryption["cloudwatch_encryption"]["kms_key_arn"]
    assert encryption["job_bookmarks_encryption"]["job_bookmarks_encryption_mode"] == "CSE-KMS"
    assert encryption["job_bookmarks_encryption"]["kms_key_arn"]
    assert encryption["s3_encryption"]["s3_encryption_mode"] != "DISABLED"
    assert only(stack, "aws_glue_crawler")["security_configuration"]  # CKV_AWS_195
    log_group = only(stack, "aws_cloudwatch_log_group")
    assert log_group["kms_key_id"]  # CKV_AWS_158
    assert log_group["retention_in_days"] >= 365  # CKV_AWS_66, CKV_AWS_338 (default LogsSettings)


# --- outputs -----------------------------------------------------------------------------------------------------


def test_outputs_for_the_stack():
    stack = TerraformStack(cdktf.Testing.app(), "analytics")
    analytics = build(stack, analytics_props())
    values = {key: value for key, (value, _) in analytics.outputs.items()}
    assert set(values) == {
        "analytics_database",
        "analytics_workgroup",
        "analytics_crawler",
        "analytics_crawler_log_group",
    }
    assert cdktf.Token.is_unresolved(values["analytics_crawler_log_group"])  # the log group's name, by reference
    assert analytics.names.log_group == LOG_GROUP
    assert all(description for _, description in analytics.outputs.values())
    assert set(analytics.named_queries) == {"requests_and_score", "latency", "daily_summary"}
    assert set(analytics.named_query_ids) == set(analytics.named_queries)


# --- settings and validation errors ------------------------------------------------------------------------------


def test_settings_defaults():
    settings = AnalyticsSettings()
    assert settings.crawler_schedule == "cron(15 2 * * ? *)"
    assert settings.bytes_scanned_cutoff_mb == 10_240
    assert settings.query_window_days == 30


CRON_SHAPE = "cron(Minutes Hours Day-of-month Month Day-of-week Year)"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "crawler_schedule",
            "rate(1 day)",
            f"Value error, must be a Glue cron expression {CRON_SHAPE}, e.g. cron(15 2 * * ? *); got 'rate(1 day)'",
        ),
        (
            "crawler_schedule",
            " cron(15 2 * * ? *)",
            f"Value error, must be a Glue cron expression {CRON_SHAPE}, e.g. cron(15 2 * * ? *); "
            "got ' cron(15 2 * * ? *)'",
        ),
        (
            "crawler_schedule",
            "cron(15 2 * * ?)",
            "Value error, a Glue cron expression has 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), "
            "got 5",
        ),
        (
            "crawler_schedule",
            "cron(15 2 * * * *)",
            "Value error, exactly one of Day-of-month ('*') and Day-of-week ('*') must be '?': Glue refuses a value "
            "in both, and needs one",
        ),
        (
            "crawler_schedule",
            "cron(15 2 ? * ? *)",
            "Value error, exactly one of Day-of-month ('?') and Day-of-week ('?') must be '?': Glue refuses a value "
            "in both, and needs one",
        ),
        (
            "crawler_schedule",
            "cron(15 2 * $ ? *)",
            "Value error, fields with characters cron does not allow: Month '$'",
        ),
        ("bytes_scanned_cutoff_mb", 9, "Input should be greater than or equal to 10"),
        ("bytes_scanned_cutoff_mb", 1024**3 + 1, "Input should be less than or equal to 1073741824"),
        ("query_window_days", 0, "Input should be greater than or equal to 1"),
        ("query_window_days", 3651, "Input should be less than or equal to 3650"),
        ("crawler_schedule", 5, "Input should be a valid string"),
    ],
)
def test_settings_errors_name_the_field_and_the_rule(field, value, message):
    with pytest.raises(ValidationError) as error:
        AnalyticsSettings(**{field: value})
    (problem,) = error.value.errors()
    assert problem["loc"] == (field,)
    assert problem["msg"] == message


def test_unknown_settings_are_refused():
    with pytest.raises(ValidationError) as error:
        AnalyticsSettings.model_validate({"crawler_schedul": "cron(15 2 * * ? *)"})
    (problem,) = error.value.errors()
    assert (problem["loc"], problem["msg"]) == (("crawler_schedul",), "Extra inputs are not permitted")


def test_an_over_long_role_name_fails_synth_naming_the_environment_and_the_limit():
    project = "p" * 45
    with pytest.raises(AnalyticsError) as error:
        build(TerraformStack(App(), "analytics"), analytics_props(naming=Naming(project=project, env="dev")))
    role = f"{project}-analytics-crawler-dev"
    assert str(error.value) == (
        f"environment 'dev', analytics: iam_role name for component 'analytics-crawler' ('{role}') is 67 chars; "
        "allowed: at most 64 chars of letters, digits and +=,.@_-. Shorten the project, environment or suffix name."
    )


def test_every_name_rule_is_reported_at_once():
    project = "p" * 110
    naming = Naming(project=project, env="dev")
    with pytest.raises(AnalyticsError) as error:
        build(TerraformStack(App(), "analytics"), analytics_props(naming=naming))
    role = f"{project}-analytics-crawler-dev"
    assert error.value.env == "dev"
    assert error.value.problems == [
        f"Athena named query 'requests_and_score' name '{project}-ab-requests-score-dev' (132 chars) breaks the rule: "
        "1-128 letters, digits and ._-",
        f"Athena named query 'daily_summary' name '{project}-ab-daily-summary-dev' (131 chars) breaks the rule: "
        "1-128 letters, digits and ._-",
        f"iam_role name for component 'analytics-crawler' ('{role}') is 132 chars; allowed: at most 64 chars of "
        "letters, digits and +=,.@_-. Shorten the project, environment or suffix name.",
        f"iam_policy name for component 'analytics-crawler' ('{role}') is 132 chars; allowed: at most 128 chars of "
        "letters, digits and +=,.@_-. Shorten the project, environment or suffix name.",
    ]


def test_a_database_name_athena_cannot_read_is_refused():
    naming = Naming(project="ml.pipe", env="dev")
    assert name_problems(naming, analytics_names(naming)) == [
        "Glue database name 'ml.pipe_analytics_dev' (21 chars) breaks the rule: 1-255 lower-case letters, digits "
        "and _ (Athena reads no other)"
    ]


# --- terraform validate ------------------------------------------------------------------------------------------


@pytest.mark.terraform
def test_the_stack_validates_with_the_pinned_provider(tmp_path):
    app = App(outdir=str(tmp_path / "out"))
    build(TerraformStack(app, "analytics"), analytics_props(settings=AnalyticsSettings(crawler_schedule=None)))
    app.synth()
    stack_dir = tmp_path / "out" / "stacks" / "analytics"
    env = terraform_env(tmp_path)
    terraform(["init", "-backend=false", "-input=false"], stack_dir, env)
    report = json.loads(terraform(["validate", "-json"], stack_dir, env, check=False).stdout)
    assert (report["valid"], report["error_count"], report["warning_count"]) == (True, 0, 0), report["diagnostics"]
