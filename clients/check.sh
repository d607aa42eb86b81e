#!/usr/bin/env bash
# `make clients-check`: fails when the checked-in generated code is stale
# (regenerates into a temp dir and diffs) or when proto/hydrogen/v1 breaks
# compatibility with the release baseline (proto-compat.py).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${HYDROGEN_CLIENT_TOOLS:-$ROOT/target/clients-tools}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$ROOT/clients/generate.sh" "$tmp"
stale=0
for d in python/src/hydrogen_client/v1 go/hydrogenv1 typescript/gen; do
  # Hand-written files (v1/__init__.py) are not generated: compare generated names only.
  while IFS= read -r f; do
    rel="${f#"$tmp/"}"
    if ! cmp -s "$f" "$ROOT/clients/$rel"; then
      echo "stale: clients/$rel (run \`make clients\`)" >&2
      stale=1
    fi
  done < <(find "$tmp/$d" -type f)
  while IFS= read -r f; do
    rel="${f#"$ROOT/clients/"}"
    case "$rel" in */__init__.py) continue ;; esac
    [ -e "$tmp/$rel" ] || { echo "stale: clients/$rel is no longer generated" >&2; stale=1; }
  done < <(find "$ROOT/clients/$d" -type f -not -path '*/__pycache__/*')
done
[ "$stale" = 0 ] && echo "clients-check: generated code is up to date"
"$TOOLS/venv/bin/python" "$ROOT/clients/proto-compat.py" || stale=1
exit "$stale"
