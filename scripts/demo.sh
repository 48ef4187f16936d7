#!/usr/bin/env bash
# npm run demo [-- --ci]: sets up what is missing, then runs scripts/demo.ts on Node 24.
source "$(dirname "$0")/lib.sh"
exec "$NODE24" --disable-warning=ExperimentalWarning scripts/demo.ts "$@"
