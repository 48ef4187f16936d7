#!/usr/bin/env bash
# npm run bench [section…]: runs each benchmark section (test/bench/<section>/run.ts) on Node 24.
# Every section starts the real servers it needs, measures a baseline in the same
# process, and prints a table. Sections: worker, operator, media (default: all found).
source "$(dirname "$0")/lib.sh"
sections=("$@")
if [[ ${#sections[@]} -eq 0 ]]; then
  for f in test/bench/*/run.ts; do sections+=("$(basename "$(dirname "$f")")"); done
fi
for s in "${sections[@]}"; do
  entry="test/bench/$s/run.ts"
  [[ -f "$entry" ]] || { echo "no benchmark section '$s' ($entry)" >&2; exit 2; }
  echo "=== bench: $s"
  "$NODE24" --disable-warning=ExperimentalWarning --expose-gc "$entry"
done
