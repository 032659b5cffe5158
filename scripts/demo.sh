#!/usr/bin/env bash
# Runs releasemon's demo (scripts/demo.ts): a throwaway supervisord, a sample app, two deploys.
# Installs Deno and supervisor first when they are missing.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_tools.sh
ensure_tools || exit 1
exec deno task demo
