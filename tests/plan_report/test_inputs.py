"""Bad input exits 2 with one line naming the file and what is wrong; never a traceback, whatever the bytes."""

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.plan_report.plans import STACK, change, fixture, plan, run, synth, write
from tools.plan_report.cli import main


def error_of(capsys, *args) -> str:
    result = run(capsys, *args)
    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plan-report: error: "), result.err
    return lines[0].removeprefix("plan-report: error: ")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"{not json", "not JSON at line 1 column 2"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 text"),
        (b"[1, 2]", "not a Terraform plan: no format_version/resource_changes"),
        (b'{"resource_changes": []}', "not a Terraform plan: no format_version/resource_changes"),
        (b'{"format_version": "1.0", "values": {}}', "a Terraform state, not a plan"),
        (b'{"format_version": "2.0", "resource_changes": []}', "format_version 2.0 is not supported"),
        (b'{"format_version": "1.2", "resource_changes": {}}', "resource_changes is not a list"),
        (b'{"format_version": "1.2", "resource_changes": [7]}', "resource_changes[0] is not an object"),
        (
            b'{"format_version": "1.2", "resource_changes": [{"type": "t", "change": {}}]}',
            "resource_changes[0].address",
        ),
        (
            b'{"format_version": "1.2", "resource_changes": [{"address": "a.b", "type": "a", '
            b'"change": {"actions": []}}]}',
            "resource_changes[0].change.actions is not a non-empty list of strings",
        ),
        (
            b'{"format_version": "1.2", "resource_changes": [{"address": "a.b", "type": "a", "change": '
            b'{"actions": ["delete", "create"], "replace_paths": ["bucket"]}}]}',
            "resource_changes[0].change.replace_paths is not a list of attribute paths",
        ),
        (b'{"format_version": "1.2", "resource_changes": [], "x": NaN}', "not JSON"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_bad_plan_names_the_file_and_the_problem(capsys, tmp_path, content, problem):
    plan_file = tmp_path / f"{STACK}.json"
    plan_file.write_bytes(content)
    message = error_of(capsys, plan_file)
    assert message.startswith(f"{plan_file}: ")
    assert problem in message


def test_an_unreadable_plan(capsys, tmp_path):
    assert (
        error_of(capsys, tmp_path / "missing.json")
        == f"{tmp_path / 'missing.json'}: cannot read it (No such file or directory)"
    )
    folder = tmp_path / f"{STACK}.json"
    folder.mkdir()
    assert error_of(capsys, folder).startswith(f"{folder}: cannot read it")


def test_an_empty_plan_from_terraform_is_fine(capsys, tmp_path):
    """What Terraform 1.11 writes for a configuration without resources: no resource_changes at all."""
    empty = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {}},
        "configuration": {"root_module": {}},
        "applyable": False,
        "complete": True,
        "errored": False,
    }
    result = run(capsys, write(tmp_path, empty))
    assert result.code == 0
    assert "### `ml-pipeline-dev`: no changes" in result.out


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("[]", 'not an acknowledgement file: want {"acknowledgements": [...]}'),
        ('{"acknowledgements": [], "extra": 1}', "unknown key 'extra'"),
        ('{"acknowledgements": [3]}', "acknowledgements[0] is not an object"),
        (
            '{"acknowledgements": [{"stack": "s", "address": "a"}]}',
            "acknowledgements[0].reason must be a non-empty string",
        ),
        ('{"acknowledgements": [{"stack": "s", "address": "a", "reason": "  "}]}', "reason must be a non-empty string"),
        ('{"acknowledgements": [{"stack": "s", "address": "a", "reason": "r", "why": 1}]}', "unknown key 'why'"),
        (
            '{"acknowledgements": [{"stack": "s", "address": "a", "reason": "r", "actions": "delete"}]}',
            "actions must be a non-empty list of action names",
        ),
        (
            '{"acknowledgements": [{"stack": "s", "address": "a", "reason": "r"}, '
            '{"stack": "s", "address": "a", "reason": "again"}]}',
            "acknowledgements[1] repeats s a",
        ),
    ],
)
def test_a_malformed_acknowledgement_file(capsys, tmp_path, document, problem):
    acks = tmp_path / "acks.json"
    acks.write_text(document)
    message = error_of(capsys, write(tmp_path, plan()), "--acknowledgements", acks)
    assert message.startswith(f"{acks}: ")
    assert problem in message


def test_an_explicit_acknowledgement_file_must_exist(capsys, tmp_path):
    message = error_of(capsys, write(tmp_path, plan()), "--acknowledgements", tmp_path / "nope.json")
    assert "nope.json: cannot read it" in message


def test_the_repository_acknowledgement_file_is_valid_and_empty(capsys, tmp_path):
    repo_file = Path(__file__).resolve().parents[2] / "tools" / "plan-acknowledgements.json"
    result = run(capsys, write(tmp_path, plan()), "--acknowledgements", repo_file)
    assert result.code == 0
    assert json.loads(repo_file.read_text())["acknowledgements"] == []


@pytest.mark.parametrize(
    ("name", "stack"),
    [
        ("ml-pipeline-dev.json", "ml-pipeline-dev"),
        ("plan-ml-pipeline-prod.json", "ml-pipeline-prod"),
        ("state-backend-111111111111-us-east-1.json", "state-backend-111111111111-us-east-1"),
    ],
)
def test_the_stack_comes_from_the_file_name(capsys, tmp_path, name, stack):
    summary = tmp_path / "summary.json"
    run(capsys, write(tmp_path, plan(), name), "--summary", summary)
    assert list(json.loads(summary.read_text())["stacks"]) == [stack]


def test_a_generic_name_takes_the_stack_from_the_synth_beside_it(capsys, tmp_path):
    folder = tmp_path / "cdktf.out" / "stacks" / STACK
    write(folder, synth(STACK, {}), "cdk.tf.json")
    summary = tmp_path / "summary.json"
    run(capsys, write(folder, plan(), "plan.json"), "--summary", summary)
    assert list(json.loads(summary.read_text())["stacks"]) == [STACK]


def test_a_generic_name_without_a_synth_is_an_error(capsys, tmp_path):
    message = error_of(capsys, write(tmp_path, plan(), "plan.json"))
    assert message.endswith("cannot tell which stack this plan is for: name it <stack>.json or pass --stack NAME")


def test_synth_of_another_stack_is_an_error(capsys, tmp_path):
    write(tmp_path, synth("ml-pipeline-prod", {}), "cdk.tf.json")
    message = error_of(capsys, write(tmp_path, plan()))
    assert message == f"{tmp_path / 'cdk.tf.json'}: is stack ml-pipeline-prod, but the plan is for {STACK}"


def test_synth_folder_errors(capsys, tmp_path):
    plan_file = write(tmp_path / "plans", plan())
    assert error_of(capsys, plan_file, "--synth", tmp_path / "nowhere").endswith(
        "not a folder (--synth names the cdktf.out/stacks folder)"
    )
    (tmp_path / "stacks").mkdir()
    assert error_of(capsys, plan_file, "--synth", tmp_path / "stacks") == (
        f"{tmp_path / 'stacks' / STACK / 'cdk.tf.json'}: not found (--synth names the cdktf.out/stacks folder)"
    )
    (tmp_path / "stacks" / STACK).mkdir()
    (tmp_path / "stacks" / STACK / "cdk.tf.json").write_text("{")
    assert "cdk.tf.json: not JSON" in error_of(capsys, plan_file, "--synth", tmp_path / "stacks")


def test_stack_option_and_duplicates(capsys, tmp_path):
    one, two = write(tmp_path / "a", plan()), write(tmp_path / "b", plan())
    assert error_of(capsys, one, two, "--stack", "x") == (
        "--stack: names the stack of one plan; name several plans <stack>.json instead"
    )
    assert error_of(capsys, one, two) == f"{two}: is stack {STACK} again (already {one})"


def test_unwritable_output(capsys, tmp_path):
    message = error_of(capsys, write(tmp_path, plan()), "--summary", tmp_path / "no" / "such" / "dir.json")
    assert "dir.json: cannot write it" in message


def test_max_chars_must_be_positive(capsys, tmp_path):
    assert error_of(capsys, write(tmp_path, plan()), "--max-chars", "0") == (
        "--max-chars: must be a positive number of characters"
    )


# --- Properties --------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
TYPES = [
    "aws_s3_bucket",
    "aws_sfn_state_machine",
    "aws_iam_role_policy",
    "aws_kms_key",
    "aws_lambda_function",
    "aws_sagemaker_endpoint",
    "aws_sagemaker_endpoint_configuration",
    "aws_appautoscaling_target",
    "aws_cloudwatch_event_rule",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_dynamodb_table",
    "aws_sqs_queue",
]
ATTRIBUTES = [
    "definition",
    "policy",
    "production_variants",
    "environment",
    "rule",
    "name",
    "endpoint_config_name",
    "resource_id",
    "force_destroy",
    "schedule_expression",
    "event_pattern",
    "retention_in_days",
    "tags",
]
values = st.one_of(json_values, json_values.map(json.dumps))  # policies and definitions are JSON in strings
attribute_maps = st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=5) | json_values
marks = st.one_of(st.booleans(), st.dictionaries(st.sampled_from(ATTRIBUTES), st.booleans() | json_values, max_size=3))
actions = st.sampled_from(
    [
        ["no-op"],
        ["create"],
        ["update"],
        ["delete"],
        ["delete", "create"],
        ["create", "delete"],
        ["read"],
        ["forget"],
        ["create", "forget"],
        ["explode"],
    ]
)


@st.composite
def plan_like(draw) -> dict:
    entries = []
    for index in range(draw(st.integers(0, 5))):
        rtype = draw(st.sampled_from(TYPES))
        entry = change(
            f"{rtype}.r{index}_1A2B3C4D",
            draw(actions),
            draw(attribute_maps),
            draw(attribute_maps),
            after_unknown=draw(marks),
            before_sensitive=draw(marks),
            after_sensitive=draw(marks),
        )
        if draw(st.booleans()):
            entry["change"]["replace_paths"] = [[draw(st.sampled_from(ATTRIBUTES)), 0]]
        if draw(st.booleans()):
            entry["previous_address"] = f"{rtype}.old{index}"
        entries.append(entry)
    document = plan(*entries, drift=tuple(entries[:1]))
    if draw(st.booleans()):
        document["prior_state"] = {
            "values": {
                "root_module": {
                    "resources": [
                        {
                            "address": "aws_appautoscaling_target.t",
                            "type": "aws_appautoscaling_target",
                            "values": draw(json_values),
                            "sensitive_values": draw(marks),
                        }
                    ]
                }
            }
        }
    if draw(st.booleans()):
        document["relevant_attributes"] = draw(json_values)
    return document


def _exit_code_of(content: bytes) -> int:
    with tempfile.TemporaryDirectory() as folder:
        plan_file = Path(folder) / f"{STACK}.json"
        plan_file.write_bytes(content)
        return main(
            [
                str(plan_file),
                "--full",
                str(Path(folder) / "full.md"),
                "--summary",
                str(Path(folder) / "s.json"),
                "--max-chars",
                "2000",
            ]
        )


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_plan_exit_cleanly(capsys, content):
    assert _exit_code_of(content) in (0, 1, 2)
    assert "internal error" not in capsys.readouterr().err


@settings(max_examples=100)
@given(json_values)
def test_any_json_as_a_plan_exits_cleanly(capsys, document):
    assert _exit_code_of(json.dumps(document).encode()) in (0, 1, 2)
    assert "internal error" not in capsys.readouterr().err


@settings(max_examples=100)
@given(plan_like())
def test_any_plan_shaped_document_is_reviewed_without_error(capsys, document):
    code = _exit_code_of(json.dumps(document).encode())
    err = capsys.readouterr().err
    assert code in (0, 1)
    assert err == "" or err.startswith("plan-report: the summary and blocking items alone take")


def test_real_fixtures_are_valid_plans(capsys, tmp_path):
    for name in ("small", "data-loss", "phase-flip", "endpoint-roll", "dev-phase-two"):
        assert run(capsys, write(tmp_path / name, fixture(name))).code in (0, 1)
        assert capsys.readouterr().err == ""
