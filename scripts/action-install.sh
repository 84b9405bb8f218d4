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
key="$( { cat "$lock" "$root/requirements/bootstrap.txt"; "$python" --version; } | sha256sum | cut -c1-16)"
cache="${MLOPS_ACTIONS_CACHE:-${RUNNER_TOOL_CACHE:-$HOME/.cache}/mlops-actions}"
venv="$cache/$action-$key"
mkdir -p "$cache"

exec 9>"$venv.lock"
flock 9  # two jobs on one runner build one environment, not two half ones
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$root/requirements/bootstrap.txt"
  "$venv/bin/uv" pip sync --quiet --compile-bytecode --require-hashes --python "$venv/bin/python" "$lock"
  touch "$venv/.complete"
fi
flock -u 9

# This checkout's entry point. PYTHONPATH (not a .pth in the shared environment) so that processes
# mlops starts, such as the local endpoint, import the same code.
bin="$cache/bin-$(printf '%s' "$root" | sha256sum | cut -c1-16)"
mkdir -p "$bin"
cat > "$bin/mlops.$$" <<WRAPPER
#!/bin/sh
PYTHONPATH="$root/src\${PYTHONPATH:+:\$PYTHONPATH}" exec "$venv/bin/python" -m mlops_actions "\$@"
WRAPPER
chmod +x "$bin/mlops.$$"
mv -f "$bin/mlops.$$" "$bin/mlops"
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bin" >> "$GITHUB_PATH"
fi
echo "$venv"
