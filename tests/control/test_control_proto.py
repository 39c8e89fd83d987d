"""The checked-in control API code (collector_eval/v1/) is what proto/ generates, byte for byte, and
the package's dependency floors are at least the versions that code demands at import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from collector_eval.v1 import control_pb2, control_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "collector_eval" / "v1"


def test_checked_in_code_matches_a_fresh_generation(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fresh = {
        p.relative_to(tmp_path / "collector_eval" / "v1"): p.read_bytes()
        for p in (tmp_path / "collector_eval" / "v1").iterdir()
    }
    assert sorted(map(str, fresh)) == ["control_pb2.py", "control_pb2.pyi", "control_pb2_grpc.py"]
    for name, content in fresh.items():
        assert (GENERATED / name).read_bytes() == content, f"collector_eval/v1/{name} is stale: run `make proto`"


def test_makefile_regenerates_into_the_package():
    makefile = (ROOT / "Makefile").read_text()
    (recipe,) = re.findall(r"^proto:.*\n\t(.+)$", makefile, re.M)
    assert recipe == "$(BIN)/python proto/generate.py ."


def _floor(requirement: str) -> tuple[int, ...]:
    pyproject = (ROOT / "pyproject.toml").read_text()
    (version,) = re.findall(rf'"{requirement}>=([\d.]+)', pyproject)
    return tuple(map(int, version.split(".")))


def test_dependency_floors_cover_the_generated_code():
    assert _floor("grpcio") >= tuple(map(int, control_pb2_grpc.GRPC_GENERATED_VERSION.split(".")))
    (gencode,) = re.findall(r"^# Protobuf Python Version: ([\d.]+)$", (GENERATED / "control_pb2.py").read_text(), re.M)
    assert _floor("protobuf") >= tuple(map(int, gencode.split(".")))
    pinned = re.findall(r'"grpcio-tools==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned == [control_pb2_grpc.GRPC_GENERATED_VERSION]


def test_the_service_is_the_one_the_proto_declares():
    service = control_pb2.DESCRIPTOR.services_by_name["Control"]
    assert service.full_name == "collector_eval.v1.Control"
    assert [m.name for m in service.methods] == ["EndSession", "GetSession", "Reevaluate", "ListSessions"]
