"""Generates the control API's Python code from the .proto files here, with grpcio-tools.

    python proto/generate.py OUT     writes OUT/collector_eval/v1/control_pb2.py, .pyi and _grpc.py

`make proto` runs it with OUT = the repository root (the generated files are checked in, so installing
the package needs no protoc); tests/test_control_proto.py runs it into a temporary directory and
checks the checked-in files are what it writes, byte for byte. The output embeds the grpcio-tools and
protobuf versions, so the test extra pins grpcio-tools.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PROTOS = ["collector_eval/v1/control.proto"]


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Paths relative to the include root: they become the generated modules' import paths.
    args = ["protoc", f"-I{PROTO_ROOT}", f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *PROTOS]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {', '.join(PROTOS)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python proto/generate.py OUT_DIR")
    generate(Path(sys.argv[1]))
