"""The repository layout rules that keep the app importable and the README honest."""

import re
import subprocess

from tests.conftest import ROOT


def test_constructs_folder_has_no_init_py():
    assert not (ROOT / "constructs" / "__init__.py").exists(), (
        "constructs/__init__.py makes our folder a regular package named `constructs`, which shadows the constructs "
        "library that cdktf imports: nothing would import any more. Our modules are reached through the library's "
        "package path instead (see stacks/__init__.py)."
    )


def test_our_construct_modules_import_beside_the_library():
    import constructs
    from constructs.naming import Naming

    assert hasattr(constructs, "Construct")  # still the library
    assert Naming("p", "dev").name("raw") == "p-raw-dev"


def test_readme_documents_exactly_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)", quickstart, flags=re.MULTILINE)
    assert commands == ["make synth", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_committed_file_names_a_package_registry_host():
    hosts = "|".join(
        ["pypi" + r"\.org", "files" + r"\.pythonhosted", "registry" + r"\.npmjs", "registry" + r"\.yarnpkg"]
    )
    found = subprocess.run(["git", "grep", "-nIE", hosts], cwd=ROOT, capture_output=True, text=True, check=False)
    assert found.stdout == "", found.stdout


def test_pinned_stack():
    pipfile = (ROOT / "Pipfile").read_text()
    assert 'cdktf = "==0.21.0"' in pipfile
    assert 'cdktf-cdktf-provider-aws = "==20.1.0"' in pipfile
    assert 'url = "${PIP_INDEX_URL}"' in pipfile
    assert '"cdktf-cli": "0.21.0"' in (ROOT / "package.json").read_text()
