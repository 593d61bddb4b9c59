"""stacks/output_folder.py: synth replaces only a folder it can prove is its own, and leaves nothing half-done.

In-process tests with a stand-in for the synth (``write``), so failures of the file system can be injected; the CLI
tests in test_main_cli.py run the same cases through main.py.
"""

import os
import threading
import time
from pathlib import Path

import pytest

from stacks import output_folder
from stacks.output_folder import MARKER, MARKER_TEXT, OutputFolderError, write_output


def fake_synth(content: str = "new") -> "callable":
    def write(folder: Path) -> None:
        (folder / "stacks").mkdir()
        (folder / "manifest.json").write_text(content)

    return write


def tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() if p.is_file() else "<dir>" for p in sorted(folder.rglob("*"))}


def earlier_output(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(MARKER_TEXT)
    (folder / "manifest.json").write_text("old")
    return folder


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir())


def test_writes_a_new_folder_with_the_marker(tmp_path: Path) -> None:
    write_output(tmp_path / "out", fake_synth())
    assert tree(tmp_path / "out") == {MARKER: MARKER_TEXT, "manifest.json": "new", "stacks": "<dir>"}
    assert siblings(tmp_path / "out") == ["out"]


def test_the_new_folder_is_not_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_output(tmp_path / "out", fake_synth())
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_replaces_an_earlier_output(tmp_path: Path) -> None:
    out = earlier_output(tmp_path / "out")
    (out / "stale.txt").write_text("gone after the swap")
    write_output(out, fake_synth())
    assert tree(out) == {MARKER: MARKER_TEXT, "manifest.json": "new", "stacks": "<dir>"}
    assert siblings(out) == ["out"]


def test_replaces_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    write_output(tmp_path / "out", fake_synth())
    assert (tmp_path / "out" / MARKER).is_file()


@pytest.mark.parametrize("name", [".", "stacks", "user-folder"])
def test_refuses_a_folder_that_is_not_its_output(tmp_path: Path, name: str) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "stacks").mkdir()
    (project / "stacks" / "app.py").write_text("code")
    (project / "user-folder").mkdir()
    (project / "user-folder" / "notes.txt").write_text("mine")
    (project / "main.py").write_text("entry point")
    before = tree(project)
    target = project / name

    with pytest.raises(OutputFolderError) as caught:
        write_output(target, fake_synth())

    assert str(caught.value) == (
        f"{os.path.abspath(target)} exists and is not an earlier synth output (it has no {MARKER} file); synth "
        "replaces only its own output. Choose another folder, or move this one away yourself"
    )
    assert tree(project) == before
    assert siblings(project) == ["project"]


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a user's file")
    with pytest.raises(OutputFolderError, match=r"out is a file, not a synth output folder$"):
        write_output(tmp_path / "out", fake_synth())
    assert (tmp_path / "out").read_text() == "a user's file"
    assert siblings(tmp_path / "out") == ["out"]


def test_refuses_a_symbolic_link_even_to_an_earlier_output(tmp_path: Path) -> None:
    earlier_output(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputFolderError, match="is a symbolic link; name the folder itself"):
        write_output(tmp_path / "link", fake_synth())
    assert tree(tmp_path / "real") == {MARKER: MARKER_TEXT, "manifest.json": "old"}


def test_a_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError) as caught:
        write_output(tmp_path / "file" / "out", fake_synth())
    assert str(caught.value) == (
        f"cannot write the output folder {tmp_path}/file/out: {tmp_path}/file is a file, not a folder"
    )


def test_an_unwritable_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where permission bits do not stop writes: inject the error the kernel gives everyone else.
    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(output_folder.tempfile, "mkdtemp", refuse)
    with pytest.raises(OutputFolderError) as caught:
        write_output(tmp_path / "out", fake_synth())
    assert str(caught.value) == f"cannot write the output folder {tmp_path}/out: Permission denied ({tmp_path})"
    assert siblings(tmp_path / "out") == []


def test_an_unwritable_earlier_output_is_refused_before_anything_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = earlier_output(tmp_path / "out")
    (out / "stacks").mkdir()
    locked = str(out / "stacks")
    real_access = os.access
    monkeypatch.setattr(output_folder.os, "access", lambda p, mode: str(p) != locked and real_access(p, mode))

    with pytest.raises(OutputFolderError) as caught:
        write_output(out, fake_synth())

    assert str(caught.value) == f"{locked} is not writable, so the earlier output cannot be replaced"
    assert tree(out) == {MARKER: MARKER_TEXT, "manifest.json": "old", "stacks": "<dir>"}
    assert siblings(out) == ["out"]  # no stale .out.*.old


def test_a_failed_swap_restores_the_earlier_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = earlier_output(tmp_path / "out")
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".out.") and not self.name.endswith(".old"):
            raise OSError(5, "Input/output error", str(self))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OutputFolderError, match="Input/output error"):
        write_output(out, fake_synth())
    assert tree(out) == {MARKER: MARKER_TEXT, "manifest.json": "old"}
    assert siblings(out) == ["out"]


def test_a_failing_synth_leaves_the_earlier_output_and_no_temporary_folder(tmp_path: Path) -> None:
    out = earlier_output(tmp_path / "out")

    def half_write(folder: Path) -> None:
        (folder / "manifest.json").write_text("half")
        raise RuntimeError("synth failed")

    with pytest.raises(RuntimeError, match="synth failed"):
        write_output(out, half_write)
    assert tree(out) == {MARKER: MARKER_TEXT, "manifest.json": "old"}
    assert siblings(out) == ["out"]


def test_overlapping_runs_into_one_folder_are_serialized(tmp_path: Path) -> None:
    out = tmp_path / "out"
    events: list[str] = []
    errors: list[BaseException] = []

    def slow_synth(name: str) -> "callable":
        def write(folder: Path) -> None:
            events.append(f"{name} start")
            time.sleep(0.3)
            (folder / "manifest.json").write_text(name)
            events.append(f"{name} end")

        return write

    def run(name: str) -> None:
        try:
            write_output(out, slow_synth(name))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert events == ["one start", "one end", "two start", "two end"]  # never interleaved
    assert tree(out) == {MARKER: MARKER_TEXT, "manifest.json": "two"}
    assert siblings(out) == ["out"]
