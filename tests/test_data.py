"""Reading tables: every kind of bad file is one InputError; DVC revisions are read for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops_actions.data import data_version, load_table
from mlops_actions.errors import InputError
from tests.conftest import python_env

FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, None]})


def test_csv_parquet_and_folder_read_the_same(tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "t.csv", index=False)
    FRAME.to_parquet(tmp_path / "t.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    FRAME.iloc[:2].to_parquet(folder / "part-0.parquet")
    FRAME.iloc[2:].to_parquet(folder / "part-1.parquet")
    for source in (tmp_path / "t.csv", tmp_path / "t.parquet", folder):
        pd.testing.assert_frame_equal(load_table(source), FRAME, check_dtype=False)
    assert list(load_table(tmp_path / "t.csv", columns=["b"]).columns) == ["b"]


def _bad(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n", "is empty"),
        ("header.csv", b"a,b\n", "no rows"),
        ("semi.csv", b"a;b;c\n1;2;3\n4;5;6\n", "delimited by ';'"),
        ("tabs.csv", b"a\tb\n1\t2\n", "delimited by tabs"),
        ("latin1.csv", "name,city\nJosé,Zürich\n".encode("latin-1"), "not UTF-8"),
        ("ragged.csv", b'a,b\n1,2\n3,"4\n', "not a well-formed CSV"),
        ("junk.parquet", b"PAR1 this is not parquet", "not readable Parquet"),
    ],
)
def test_bad_files_are_one_input_error(
    tmp_path: Path, name: str, content: bytes, fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment) as info:
        load_table(_bad(tmp_path, name, content))
    assert "\n" not in str(info.value)


def test_truncated_parquet(tmp_path: Path) -> None:
    FRAME.to_parquet(tmp_path / "full.parquet")
    raw = (tmp_path / "full.parquet").read_bytes()
    cut = _bad(tmp_path, "cut.parquet", raw[: len(raw) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_table(cut)


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data not found"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="without Parquet files"):
        load_table(tmp_path / "empty")


def test_content_version_changes_with_content(tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "t.csv", index=False)
    first = data_version(tmp_path / "t.csv")
    assert first.kind == "content" and first.text.startswith("sha256:")
    assert data_version(tmp_path / "t.csv") == first
    FRAME.iloc[:2].to_csv(tmp_path / "t.csv", index=False)
    assert data_version(tmp_path / "t.csv").md5 != first.md5


def _run(cwd: Path, *argv: str) -> str:
    proc = subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, env=python_env(), check=True
    )
    return proc.stdout.strip()


def make_dvc_repo(tmp_path: Path, *, remote: bool) -> Path:
    """A git + DVC repository with two committed versions of data/t.csv (tags v1, HEAD)."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    dvc = str(Path(sys.executable).parent / "dvc")
    _run(repo, "git", "init", "-q", "-b", "main")
    _run(repo, "git", "config", "user.email", "t@example.invalid")
    _run(repo, "git", "config", "user.name", "t")
    _run(repo, dvc, "init", "-q")
    if remote:
        _run(repo, dvc, "remote", "add", "-d", "store", str(tmp_path / "remote"))
    FRAME.to_csv(repo / "data" / "t.csv", index=False)
    _run(repo, dvc, "add", "-q", "data/t.csv")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "v1")
    _run(repo, "git", "tag", "v1")
    FRAME.iloc[:1].to_csv(repo / "data" / "t.csv", index=False)
    _run(repo, dvc, "add", "-q", "data/t.csv")
    _run(repo, "git", "commit", "-qam", "v2")
    if remote:
        _run(repo, dvc, "push", "-q", "--all-commits")
    return repo


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    return make_dvc_repo(tmp_path, remote=True)


@pytest.mark.slow
def test_dvc_revisions_are_read_through_dvc(dvc_repo: Path) -> None:
    path = dvc_repo / "data" / "t.csv"
    assert len(load_table(path)) == 1
    assert len(load_table(path, rev="v1")) == 3
    old, new = data_version(path, rev="v1"), data_version(path)
    assert old.kind == new.kind == "dvc"
    assert old.md5 != new.md5 and old.text == f"dvc:v1:{old.md5}"
    # The old version comes back from the remote once the local cache is gone.
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    assert len(load_table(path, rev="v1")) == 3


@pytest.mark.slow
def test_dvc_unknown_rev_and_missing_remote(tmp_path: Path) -> None:
    repo = make_dvc_repo(tmp_path, remote=False)
    path = repo / "data" / "t.csv"
    with pytest.raises(InputError, match="cannot find git revision 'no-such-tag'"):
        load_table(path, rev="no-such-tag")
    with pytest.raises(InputError, match="does not exist at git revision"):
        data_version(path, rev="no-such-tag")
    shutil.rmtree(repo / ".dvc" / "cache")
    with pytest.raises(InputError, match="no DVC remote is configured"):
        load_table(path, rev="v1")
