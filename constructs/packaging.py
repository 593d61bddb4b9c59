"""Deterministic Lambda zips: the same source always gives the same bytes (ARCHITECTURE §5).

A zip records timestamps, permissions and the order of its entries, so zipping a fresh checkout would give new bytes
(and a new ``source_code_hash``, so a Terraform diff) although no code changed. Here every entry has a fixed
timestamp, fixed permissions and a sorted place, and is deflated at a fixed level. The file is named after its
content, so an unchanged function reuses the zip already in the cache folder.

Layout of every zip (see lambda_src/README.md)::

    <function>.py      handler "<function>.handler"
    mlp_common/...     the shared package, the same copy in every zip
"""

import base64
import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

FUNCTIONS = ("preprocess", "inference", "stream_consumer", "evaluate", "traffic_shift", "validate", "approval")
SHARED_PACKAGE = "mlp_common"

# Cache folder for built zips (gitignored). cdktf copies each zip into cdktf.out as an asset at synth time.
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / ".gen" / "lambda"

# The earliest time a zip header can hold (the DOS epoch).
_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # regular file, rw-r--r--
_COMPRESS_LEVEL = 9
_UNIX = 3  # ZipInfo.create_system: the same on every build host, so the central directory does not vary


def _excluded(relative: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in relative.parts) or relative.suffix in (
        ".pyc",
        ".pyo",
    )


def zip_entries(function: str, source_root: Path) -> list[tuple[str, Path]]:
    """(name in the zip, file on disk) of every entry, sorted by name."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function '{function}'; allowed: {', '.join(FUNCTIONS)}")
    handler = source_root / function / f"{function}.py"
    shared = source_root / SHARED_PACKAGE
    missing = [str(p) for p in (handler, shared / "__init__.py") if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"cannot package '{function}': missing {', '.join(missing)}")
    entries = [(handler.name, handler)]
    for path in shared.rglob("*"):
        relative = path.relative_to(source_root)
        if path.is_file() and not _excluded(relative):
            entries.append((relative.as_posix(), path))
    return sorted(entries)


def zip_bytes(function: str, source_root: Path) -> bytes:
    """The zip of one function, in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in zip_entries(function, source_root):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = _UNIX
            info.external_attr = _FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=_COMPRESS_LEVEL)
    return buffer.getvalue()


def build_zip(function: str, source_root: Path, out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    """Write ``<function>-<sha256[:16]>.zip`` into ``out_dir`` (if not already there) and return its path."""
    data = zip_bytes(function, source_root)
    target = out_dir / f"{function}-{hashlib.sha256(data).hexdigest()[:16]}.zip"
    if target.is_file() and target.read_bytes() == data:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then rename: a concurrent synth never sees a half-written zip.
    handle, temporary = tempfile.mkstemp(prefix=f".{function}-", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def source_hash(path: Path) -> str:
    """Base64 of the file's SHA-256 digest: what Terraform's ``filebase64sha256`` returns."""
    return base64.b64encode(hashlib.sha256(Path(path).read_bytes()).digest()).decode("ascii")
