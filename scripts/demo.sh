#!/usr/bin/env bash
# Set up everything and serve the Dashboard on the embedded default model (http://127.0.0.1:8866).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh demo
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/convviz-widgets demo "$@"
