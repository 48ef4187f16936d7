#!/usr/bin/env bash
# Runs a TypeScript entry point directly on Node 24 (type stripping), after set-up.
source "$(dirname "$0")/lib.sh"
exec "$NODE24" --disable-warning=ExperimentalWarning "$@"
