#!/usr/bin/env bash
# Prepare mlops-actions for one action: a virtual environment with that action's hash-locked
# dependencies, keyed by the lock and the action's checkout, built once and then reused.
#
#   action-install.sh ACTION        (ACTION names requirements/actions/ACTION.txt)
#
# The environment lives under $MLOPS_ACTIONS_CACHE (default: $RUNNER_TOOL_CACHE/mlops-actions,
# else ~/.cache/mlops-actions) so a runner, or an actions/cache step keyed by the lock's hash,
# keeps it between jobs. The package itself is not installed: a .pth file points the environment
# at this checkout's src/, so the code that runs is exactly the action's pinned commit.
# It puts `mlops` on PATH through $GITHUB_PATH and prints the environment's path.
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
key="$( { cat "$lock" "$root/requirements/bootstrap.txt"; echo "$root"; "$python" --version; } | sha256sum | cut -c1-16)"
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
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$root/src" > "$site/mlops_actions_checkout.pth"
  cat > "$venv/bin/mlops" <<WRAPPER
#!/bin/sh
exec "$venv/bin/python" -m mlops_actions "\$@"
WRAPPER
  chmod +x "$venv/bin/mlops"
  touch "$venv/.complete"
fi
flock -u 9

if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$venv/bin" >> "$GITHUB_PATH"
fi
echo "$venv"
