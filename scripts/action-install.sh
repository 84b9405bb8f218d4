#!/usr/bin/env bash
# Prepare mlops-actions for one action: a virtual environment with that action's hash-locked
# dependencies, keyed by the lock and the Python version, built once and then reused.
#
#   action-install.sh ACTION        (ACTION names requirements/actions/ACTION.txt)
#
# The environment lives under $MLOPS_ACTIONS_CACHE (default: $RUNNER_TOOL_CACHE/mlops-actions,
# else ~/.cache/mlops-actions) so a runner, or an actions/cache step keyed by the lock's hash,
# keeps it between jobs. The package itself is not installed in it: a small `mlops` wrapper per
# checkout runs the environment's Python on this checkout's src/, so the code that runs is exactly
# the action's pinned commit, and checkouts with the same lock share one environment.
# It puts that wrapper on PATH through $GITHUB_PATH and prints the environment's path.
set -euo pipefail

action="${1:?usage: action-install.sh ACTION}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/requirements/actions/$action.txt"
if [ ! -f "$lock" ]; then
  echo "::error title=mlops-actions::no lock file for action '$action' ($lock)" >&2
  exit 2
fi
python="${MLOPS_ACTIONS_PYTHON_BIN:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)'; then
  echo "::error title=mlops-actions::Python 3.11-3.13 is needed (found $("$python" --version 2>&1)); add actions/setup-python before this action" >&2
  exit 2
fi
# Trust scope: an environment a pull request's job built (and whose code ran in it) is never the
# one a push, schedule or deploy job uses. Derived from the triggering event, github.event_name,
# which the runner puts in every step's environment as GITHUB_EVENT_NAME (a default variable that a
# workflow's env: cannot override; no expression needed). MLOPS_ENV_SCOPE=pr may narrow a trusted
# event to the PR scope, never widen an untrusted one. Outside GitHub Actions: trusted.
event="${GITHUB_EVENT_NAME:-}"
case "$event" in
  ""|push|schedule|workflow_dispatch|repository_dispatch|release) scope=trusted ;;
  *) scope=pr ;;  # pull_request*, merge_group, workflow_run, issue_comment, anything new
esac
case "${MLOPS_ENV_SCOPE:-}" in
  "") ;;
  pr) scope=pr ;;
  trusted)
    if [ "$scope" != trusted ]; then
      echo "::warning title=mlops-actions::MLOPS_ENV_SCOPE=trusted ignored: a '$event' job uses the pr environment" >&2
    fi ;;
  *)
    echo "::error title=mlops-actions::MLOPS_ENV_SCOPE must be 'pr' or 'trusted' (got '$MLOPS_ENV_SCOPE')" >&2
    exit 2 ;;
esac
key="$( { cat "$lock" "$root/requirements/bootstrap.txt"; "$python" --version; echo "scope=$scope"; } | sha256sum | cut -c1-16)"
cache="${MLOPS_ACTIONS_CACHE:-${RUNNER_TOOL_CACHE:-$HOME/.cache}/mlops-actions}"
venv="$cache/$action-$scope-$key"
manifest="$venv.manifest"  # outside the environment: code running in it does not own its manifest
check=("$python" -I -S "$root/scripts/action_env_manifest.py")  # never the environment's Python
mkdir -p "$cache"

exec 9>"$venv.lock"
flock 9  # two jobs on one runner build one environment, not two half ones
if [ -e "$venv" ] || [ -e "$manifest" ]; then
  if ! problem="$("${check[@]}" check "$venv" "$key" "$manifest")"; then
    echo "::warning title=mlops-actions::rebuilding the $action environment ($scope): ${problem:-check failed}" >&2
    rm -rf "$venv" "$manifest" "$manifest.sha256"
  fi
fi
if [ ! -e "$manifest.sha256" ]; then
  rm -rf "$venv" "$manifest"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$root/requirements/bootstrap.txt"
  # Copies, never hard links into uv's cache: a file edited in one environment would otherwise be
  # edited in the cache too, and every rebuild would bring the edit back. uv's cache is per scope
  # unless UV_CACHE_DIR is set (a cache shared by PR and trusted jobs is shared state again).
  UV_CACHE_DIR="${UV_CACHE_DIR:-$cache/uv-cache-$scope}" "$venv/bin/uv" pip sync --quiet \
    --link-mode copy --compile-bytecode --require-hashes --python "$venv/bin/python" "$lock"
  "${check[@]}" write "$venv" "$key" "$manifest"
fi
flock -u 9

# This checkout's entry point. PYTHONPATH (not a .pth in the shared environment) so that processes
# mlops starts, such as the local endpoint, import the same code.
# It lives in the job's own temporary folder when there is one (a folder on PATH that an earlier job
# could fill is a way in), and is made afresh, holding nothing but `mlops`.
bin="${RUNNER_TEMP:-$cache}/mlops-actions-bin-$scope-$(printf '%s' "$root" | sha256sum | cut -c1-16)"
rm -rf "$bin"
mkdir -p "$bin"
cat > "$bin/mlops.$$" <<WRAPPER
#!/bin/sh
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$root/src\${PYTHONPATH:+:\$PYTHONPATH}" exec "$venv/bin/python" -m mlops_actions "\$@"
WRAPPER
chmod +x "$bin/mlops.$$"
mv -f "$bin/mlops.$$" "$bin/mlops"
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bin" >> "$GITHUB_PATH"
fi
echo "$venv"
