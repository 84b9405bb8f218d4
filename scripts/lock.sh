#!/usr/bin/env bash
# Re-resolve every lock file from pyproject.toml (needs the package index). The per-action locks
# are constrained by the dev lock, so an action runs the same versions the tests ran.
set -euo pipefail
cd "$(dirname "$0")/.."
compile() { uv pip compile --quiet --generate-hashes --no-emit-index-url --universal --python-version 3.11 "$@"; }
compile requirements/bootstrap.in -o requirements/bootstrap.txt
compile pyproject.toml --extra dev -o requirements/dev.txt
# action name → the extras it needs
declare -A ACTIONS=(
  [validate-data]="validate"
  [train-azureml]="train"
  [compare-champion]="mlflow github"
  [register]="mlflow github"
  [canary-deploy]="mlflow azure"
  [smoke-test]="mlflow azure"
  [drift-report]="drift mlflow github"
  [performance-report]="drift mlflow github"
  [all]="all"
)
mkdir -p requirements/actions
for action in "${!ACTIONS[@]}"; do
  args=()
  for extra in ${ACTIONS[$action]}; do args+=(--extra "$extra"); done
  compile pyproject.toml "${args[@]}" -c requirements/dev.txt -o "requirements/actions/$action.txt"
done
