#!/usr/bin/env bash
# Creates the Python environment the pool_vs_connect benchmark uses for its incumbent rows:
# Playwright for Python (the incumbent's library) in a venv at
# ${BROWSER_STREAM_BENCH_PYENV:-~/.cache/browser-stream/bench-pyenv}. The wheel bundles its Node
# driver; no browser is downloaded (the benchmark only connects to a running Chromium), so
# `playwright install` is never run. Idempotent: returns at once when the environment works.
# Not part of the test setup (scripts/install-deps): only the benchmark needs it.
set -euo pipefail

PYENV="${BROWSER_STREAM_BENCH_PYENV:-$HOME/.cache/browser-stream/bench-pyenv}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ -x "$PYENV/bin/python" ] && "$PYENV/bin/python" -c "import playwright.async_api" 2>/dev/null; then
    echo "setup-incumbent: present ($PYENV)"
    exit 0
fi
echo "setup-incumbent: installing Playwright for Python into $PYENV"
mkdir -p "$(dirname "$PYENV")"
python3 -m venv "$PYENV"
"$PYENV/bin/pip" install --quiet --disable-pip-version-check playwright
"$PYENV/bin/python" -c "import playwright.async_api"
echo "setup-incumbent: done ($("$PYENV/bin/pip" show playwright | sed -n 's/^Version: //p'))"
