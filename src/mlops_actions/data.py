"""Reading the user's tables and naming their version.

`load_table` reads CSV, a Parquet file, a folder of Parquet files, or a DVC-tracked path at a git
revision (through `dvc.api`), and turns every way such input goes wrong into one `InputError` that
says what, where and how to fix it. `data_version` names what was read: the DVC revision and md5
when the path is DVC-tracked, otherwise a content hash, so a run can record exactly its data.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_actions.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

_PARQUET_SUFFIXES = {".parquet", ".pq"}
_OTHER_DELIMITERS = (";", "\t", "|")


@dataclass(frozen=True)
class DataVersion:
    """Which bytes were read: `text` is what runs and reports record."""

    kind: Literal["dvc", "content"]
    rev: str | None
    md5: str
    text: str


def find_dvc_repo(path: Path) -> Path | None:
    """The nearest folder at or above `path` that holds a `.dvc/` folder."""
    for folder in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (folder / ".dvc").is_dir():
            return folder
    return None


def is_dvc_tracked(path: Path) -> bool:
    """True when `path` has a `.dvc` pointer file beside it inside a DVC repository."""
    return Path(f"{path}.dvc").is_file() and find_dvc_repo(path) is not None


def load_table(
    path: Path,
    *,
    rev: str | None = None,
    repo: Path | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read a table; raises InputError for anything a user has to fix.

    With `rev` (or a DVC-tracked path), the bytes come from DVC at that git revision; they are
    pulled from the DVC remote when not in the local cache. Blocking; reads the whole table.
    """
    path = Path(path)
    if rev is not None or is_dvc_tracked(path):
        raw = _read_dvc(path, rev=rev, repo=repo)
        return _parse_bytes(raw, path, columns)
    if not path.exists():
        raise InputError(
            f"data not found: {path};",
            hint="check the path (data.* in mlops.yaml or --data), or run `dvc pull`.",
        )
    if path.is_dir():
        return _read_parquet_folder(path, columns)
    return _parse_bytes(path.read_bytes(), path, columns)


def data_version(path: Path, *, rev: str | None = None, repo: Path | None = None) -> DataVersion:
    """Name the version of the data at `path`: DVC rev + md5, or a sha256 of the content."""
    path = Path(path)
    pointer = Path(f"{path}.dvc")
    if rev is not None or is_dvc_tracked(path):
        root = repo or find_dvc_repo(path)
        if root is None:
            raise InputError(
                f"{path} is not inside a DVC repository;",
                hint="run `dvc init` there, or drop data.dvc_rev / --data-rev.",
            )
        text = _pointer_text(pointer, root, rev)
        md5 = _pointer_md5(text, pointer)
        label = rev or "workspace"
        return DataVersion("dvc", rev, md5, f"dvc:{label}:{md5}")
    if not path.exists():
        raise InputError(f"data not found: {path};", hint="check the path.")
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    hexdigest = digest.hexdigest()
    return DataVersion("content", None, hexdigest, f"sha256:{hexdigest[:16]}")


# ---------------------------------------------------------------- internals


def _parse_bytes(raw: bytes, path: Path, columns: list[str] | None) -> pd.DataFrame:
    if not raw.strip():
        raise InputError(f"{path} is empty;", hint="regenerate or re-export the data.")
    if path.suffix.lower() in _PARQUET_SUFFIXES or raw[:4] == b"PAR1":
        return _read_parquet(io.BytesIO(raw), path, columns)
    return _read_csv(raw, path, columns)


def _read_csv(raw: bytes, path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pandas as pd

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte {exc.start} is {raw[exc.start : exc.start + 1]!r});",
            hint="re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).",
        ) from None
    first = text.split("\n", 1)[0]
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, usecols=columns, low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty;", hint="regenerate or re-export the data.") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise InputError(
            f"{path} is not a well-formed CSV ({detail});",
            hint="check quoting and that every row has the header's number of fields.",
        ) from None
    except ValueError as exc:  # usecols names a column the file lacks
        raise InputError(f"{path}: {exc};", hint="check the column names.") from None
    if frame.shape[1] == 1 and sep == ",":
        for other in _OTHER_DELIMITERS:
            if other in first:
                shown = {"\t": "tabs"}.get(other, f"'{other}'")
                raise InputError(
                    f"{path} looks delimited by {shown}, not commas;",
                    hint="export it as comma-separated CSV (or name it .tsv for tabs).",
                )
    if frame.empty:
        raise InputError(f"{path} has a header but no rows;", hint="check the export.")
    return frame


def _read_parquet(source: Any, path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{path} is not readable Parquet ({reason});",
            hint="the file is truncated or corrupt: re-export it or `dvc pull` it again.",
        ) from None
    if table.num_rows == 0:
        raise InputError(f"{path} has no rows;", hint="check the export.")
    return table.to_pandas()


def _read_parquet_folder(path: Path, columns: list[str] | None) -> pd.DataFrame:
    import pandas as pd

    parts = sorted(p for p in path.rglob("*") if p.suffix.lower() in _PARQUET_SUFFIXES)
    if not parts:
        raise InputError(
            f"{path} is a folder without Parquet files;",
            hint="point at a CSV/Parquet file or a folder of *.parquet files.",
        )
    frames = [_read_parquet(str(p), p, columns) for p in parts]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_dvc(path: Path, *, rev: str | None, repo: Path | None) -> bytes:
    root = repo or find_dvc_repo(path)
    if root is None:
        raise InputError(
            f"{path} is not inside a DVC repository;",
            hint="run `dvc init` and `dvc add` the data, or drop data.dvc_rev / --data-rev.",
        )
    import dvc.api
    from dvc.exceptions import DvcException

    relative = path.resolve().relative_to(root.resolve()).as_posix()
    try:
        with dvc.api.open(relative, repo=str(root), rev=rev, mode="rb") as fh:
            data: bytes = fh.read()
            return data
    except DvcException as exc:
        raise _dvc_error(exc, path, rev, root) from None
    except FileNotFoundError:
        raise InputError(
            f"{path} is not tracked by DVC at revision {rev or 'workspace'};",
            hint="check the path and the revision (`dvc add` it, then commit the .dvc file).",
        ) from None


def _dvc_error(exc: Exception, path: Path, rev: str | None, root: Path) -> InputError:
    name = type(exc).__name__
    text = " ".join(str(exc).split())
    if "Rev" in name or "unknown Git revision" in text:
        return InputError(
            f"DVC cannot find git revision {rev!r} for {path};",
            hint="use a commit, tag or branch that exists (`git log --oneline`).",
        )
    # DVC reports a pointer whose data is neither cached nor fetchable as "does not exist".
    missing_data = "does not exist in the target repository" in text and _has_pointer(
        path, root, rev
    )
    if missing_data and _default_remote(root) is not None:
        return InputError(
            f"the data of {path} at {rev or 'the workspace'} is in neither the DVC cache nor the "
            "remote;",
            hint="`dvc push` it from the machine where it was added.",
        )
    if "NoRemote" in name or missing_data:
        return InputError(
            f"{path} is not in the local DVC cache and no DVC remote is configured;",
            hint="add one with `dvc remote add -d NAME URL` and `dvc push` from where the data is.",
        )
    return InputError(f"DVC could not read {path}: {text};", hint="run `dvc status` to see why.")


def _has_pointer(path: Path, root: Path, rev: str | None) -> bool:
    try:
        _pointer_text(Path(f"{path}.dvc"), root, rev)
    except InputError:
        return False
    return True


def _default_remote(root: Path) -> str | None:
    import configparser

    parser = configparser.ConfigParser()
    parser.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    return parser.get("core", "remote", fallback=None)


def _pointer_text(pointer: Path, root: Path, rev: str | None) -> str:
    if rev is None:
        if not pointer.is_file():
            raise InputError(f"{pointer} not found;", hint="`dvc add` the data first.")
        return pointer.read_text(encoding="utf-8")
    relative = pointer.resolve().relative_to(root.resolve()).as_posix()
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "show", f"{rev}:{relative}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except subprocess.CalledProcessError:
        raise InputError(
            f"{relative} does not exist at git revision {rev!r};",
            hint="use a revision at which the data was `dvc add`-ed and committed.",
        ) from None
    return out.stdout


def _pointer_md5(text: str, pointer: Path) -> str:
    import yaml

    try:
        outs = yaml.safe_load(text)["outs"]
        return str(outs[0]["md5"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError):
        raise InputError(
            f"{pointer} is not a DVC pointer file (no outs[0].md5);",
            hint="recreate it with `dvc add`.",
        ) from None
