#!/usr/bin/env bash
# Regenerates every client's protobuf/gRPC code from proto/hydrogen/v1.
#
#   clients/generate.sh            # in place (what `make clients` runs)
#   clients/generate.sh OUT_DIR    # into OUT_DIR/{python,go,typescript}/...
#                                  # (what `make clients-check` diffs)
#
# Generators come from PyPI, the Go module proxy and npm alone (tools.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/clients}"
TOOLS="${HYDROGEN_CLIENT_TOOLS:-$ROOT/target/clients-tools}"
"$ROOT/clients/tools.sh"

PROTO="hydrogen/v1/app.proto"
protoc() { (cd "$ROOT" && "$TOOLS/venv/bin/python" -m grpc_tools.protoc -Iproto "$@" "$PROTO"); }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Python: hydrogen_client/v1/app_pb2{,_grpc}.py + .pyi, imports made relative
# so the stubs live inside the hydrogen_client package.
mkdir -p "$tmp/py"
protoc --python_out="$tmp/py" --pyi_out="$tmp/py" --grpc_python_out="$tmp/py"
pydir="$OUT/python/src/hydrogen_client/v1"
mkdir -p "$pydir"
sed -i 's/^from hydrogen\.v1 import app_pb2 as /from . import app_pb2 as /' "$tmp/py/hydrogen/v1/app_pb2_grpc.py"
cp "$tmp/py/hydrogen/v1/app_pb2.py" "$tmp/py/hydrogen/v1/app_pb2.pyi" \
   "$tmp/py/hydrogen/v1/app_pb2_grpc.py" "$pydir/"

# Go: package hydrogenv1 of module github.com/hydrogen-mesos/hydrogen/clients/go
# (the proto has no go_package; the M option supplies it).
gomod="github.com/hydrogen-mesos/hydrogen/clients/go"
gopkg="M$PROTO=$gomod/hydrogenv1;hydrogenv1"
mkdir -p "$OUT/go/hydrogenv1"
protoc --plugin=protoc-gen-go="$TOOLS/bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$TOOLS/bin/protoc-gen-go-grpc" \
  --go_out="$OUT/go" --go_opt="module=$gomod,$gopkg" \
  --go-grpc_out="$OUT/go" --go-grpc_opt="module=$gomod,$gopkg"

# TypeScript: ts-proto with @grpc/grpc-js service clients.
mkdir -p "$OUT/typescript/gen"
protoc --plugin=protoc-gen-ts_proto="$ROOT/clients/typescript/node_modules/.bin/protoc-gen-ts_proto" \
  --ts_proto_out="$OUT/typescript/gen" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true
