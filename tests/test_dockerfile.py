"""The runtime image cannot be built here (no Docker engine): check the Dockerfile statically."""

from __future__ import annotations

import re

from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def test_base_image_is_pinned_by_digest() -> None:
    froms = [i for i in INSTRUCTIONS if i.upper().startswith("FROM ")]
    assert froms
    for line in froms:
        assert re.fullmatch(r"FROM [\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}( AS \w+)?", line), line


def test_dependencies_come_only_from_the_hash_lock() -> None:
    runs = " ".join(i for i in INSTRUCTIONS if i.startswith("RUN "))
    installs = re.findall(r"(?:pip install|uv pip sync|uv pip install)[^&]*", runs)
    assert installs
    for install in installs:
        if "uninstall" in install:
            continue
        assert "--require-hashes" in install, install
    assert "requirements/actions/all.txt" in runs
    copied = [i for i in INSTRUCTIONS if i.startswith("COPY ")]
    for lock in ("requirements/bootstrap.txt", "requirements/actions/all.txt"):
        assert any(lock in c for c in copied)
        assert (REPO / lock).is_file()


def test_runs_as_non_root_and_fetches_nothing_unpinned() -> None:
    users = [i for i in INSTRUCTIONS if i.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert not any(i.startswith("ADD ") for i in INSTRUCTIONS)
    assert not re.search(r"curl|wget|:latest", DOCKERFILE)
    assert INSTRUCTIONS[-2:] == ['ENTRYPOINT ["mlops"]', 'CMD ["--help"]']
