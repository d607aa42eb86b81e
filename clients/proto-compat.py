#!/usr/bin/env python3
"""Breaking-change check of the hydrogen.v1 protos against a release baseline.

    proto-compat.py                 # compare proto/ with clients/hydrogen.v1.descriptor.pb
    proto-compat.py --update        # write the baseline (do this when releasing)
    proto-compat.py --proto-root D  # compare the protos under D instead of proto/

Compiles the current protos to a FileDescriptorSet with grpcio-tools' protoc
and compares it with the baseline using the protobuf descriptor API. Every
change a generated client or an old peer would notice fails the check:
a removed message, enum, field, enum value, service or RPC (unless its number
is now reserved), a renumbered or renamed field or value, a changed field
type, cardinality (repeated), presence (optional) or oneof, a changed RPC
request/response type or streaming, a changed package. Additions pass.
Exit 1 on any violation, with one line per violation.

Runs with the Python of the tools venv (clients/tools.sh), which has
grpcio-tools and protobuf.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2 as d

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "clients" / "hydrogen.v1.descriptor.pb"
FILES = ["hydrogen/v1/app.proto"]

F = d.FieldDescriptorProto


def compile_set(proto_root: Path) -> d.FileDescriptorSet:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root}", f"--descriptor_set_out={out}", *FILES],
            check=True,
        )
        fds = d.FileDescriptorSet()
        fds.ParseFromString(out.read_bytes())
        return fds


def reserved(msg: d.DescriptorProto | d.EnumDescriptorProto, number: int, name: str) -> bool:
    if name in msg.reserved_name:
        return True
    for r in msg.reserved_range:
        # DescriptorProto ranges are [start, end); EnumDescriptorProto's are [start, end].
        end = r.end if isinstance(msg, d.DescriptorProto) else r.end + 1
        if r.start <= number < end:
            return True
    return False


def field_shape(f: d.FieldDescriptorProto, msg: d.DescriptorProto) -> dict[str, object]:
    oneof = None
    if f.HasField("oneof_index") and not f.proto3_optional:
        oneof = msg.oneof_decl[f.oneof_index].name
    return {
        "type": F.Type.Name(f.type) + (f" {f.type_name}" if f.type_name else ""),
        "repeated": f.label == F.LABEL_REPEATED,
        "optional": f.proto3_optional,
        "oneof": oneof,
    }


def messages(prefix: str, msgs, out: dict) -> None:
    for m in msgs:
        name = f"{prefix}.{m.name}"
        out[name] = m
        messages(name, m.nested_type, out)


def enums(prefix: str, file_or_msgs, out: dict) -> None:
    for e in file_or_msgs.enum_type:
        out[f"{prefix}.{e.name}"] = e
    for m in getattr(file_or_msgs, "message_type", None) or getattr(file_or_msgs, "nested_type", []):
        enums(f"{prefix}.{m.name}", m, out)


def index(fds: d.FileDescriptorSet) -> tuple[dict, dict, dict, dict]:
    files, msgs, ens, svcs = {}, {}, {}, {}
    for f in fds.file:
        files[f.name] = f
        messages(f".{f.package}", f.message_type, msgs)
        enums(f".{f.package}", f, ens)
        for s in f.service:
            svcs[f".{f.package}.{s.name}"] = s
    return files, msgs, ens, svcs


def compare(old: d.FileDescriptorSet, new: d.FileDescriptorSet) -> list[str]:
    problems: list[str] = []
    o_files, o_msgs, o_enums, o_svcs = index(old)
    n_files, n_msgs, n_enums, n_svcs = index(new)
    for name, f in o_files.items():
        if name not in n_files:
            problems.append(f"file {name} removed")
        elif n_files[name].package != f.package:
            problems.append(f"file {name}: package {f.package} -> {n_files[name].package}")
    for name, m in o_msgs.items():
        n = n_msgs.get(name)
        if n is None:
            problems.append(f"message {name} removed")
            continue
        by_number = {f.number: f for f in n.field}
        for f in m.field:
            nf = by_number.get(f.number)
            if nf is None:
                if not reserved(n, f.number, f.name):
                    problems.append(f"{name}.{f.name} (= {f.number}) removed without reserving its number")
                continue
            if nf.name != f.name:
                problems.append(f"{name}: field {f.number} renamed {f.name} -> {nf.name}")
            old_shape, new_shape = field_shape(f, m), field_shape(nf, n)
            for key in old_shape:
                if old_shape[key] != new_shape[key]:
                    problems.append(f"{name}.{f.name}: {key} {old_shape[key]} -> {new_shape[key]}")
        new_names = {f.name: f.number for f in n.field}
        for f in m.field:
            if f.name in new_names and new_names[f.name] != f.number:
                problems.append(f"{name}.{f.name}: renumbered {f.number} -> {new_names[f.name]}")
    for name, e in o_enums.items():
        n = n_enums.get(name)
        if n is None:
            problems.append(f"enum {name} removed")
            continue
        by_number = {v.number: v for v in n.value}
        for v in e.value:
            nv = by_number.get(v.number)
            if nv is None:
                if not reserved(n, v.number, v.name):
                    problems.append(f"{name}.{v.name} (= {v.number}) removed without reserving its number")
            elif nv.name != v.name:
                problems.append(f"{name}: value {v.number} renamed {v.name} -> {nv.name}")
    for name, s in o_svcs.items():
        n = n_svcs.get(name)
        if n is None:
            problems.append(f"service {name} removed")
            continue
        methods = {m.name: m for m in n.method}
        for m in s.method:
            nm = methods.get(m.name)
            if nm is None:
                problems.append(f"rpc {name}.{m.name} removed")
                continue
            for attr in ("input_type", "output_type", "client_streaming", "server_streaming"):
                if getattr(m, attr) != getattr(nm, attr):
                    problems.append(f"rpc {name}.{m.name}: {attr} {getattr(m, attr)} -> {getattr(nm, attr)}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update", action="store_true", help="write the baseline from the current protos")
    ap.add_argument("--proto-root", type=Path, default=ROOT / "proto")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    args = ap.parse_args()
    current = compile_set(args.proto_root)
    for f in current.file:
        f.ClearField("source_code_info")
    if args.update:
        args.baseline.write_bytes(current.SerializeToString(deterministic=True))
        print(f"wrote {args.baseline}")
        return 0
    baseline = d.FileDescriptorSet()
    baseline.ParseFromString(args.baseline.read_bytes())
    problems = compare(baseline, current)
    for p in problems:
        print(f"breaking: {p}")
    if problems:
        print(f"{len(problems)} breaking change(s) against {args.baseline.name}: hydrogen.v1 must stay compatible "
              "(add a hydrogen.v2 package instead)", file=sys.stderr)
        return 1
    print(f"proto-compat: hydrogen.v1 compatible with {args.baseline.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
