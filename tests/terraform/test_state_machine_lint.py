"""statelint and asl-validator over every Step Functions definition of every environment stack (both phases and the
five-environment example), plus bad definitions that prove each linter catches what we rely on it for.

The two linters catch different things (statelint 3.1.0, asl-validator 4.0.0; pinned in the Pipfile and package.json):

==============================================  =========  =============
bad definition                                  statelint  asl-validator
==============================================  =========  =============
``Next`` names a state that does not exist      caught     caught
a Task without ``Resource``                     passes     caught (schema: Resource is required)
``States.ALL`` not the last catcher             caught     passes (its schema does not look at the order)
a malformed JSONPath (``InputPath``)            passes     caught (format ``asl_path``)
==============================================  =========  =============

How they run: ``.venv/bin/statelint <file>...`` (no flags: the URI and FLOAT checks stay on) and
``node_modules/.bin/asl-validator --json-path <file> [--json-path <file>]...``, in batches, at most ``WORKERS``
processes at a time, each failing file reported with its own problems (:func:`lint_files`).
Not ``--json-definition``: in 4.0.0 a later valid definition resets the exit code of an earlier invalid one and an
unparsable one exits 0. Not ``--silent``: it also hides the error text the failure message shows. ``--no-arn-check``
and ``--no-path-check`` are no-ops in 4.0.0 (commander names them ``arnCheck``/``pathCheck``, the CLI reads
``noArnCheck``/``noPathCheck``), so both checks always run. Both follow ``QueryLanguage`` (JSONPath unless a machine
or state says JSONata): a JSONPath-only field in a JSONata state (``Parameters``) or a JSONata-only one in a JSONPath
state (``Arguments``, ``Output``) fails both. statelint's ``--eval-jsonata`` is not used (it needs jsonata-python).

cdktf renders ``definition`` as a JSON string whose string values may hold Terraform interpolations (the ARNs of our
resources, e.g. ``"FunctionName": "${aws_lambda_function.validate_1A2B.arn}"``). Each interpolation is replaced by a
placeholder of the right kind before linting (:func:`placeholder`): an ``arn``/``*_arn`` attribute by an ARN of the
referenced resource type's service (``ARNS``; account 111111111111, us-east-1, name ``placeholder``); account, region,
partition, queue URL and repository URL attributes by such a value (``SCALARS``); anything else (names, ids, ``var.``,
``local.``) by ``placeholder``. ``$${`` (Terraform's escape of a literal ``${``) becomes ``${``.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stacks.ml_pipeline import stack_name
from tests.conftest import ROOT
from tests.support.synth import COMMITTED_STACKS, Synth, of_type, path_of, synth_context

ACCOUNT = "111111111111"
REGION = "us-east-1"
NAME = "placeholder"

# Resource type (resource or data source) -> the ARN its `arn` attribute has. A type not listed gets
# arn:aws:<second word of the type>:<region>:<account>:placeholder (aws_foo_bar -> foo), still a well-formed ARN.
ARNS = {
    "aws_lambda_function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}",
    "aws_lambda_alias": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}:live",
    "aws_sfn_state_machine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{NAME}",
    "aws_sfn_activity": f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{NAME}",
    "aws_sns_topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAME}",
    "aws_sqs_queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}",
    "aws_dynamodb_table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{NAME}",
    "aws_s3_bucket": f"arn:aws:s3:::{NAME}",
    "aws_iam_role": f"arn:aws:iam::{ACCOUNT}:role/{NAME}",
    "aws_kms_key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{NAME}",
    "aws_kms_alias": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{NAME}",
    "aws_sagemaker_model": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{NAME}",
    "aws_sagemaker_endpoint": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{NAME}",
    "aws_sagemaker_endpoint_configuration": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{NAME}",
    "aws_sagemaker_model_package_group": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{NAME}",
    "aws_cloudwatch_log_group": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{NAME}",
    "aws_cloudwatch_event_bus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{NAME}",
    "aws_kinesis_stream": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{NAME}",
    "aws_ecr_repository": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{NAME}",
    "aws_ecs_cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{NAME}",
    "aws_ecs_task_definition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{NAME}:1",
    "aws_glue_job": f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{NAME}",
    "aws_batch_job_queue": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{NAME}",
    "aws_batch_job_definition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{NAME}:1",
}
# Non-ARN attributes whose value has a shape: (type or None for any type, attribute) -> value.
SCALARS = {
    (None, "account_id"): ACCOUNT,
    (None, "region"): REGION,
    (None, "partition"): "aws",
    (None, "dns_suffix"): "amazonaws.com",
    ("aws_region", "name"): REGION,
    ("aws_region", "id"): REGION,
    ("aws_sqs_queue", "url"): f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{NAME}",
    ("aws_sqs_queue", "id"): f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{NAME}",
    ("aws_ecr_repository", "repository_url"): f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAME}",
}
# The first resource or data-source reference in an expression: [data.]<type>.<name>[<index>].<attribute>
REFERENCE = re.compile(r"\b(?:data\.)?(aws_[a-z0-9_]+)\.[A-Za-z0-9_-]+(?:\[[^\]]*\])?\.([a-z0-9_]+)")


def placeholder(expression: str) -> str:
    """The stand-in for one interpolation ``${expression}`` (see the module docstring)."""
    match = REFERENCE.search(expression)
    if match is None:
        return NAME  # var.x, local.x, a function of literals
    rtype, attribute = match.groups()
    for key in ((rtype, attribute), (None, attribute)):
        if key in SCALARS:
            return SCALARS[key]
    if attribute == "arn" or attribute.endswith("_arn"):
        return ARNS.get(rtype, f"arn:aws:{rtype.split('_')[1]}:{REGION}:{ACCOUNT}:{NAME}")
    return NAME


def _interpolation_end(text: str, start: int) -> int:
    """Index of the ``}`` closing the interpolation whose ``${`` is at ``start`` (braces nest: ``${f({a = 1})}``)."""
    depth = 0
    for index in range(start + 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise ValueError(f"unterminated interpolation at {start}: {text[start : start + 60]!r}")


def substitute_interpolations(text: str) -> str:
    """``text`` with every ``${...}`` replaced by its placeholder and every ``$${`` by a literal ``${``."""
    out: list[str] = []
    position = 0
    while (start := text.find("${", position)) >= 0:
        if start > 0 and text[start - 1] == "$":
            out.append(text[position : start - 1] + "${")
            position = start + 2
            continue
        end = _interpolation_end(text, start)
        out.append(text[position:start] + placeholder(text[start + 2 : end]))
        position = end + 1
    out.append(text[position:])
    return "".join(out)


def lintable(definition: Any) -> dict[str, Any]:
    """The ASL document of an ``aws_sfn_state_machine``'s ``definition`` (a JSON string with interpolations)."""
    if isinstance(definition, dict):
        document = definition
    elif not isinstance(definition, str):
        raise ValueError(f"definition is neither a JSON string nor an object: {definition!r}")
    else:
        text = substitute_interpolations(definition)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"definition is not JSON once interpolations are replaced ({error}); build it as a Python dict "
                f"and json.dumps it, so the linters can read it: {definition[:200]!r}"
            ) from error
    if not isinstance(document, dict) or "States" not in document:
        # statelint passes any JSON that is not an object: never hand it one.
        raise ValueError(f"definition is not an ASL state machine object: {str(definition)[:200]!r}")
    return document


# --- the linters -------------------------------------------------------------------------------------------------


def _statelint() -> Path:
    beside_python = Path(sys.executable).with_name("statelint")
    return beside_python if beside_python.exists() else ROOT / ".venv" / "bin" / "statelint"


def _asl_validator() -> Path:
    return ROOT / "node_modules" / ".bin" / "asl-validator"


LINTERS: dict[str, Callable[[list[Path]], list[str]]] = {  # linter -> its command over some files
    "statelint": lambda files: [str(_statelint()), *map(str, files)],
    "asl-validator": lambda files: [str(_asl_validator()), *(arg for f in files for arg in ("--json-path", str(f)))],
}
WORKERS = min(4, os.cpu_count() or 2)


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str


def _run(linter: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(LINTERS[linter](files), capture_output=True, text=True, timeout=120, check=False)


def _statelint_per_file(files: list[Path], result: subprocess.CompletedProcess[str]) -> dict[Path, Outcome] | None:
    """statelint over several files prints, for each failing file only, its path and then its problems."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in result.stdout.splitlines():
        if line in map(str, files):
            sections[current := line] = []
        elif current is None:
            return None
        else:
            sections[current].append(line)
    if result.returncode not in (0, 1) or (result.returncode == 1) != bool(sections):
        return None
    return {
        file: Outcome(1, "\n".join(sections[str(file)])) if str(file) in sections else Outcome(0, "") for file in files
    }


def _asl_validator_per_file(files: list[Path], result: subprocess.CompletedProcess[str]) -> dict[Path, Outcome] | None:
    """asl-validator prints a line per valid file on stdout and a header, then the errors, per invalid one on stderr
    (a crash or an unreadable file prints neither, for it and the files after it)."""
    parts = re.split(r'^✕ State machine definition "(.*)" is invalid:\n', result.stderr, flags=re.MULTILINE)
    invalid = {path: f"invalid:\n{errors.strip()}" for path, errors in zip(parts[1::2], parts[2::2], strict=True)}
    valid = {str(file) for file in files if f'✓ State machine definition "{file}" is valid' in result.stdout}
    if parts[0].strip() or valid & set(invalid) or valid | set(invalid) != set(map(str, files)):
        return None
    return {file: Outcome(1, invalid[str(file)]) if str(file) in invalid else Outcome(0, "valid") for file in files}


PER_FILE = {"statelint": _statelint_per_file, "asl-validator": _asl_validator_per_file}


def lint_files(jobs: list[tuple[str, Path]], reruns: list[tuple[str, Path]] | None = None) -> list[Outcome]:
    """The outcome of each ``(linter, file)`` job, in job order, with at most ``WORKERS`` processes at a time.

    Each linter runs over its files in at most ``WORKERS`` batches, one process each (asl-validator spends ~0.4 s
    starting node, then ~0.2 s per definition). A batch that fails is split into per-file outcomes by its output;
    where the output does not say (a crash, an unreadable file), its files run again one per process (listed in
    ``reruns`` when given).
    """
    for binary in (_statelint(), _asl_validator()):
        if not binary.exists():
            pytest.fail(f"{binary} not found: run `make install` (statelint: Pipfile dev packages; asl-validator: npm)")
    batches: list[tuple[str, list[Path]]] = []
    for linter in LINTERS:
        files = list(dict.fromkeys(file for name, file in jobs if name == linter))
        count = min(WORKERS, len(files))
        batches += [(linter, files[i::count]) for i in range(count)]
    outcomes: dict[tuple[str, Path], Outcome] = {}
    again: list[tuple[str, list[Path]]] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for (linter, files), result in zip(batches, pool.map(lambda batch: _run(*batch), batches), strict=True):
            whole = Outcome(result.returncode, (result.stdout + result.stderr).strip())
            split = {file: whole for file in files} if result.returncode == 0 or len(files) == 1 else None
            split = split or PER_FILE[linter](files, result)
            if split is None:
                again += [(linter, [file]) for file in files]
            else:
                outcomes.update({(linter, file): outcome for file, outcome in split.items()})
        (reruns if reruns is not None else []).extend((linter, file) for linter, [file] in again)
        for (linter, [file]), result in zip(again, pool.map(lambda batch: _run(*batch), again), strict=True):
            outcomes[linter, file] = Outcome(result.returncode, (result.stdout + result.stderr).strip())
    return [outcomes[job] for job in jobs]


# --- the synthesized definitions ---------------------------------------------------------------------------------

FIVE_ENVIRONMENTS = ROOT / "tests" / "fixtures" / "five_environments.json"
FIVE_CONTEXT = json.loads(FIVE_ENVIRONMENTS.read_text())["context"]
ENVIRONMENT_STACKS = [name for name in COMMITTED_STACKS if not name.startswith("state-backend-")]
VARIANTS = {  # variant -> (fixture, its environment stacks)
    "phase-one": ("synthesized", ENVIRONMENT_STACKS),
    "phase-two": ("phase_two", ENVIRONMENT_STACKS),
    "five-environments": ("five_environments", [stack_name(env) for env in FIVE_CONTEXT["environments"]]),
}
CASES = [(variant, stack) for variant, (_, stacks) in VARIANTS.items() for stack in stacks]


@pytest.fixture(scope="module")
def five_environments(tmp_path_factory) -> Synth:
    """The five-environment example (two accounts, two regions: tests/fixtures/five_environments.json)."""
    context = json.loads(FIVE_ENVIRONMENTS.read_text())["context"]
    return synth_context(context, tmp_path_factory.mktemp("five") / "cdktf.out", environ={})


def state_machines(stack: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(construct path, definition) of every aws_sfn_state_machine of a stack."""
    for body in of_type(stack, "aws_sfn_state_machine").values():
        yield path_of(body), body.get("definition")


@dataclass
class StackLint:
    files: dict[str, Path] = field(default_factory=dict)  # construct path -> the definition as linted
    problems: dict[str, list[str]] = field(default_factory=dict)  # linter -> one entry per failing file


@pytest.fixture(scope="module")
def lint_variant(tmp_path_factory) -> Callable[[str, Synth], dict[str, StackLint]]:
    """Lint every definition of a variant's environment stacks (both linters, one pool). A definition already linted
    (same text: phase two's are phase one's, environments often share theirs) is not linted again."""
    done: dict[str, dict[str, StackLint]] = {}
    outcomes: dict[tuple[str, str], Outcome] = {}  # (linter, definition text) -> outcome

    def _lint(variant: str, synth: Synth) -> dict[str, StackLint]:
        if variant in done:
            return done[variant]
        folder = tmp_path_factory.mktemp(variant)
        report = {stack: StackLint() for stack in VARIANTS[variant][1]}
        linted: list[tuple[str, Path, str]] = []  # (stack, file, text)
        for stack, lint in report.items():
            for path, definition in state_machines(synth.stack(stack)):
                file = folder / f"{path.replace('/', '__')}.asl.json"
                file.write_text(text := json.dumps(lintable(definition), indent=1))
                lint.files[path] = file
                linted.append((stack, file, text))
        new = {(linter, text): file for _, file, text in linted for linter in LINTERS}
        new = {key: file for key, file in new.items() if key not in outcomes}
        outcomes.update(zip(new, lint_files([(linter, file) for (linter, _), file in new.items()]), strict=True))
        for stack, lint in report.items():
            lint.problems = {
                linter: [
                    f"{file.name} (exit {outcome.returncode}):\n{outcome.output}"
                    for stack_of, file, text in linted
                    if stack_of == stack and (outcome := outcomes[linter, text]).returncode != 0
                ]
                for linter in LINTERS
            }
        done[variant] = report
        return report

    return _lint


@pytest.mark.terraform
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_cases_are_every_environment_stack(request, variant):
    synth = request.getfixturevalue(VARIANTS[variant][0])
    environment_stacks = sorted(name for name in synth.stacks if not name.startswith("state-backend-"))
    assert environment_stacks == sorted(VARIANTS[variant][1])


@pytest.mark.terraform
@pytest.mark.parametrize(("variant", "stack"), CASES)
def test_every_environment_stack_defines_state_machines(request, variant, stack):
    synth = request.getfixturevalue(VARIANTS[variant][0])
    machines = dict(state_machines(synth.stack(stack)))
    assert machines, f"{stack} ({variant}) has no aws_sfn_state_machine: nothing for statelint/asl-validator to lint"
    assert all(machines.values()), f"a state machine of {stack} ({variant}) has no definition: {sorted(machines)}"


@pytest.mark.terraform
@pytest.mark.parametrize("linter", LINTERS)
@pytest.mark.parametrize(("variant", "stack"), CASES)
def test_state_machine_definitions_pass_the_linter(request, lint_variant, variant, stack, linter):
    lint = lint_variant(variant, request.getfixturevalue(VARIANTS[variant][0]))[stack]
    if not lint.files:
        pytest.fail(f"{stack} ({variant}) has no aws_sfn_state_machine to lint")
    assert not lint.problems[linter], f"{linter} on {stack} ({variant}):\n" + "\n\n".join(lint.problems[linter])


# --- the linters catch what we rely on them for ------------------------------------------------------------------

LAMBDA = "${aws_lambda_function.validate_1A2B3C.arn}"
GOOD = {
    "Comment": "a well-formed definition the bad ones below each break in one place",
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": LAMBDA, "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2, "BackoffRate": 2.0}],
            "Catch": [
                {"ErrorEquals": ["DataValidationError"], "ResultPath": "$.error", "Next": "Failed"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"},
            ],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail", "Error": "WorkFailed"},
    },
}


def _broken(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    definition = json.loads(json.dumps(GOOD))
    edit(definition["States"]["Work"])
    return definition


BAD = {
    "next-pointing-nowhere": _broken(lambda work: work.update(Next="Nowhere")),
    "task-without-resource": _broken(lambda work: work.pop("Resource")),
    "states-all-not-last": _broken(lambda work: work["Catch"].reverse()),
    "malformed-input-path": _broken(lambda work: work.update(InputPath="$.items..[")),
}
# Which linter catches which bad definition (see the module docstring's table): they differ.
CAUGHT_BY = {
    "next-pointing-nowhere": {"statelint", "asl-validator"},
    "task-without-resource": {"asl-validator"},  # statelint 3.1.0 lists Resource among a Task's optional fields
    "states-all-not-last": {"statelint"},  # asl-validator 4.0.0 checks no catcher order
    "malformed-input-path": {"asl-validator"},  # statelint 3.1.0 checks no JSONPath syntax
}


@dataclass(frozen=True)
class Examples:
    outcomes: dict[tuple[str, str], Outcome]  # (name, linter) -> outcome
    reruns: list[tuple[str, Path]]  # files whose batch output could not be split


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Examples:
    """The bad definitions and their control (GOOD), rendered as cdktf does (a JSON string with interpolations),
    linted like the synthesized ones."""
    folder = tmp_path_factory.mktemp("examples")
    jobs = []
    for name, definition in {**BAD, "control": GOOD}.items():
        file = folder / f"{name}.asl.json"
        file.write_text(json.dumps(lintable(json.dumps(definition))))
        jobs += [((name, linter), file) for linter in LINTERS]
    reruns: list[tuple[str, Path]] = []
    outcomes = lint_files([(linter, file) for (_, linter), file in jobs], reruns)
    return Examples({key: outcome for (key, _), outcome in zip(jobs, outcomes, strict=True)}, reruns)


@pytest.mark.terraform
@pytest.mark.parametrize("linter", LINTERS)
@pytest.mark.parametrize("bad", BAD)
def test_the_linter_catches_exactly_its_bad_definitions(examples, bad, linter):
    outcome = examples.outcomes[bad, linter]
    if linter in CAUGHT_BY[bad]:
        # A catch is a validation error (exit 1), never a crash or a parse error (asl-validator exits 2 on those).
        assert outcome.returncode == 1, f"{linter} should catch {bad}:\n{outcome.output}"
    else:
        assert outcome.returncode == 0, f"{linter} now catches {bad} too: update CAUGHT_BY:\n{outcome.output}"


@pytest.mark.terraform
@pytest.mark.parametrize("linter", LINTERS)
def test_the_control_for_the_bad_definitions_passes_the_linter(examples, linter):
    assert LAMBDA in json.dumps(GOOD)
    outcome = examples.outcomes["control", linter]
    assert outcome.returncode == 0, outcome.output


@pytest.mark.terraform
def test_a_batch_with_bad_definitions_is_split_per_file_from_its_output(examples):
    """Each linter's batch output names its failing files (else each file runs again alone: correct, but slower)."""
    assert examples.reruns == []


# --- the placeholders (no linter runs) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("aws_lambda_function.validate_1A2B.arn", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:placeholder"),
        ("data.aws_lambda_function.x.arn", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:placeholder"),
        ("aws_sns_topic.alerts.arn", f"arn:aws:sns:{REGION}:{ACCOUNT}:placeholder"),
        ("aws_iam_role.jobs.arn", f"arn:aws:iam::{ACCOUNT}:role/placeholder"),
        ("aws_kms_key.ml.arn", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/placeholder"),
        ("aws_sfn_state_machine.training.arn", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:placeholder"),
        (
            "aws_dynamodb_table.tables_model-registry_8CB0EC51.arn",
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/placeholder",
        ),
        ("aws_s3_bucket.raw[0].arn", "arn:aws:s3:::placeholder"),
        ("aws_sagemaker_model.m.arn", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/placeholder"),
        ("aws_foo_bar.x.arn", f"arn:aws:foo:{REGION}:{ACCOUNT}:placeholder"),
        ("aws_lambda_function.x.qualified_arn", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:placeholder"),
        ("aws_sqs_queue.q.url", f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/placeholder"),
        ("data.aws_caller_identity.caller.account_id", ACCOUNT),
        ("data.aws_region.current.name", REGION),
        ("aws_dynamodb_table.registry.name", "placeholder"),
        ("aws_s3_bucket.raw.bucket", "placeholder"),
        ("var.model_name", "placeholder"),
        ('replace(aws_sns_topic.alerts.arn, "a", "b")', f"arn:aws:sns:{REGION}:{ACCOUNT}:placeholder"),
    ],
)
def test_interpolations_become_placeholders_of_their_service(expression, value):
    assert substitute_interpolations("${" + expression + "}") == value


def test_a_rendered_definition_with_interpolations_becomes_a_lintable_document():
    rendered = json.dumps(
        {
            "StartAt": "A",
            "States": {
                "A": {
                    "Type": "Task",
                    "Resource": "${aws_lambda_function.f.arn}:$LATEST",
                    "Parameters": {"Literal": "$${not an interpolation}", "Nested": "${jsonencode({a = {b = 1}})}"},
                    "End": True,
                }
            },
        }
    )
    state = lintable(rendered)["States"]["A"]
    assert state["Resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:placeholder:$LATEST"
    assert state["Parameters"] == {"Literal": "${not an interpolation}", "Nested": "placeholder"}


@pytest.mark.parametrize(
    "definition",
    ['${jsonencode({StartAt = "A"})}', '${file("definition.json")}', json.dumps(json.dumps(GOOD)), '{"a": "${x', None],
)
def test_a_definition_the_linters_cannot_read_fails_loudly(definition):
    with pytest.raises(ValueError, match=r"definition|unterminated"):
        lintable(definition)
