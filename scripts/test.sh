#!/usr/bin/env bash
# npm test / test:unit / test:integration. Usage: scripts/test.sh all|unit|integration|simulator [jest args…]
source "$(dirname "$0")/lib.sh"
which="${1:-all}"; shift || true
case "$which" in
  all) projects=(--selectProjects unit simulator integration) ;;
  unit) projects=(--selectProjects unit) ;;
  integration) projects=(--selectProjects simulator integration) ;;
  simulator) projects=(--selectProjects simulator) ;;
  *) echo "usage: scripts/test.sh all|unit|integration|simulator [jest args]" >&2; exit 2 ;;
esac
echo "[test] node $("$NODE24" --version) at $NODE24" >&2
if [[ "$which" == "all" ]]; then
  # Static checks first: a type error or lint failure fails the run in seconds.
  "$NODE24" node_modules/typescript/bin/tsc -p tsconfig.json --noEmit
  "$NODE24" node_modules/eslint/bin/eslint.js . --max-warnings=0
  # Product code never imports test/, the operator never imports worker/ (scripts/import-boundaries.ts).
  "$NODE24" --disable-warning=ExperimentalWarning scripts/check-imports.ts
fi
# Jest arguments first: --selectProjects takes every word after it as a project name.
exec "$NODE24" --experimental-vm-modules --disable-warning=ExperimentalWarning \
  node_modules/jest/bin/jest.js "$@" "${projects[@]}"
