#!/usr/bin/env bash
# Set up everything (virtual environment, package, Chromium for the browser tests) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh dev
if ! command -v chromium >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..." >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >&2
fi
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
