# The runtime image of mlops-actions: the same hash-locked library versions for training on Azure ML
# (train.azureml.environment defaults to an environment built from this file) and for serving on
# Azure ML managed online endpoints, so training and serving cannot drift apart.
#
# It is not built in this repository's tests (the development machine has no Docker engine);
# tests/test_dockerfile.py checks it statically. Build: docker build -t mlops-actions .
#
# Base: python:3.11-slim-bookworm, pinned by its multi-platform manifest digest; Dependabot
# (docker ecosystem) proposes new digests.
FROM python:3.11-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    GX_ANALYTICS_ENABLED=false \
    DVC_NO_ANALYTICS=1

WORKDIR /opt/mlops-actions

# Dependencies first (cached while only the code changes), installed strictly from the lock.
COPY requirements/bootstrap.txt requirements/bootstrap.txt
COPY requirements/actions/all.txt requirements/actions/all.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --require-hashes --no-deps -r requirements/bootstrap.txt \
 && /opt/venv/bin/uv pip sync --compile-bytecode --require-hashes --python /opt/venv/bin/python requirements/actions/all.txt \
 && /opt/venv/bin/python -m pip uninstall --yes uv

COPY pyproject.toml README.md ./
COPY src ./src
RUN echo /opt/mlops-actions/src > "$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mlops_actions.pth" \
 && printf '#!/bin/sh\nexec /opt/venv/bin/python -m mlops_actions "$@"\n' > /opt/venv/bin/mlops \
 && chmod 0755 /opt/venv/bin/mlops \
 && mlops --version

RUN useradd --create-home --uid 10001 mlops
USER 10001
WORKDIR /home/mlops
ENTRYPOINT ["mlops"]
CMD ["--help"]
