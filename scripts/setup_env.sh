#!/usr/bin/env bash
# Create (or reuse) ./.venv and install convviz_widgets into it, editable, with the given extras.
# Usage: source-free: `bash scripts/setup_env.sh dev` ; prints the venv's python path last.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-demo}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=".venv/.installed-$extras-$(cat setup.cfg | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e ".[$extras]" >&2
    touch "$stamp"
fi
