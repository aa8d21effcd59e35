#!/usr/bin/env bash
# Create ./.venv and install chaosbench into it (editable). With --test, also the test extras
# and, where Debian's apt is usable as root, the chromium that the leaderboard page test drives.
#
# PyTorch: an installed torch is kept. Otherwise torch==2.13.0 is installed (override with
# TORCH_SPEC, e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu" for a
# CPU-only build); the package itself accepts any torch >= 2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    "${pip[@]}" ${TORCH_SPEC:-torch==2.13.0}
fi
"${pip[@]}" -e ".${extras}"

if [ -n "$extras" ] && ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "setup: chromium not installed; the browser test of the leaderboard page will be skipped" >&2
fi
