#!/usr/bin/env bash
# `make test-clients`: the Python, Go and TypeScript client suites against live
# `hydrogen dev` servers they start themselves. Needs the server binary
# (`cargo build`, or HYDROGEN_BIN=/path/to/hydrogen). Usage:
#   clients/test.sh [python] [go] [typescript]     # default: all three
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export HYDROGEN_BIN="${HYDROGEN_BIN:-$ROOT/target/debug/hydrogen}"
[ -x "$HYDROGEN_BIN" ] || { echo "no hydrogen binary at $HYDROGEN_BIN: run \`cargo build\` first" >&2; exit 1; }
VENV="${HYDROGEN_CLIENT_VENV:-$ROOT/target/clients-python-venv}"
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(python go typescript)
summary=()
failed=0
for lang in "${langs[@]}"; do
  start=$(date +%s)
  echo "== $lang client tests"
  set +e
  case "$lang" in
    python)
      (
        set -e
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -e "$ROOT/clients/python[test]"
        cd "$ROOT/clients/python" && "$VENV/bin/python" -m pytest -q
      ) ;;
    go)
      (cd "$ROOT/clients/go" && go vet ./... && go test -count=1 ./...) ;;
    typescript)
      (
        set -e
        cd "$ROOT/clients/typescript"
        [ "package-lock.json" -ot "node_modules/.package-lock.json" ] || npm ci --quiet --no-audit --no-fund
        npm test --silent
      ) ;;
    *) echo "unknown client: $lang" >&2; false ;;
  esac
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ]; then summary+=("$lang: ok (${secs}s)"); else summary+=("$lang: FAILED (${secs}s)"); failed=1; fi
done
echo "== client tests"
printf '%s\n' "${summary[@]}"
exit "$failed"
