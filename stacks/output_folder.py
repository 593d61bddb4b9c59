"""The synth output folder: written whole or not at all, and only ever replacing a folder synth can prove it wrote.

``CDKTF_OUTDIR`` (and so ``cdktf synth -o DIR``) may name any path. Synth writes into a fresh sibling folder, marks it
with :data:`MARKER`, and swaps it in. It replaces an existing folder only if that folder carries the marker (or is
empty); anything else (the project itself, a source folder, a user's folder, a file, a symbolic link) is refused with
an :class:`OutputFolderError` before anything is written. Runs into one folder are serialized by a lock on its parent
folder, so an overlapping run waits instead of racing the swap.
"""

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = ".ml-pipeline-synth-output"
MARKER_TEXT = (
    "This folder is synthesized output of the ML pipeline app (main.py). Synth replaces a folder only while this file\n"
    "is in it; do not keep anything else here.\n"
)
LOCK_WAIT_SECONDS = 300  # an overlapping synth takes well under a minute; a lock held longer is a hung process


class OutputFolderError(Exception):
    """The output folder cannot be (re)written; nothing was changed."""


def _refusal(outdir: Path) -> str | None:
    """Why ``outdir`` must not be replaced, or None if it is absent, empty, or an earlier output of ours."""
    if outdir.is_symlink():
        return f"{outdir} is a symbolic link; name the folder itself"
    if not outdir.exists():
        return None
    if not outdir.is_dir():
        return f"{outdir} is a file, not a synth output folder"
    if (outdir / MARKER).is_file() or not any(outdir.iterdir()):
        return None
    return (
        f"{outdir} exists and is not an earlier synth output (it has no {MARKER} file); synth replaces only its own "
        "output. Choose another folder, or move this one away yourself"
    )


def _unremovable(outdir: Path) -> str | None:
    """A folder inside the old output that could not be emptied (checked before the swap, so no stale copy stays)."""
    if not outdir.is_dir():
        return None
    for folder, _, _ in os.walk(outdir):
        if not os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


@contextmanager
def _locked(parent: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``parent`` (the folder itself: no lock file is left behind)."""
    fd = os.open(parent, os.O_RDONLY)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OutputFolderError(
                        f"another synth has held {parent} for over {LOCK_WAIT_SECONDS} s; is it hung?"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_output(outdir: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(folder)`` into a fresh folder, mark it, and swap it in for ``outdir``.

    Raises :class:`OutputFolderError` (nothing changed) when ``outdir`` is not ours to replace or cannot be written.
    Any exception from ``write`` leaves the previous output untouched and no temporary folder behind.
    """
    outdir = Path(os.path.abspath(outdir))  # not resolve(): a symbolic link must be seen, not followed
    for ancestor in outdir.parents:
        if ancestor.exists() and not ancestor.is_dir():
            raise OutputFolderError(f"cannot write the output folder {outdir}: {ancestor} is a file, not a folder")
    try:
        outdir.parent.mkdir(parents=True, exist_ok=True)
        with _locked(outdir.parent):
            _write_locked(outdir, write)
    except OSError as error:
        where = error.filename or outdir
        raise OutputFolderError(
            f"cannot write the output folder {outdir}: {error.strerror or error} ({where})"
        ) from None


def _write_locked(outdir: Path, write: Callable[[Path], None]) -> None:
    problem = _refusal(outdir)
    if problem is None and (folder := _unremovable(outdir)) is not None:
        problem = f"{folder} is not writable, so the earlier output cannot be replaced"
    if problem:
        raise OutputFolderError(problem)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private (0700); the output is an ordinary folder
    previous = staging.with_name(f"{staging.name}.old")
    try:
        write(staging)
        (staging / MARKER).write_text(MARKER_TEXT)
        if outdir.exists():
            outdir.rename(previous)
        try:
            staging.rename(outdir)
        except OSError:
            if previous.exists():
                previous.rename(outdir)  # put the earlier output back
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
