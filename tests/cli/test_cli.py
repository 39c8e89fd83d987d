"""The command line, run as a real subprocess: transcript, check-config, --help and serve."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.config import free_port, with_side_ports_off
from tests.support.corpus import CORPUS, service_name
from tests.support.corpus import files as corpus_files
from tests.support.process import wait_listening

ROOT = Path(__file__).resolve().parents[2]

SESSIONS = sorted(p.parent.name for p in CORPUS.glob("*/otlp.json"))
NO_CONTENT = "otel_genai_v2_default_nocontent"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector_eval.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_corpus_is_there():
    """Every recorded session keeps what recorded it: the app, its pinned versions (or the shared
    corpus's recording notes), the scripted replies and what was said."""
    assert len(SESSIONS) >= 6 and NO_CONTENT in SESSIONS
    for folder in SESSIONS:
        names = {p.name for p in (CORPUS / folder).iterdir()}
        assert {"expected.json", "otlp.json", "script.json"} <= names, folder
        assert names & {"app.py", "app.mjs"}, folder


# ---------------------------------------------------------------------------------------------- transcript


@pytest.mark.parametrize("folder", SESSIONS)
def test_transcript_of_each_corpus_session(folder):
    expected = json.loads((CORPUS / folder / "expected.json").read_text())
    # Trace and log files together: some libraries log the conversation instead of putting it on spans.
    result = run_cli("transcript", *map(str, corpus_files(CORPUS / folder)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    line = json.loads(lines[0])
    assert line["session_id"] == expected["session_id"]
    assert line["tenant"] == service_name(CORPUS / folder)
    if folder == NO_CONTENT:
        assert line["status"] == "no_content"
        assert line["turns"] == []
    else:
        assert line["status"] == "ok"
        assert line["turns"] == expected["turns"]


def _with_service_name(doc: dict, name: str, id_prefix: str) -> dict:
    """A copy of a recorded session as another app would send it: its own service.name, its own
    trace and span ids (id_prefix replaces the first hex digits), the same session id."""
    doc = json.loads(json.dumps(doc))
    for rs in doc["resourceSpans"]:
        for kv in rs["resource"]["attributes"]:
            if kv["key"] == "service.name":
                kv["value"] = {"stringValue": name}
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = id_prefix + span[key][len(id_prefix) :]
    return doc


def test_transcript_two_services_same_session_id_give_two_lines(tmp_path):
    folder = "openinference_openai_chat"
    doc = json.loads((CORPUS / folder / "otlp.json").read_text())
    expected = json.loads((CORPUS / folder / "expected.json").read_text())
    merged = {
        "resourceSpans": _with_service_name(doc, "app-one", "a1")["resourceSpans"]
        + _with_service_name(doc, "app-two", "b2")["resourceSpans"]
    }
    path = tmp_path / "two.json"
    path.write_text(json.dumps(merged))
    result = run_cli("transcript", str(path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["tenant"] for line in lines) == ["app-one", "app-two"]
    for line in lines:
        assert line["session_id"] == expected["session_id"]
        assert line["status"] == "ok"
        # Same ids, two tenants: each line has one copy of the conversation, not two mixed together.
        assert line["turns"] == expected["turns"]


def test_transcript_two_sessions_as_json_lines(tmp_path):
    a, b = "traceloop", "openinference_openai_tools"
    path = tmp_path / "lines.jsonl"
    path.write_text(
        json.dumps(json.loads((CORPUS / a / "otlp.json").read_text()))
        + "\n"
        + json.dumps(json.loads((CORPUS / b / "otlp.json").read_text()))
        + "\n"
    )
    result = run_cli("transcript", str(path))
    assert result.returncode == 0, result.stderr
    lines = {json.loads(line)["tenant"]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(lines) == {a, b}
    for folder in (a, b):
        expected = json.loads((CORPUS / folder / "expected.json").read_text())
        assert lines[folder]["session_id"] == expected["session_id"]
        assert lines[folder]["turns"] == expected["turns"]


def test_transcript_config_sets_tenant_and_id_attributes(tmp_path):
    otlp = str(CORPUS / "traceloop" / "otlp.json")
    cfg = tmp_path / "t.yaml"
    cfg.write_text("session:\n  tenant_attribute: telemetry.sdk.language\n")
    result = run_cli("transcript", otlp, "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["tenant"] == "python"

    # traceloop keeps its session id only in traceloop.association.properties.session_id.
    cfg.write_text("session:\n  id_attributes: [session.id]\n")
    result = run_cli("transcript", otlp, "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_transcript_bad_config_exits_2_naming_the_key(tmp_path):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("session:\n  id_atributes: [session.id]\n")
    result = run_cli("transcript", str(CORPUS / "traceloop" / "otlp.json"), "--config", str(cfg))
    assert result.returncode == 2
    assert "session.id_atributes:" in result.stderr


def test_transcript_not_json_fails_naming_the_file(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_text("this is { not json")
    result = run_cli("transcript", str(path))
    assert result.returncode != 0
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_transcript_missing_file_fails_naming_the_file(tmp_path):
    path = tmp_path / "absent.json"
    result = run_cli("transcript", str(path))
    assert result.returncode != 0
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_transcript_wrong_shape_fails_naming_the_file(tmp_path):
    path = tmp_path / "shape.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}))
    result = run_cli("transcript", str(path))
    assert result.returncode != 0
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


# -------------------------------------------------------------------------------------------- check-config


def test_check_config_valid_prints_effective_config(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("receiver:\n  grpc:\n    endpoint: 127.0.0.1:14317\nsession:\n  settle_delay_s: 5\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 0, result.stderr
    effective = yaml.safe_load(result.stdout)
    assert effective["receiver"]["grpc"] == {
        "endpoint": "127.0.0.1:14317",
        "max_recv_msg_size_mib": 16,
        "auth": {"tokens": [], "tokens_file": ""},
        "tls": {"cert_file": "", "key_file": "", "client_ca_file": ""},
    }
    assert effective["session"]["settle_delay_s"] == 5
    # Defaults of keys the file does not set are printed too.
    assert effective["session"]["tenant_attribute"] == "service.name"
    assert effective["judge"]["model"] == "gpt-4o-mini"
    assert [e["name"] for e in effective["evaluators"]] == ["goal_completeness"]
    assert effective["redis"]["url"] == ""


@pytest.mark.parametrize(
    "text, key",
    [
        ("session: {settle_delay: 2}\n", "session.settle_delay"),
        ('receiver: {grpc: {max_recv_msg_size_mib: "big"}}\n', "receiver.grpc.max_recv_msg_size_mib"),
        ("receiver: {grpc: {endpoint: 'localhost'}}\n", "receiver.grpc.endpoint"),
        ("exporters: {otlp: {endpoint: 'collector-no-port'}}\n", "exporters.otlp.endpoint"),
        ("evaluators: [goal_completeness, vibes]\n", "evaluators[1]"),
        ("session: {id_attributes: [session.id, [x]]}\n", "session.id_attributes[1]"),
        ("session: {settle_delay_s: -1}\n", "session.settle_delay_s"),
    ],
)
def test_check_config_bad_value_exits_2_naming_the_key(tmp_path, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run_cli("check-config", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"{key}:" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_check_config_invalid_yaml_exits_2_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("session: {settle_delay_s: 2\nreceiver: [\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr and "YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_missing_file_exits_2(tmp_path):
    path = tmp_path / "absent.yaml"
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr


# ------------------------------------------------------------------------------------------------- --help


def test_program_help_lists_the_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("serve", "check-config", "transcript", "--version"):
        assert word in result.stdout


@pytest.mark.parametrize(
    "command, words",
    [
        ("serve", ["--config", "--log-level"]),
        ("check-config", ["FILE"]),
        ("transcript", ["FILE", "--config"]),
    ],
)
def test_subcommand_help(command, words):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert f"collector-eval {command}" in result.stdout
    for word in words:
        assert word in result.stdout


def test_no_subcommand_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2
    assert "usage:" in result.stderr


# -------------------------------------------------------------------------------------------------- serve


def test_serve_port_taken_fails_clearly(tmp_path, redis_url):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        path = tmp_path / "taken.yaml"
        path.write_text(
            yaml.safe_dump(
                with_side_ports_off(
                    {
                        "receiver": {"grpc": {"endpoint": f"127.0.0.1:{port}"}},
                        "redis": {"url": redis_url, "key_prefix": "cli-taken"},
                    }
                )
            )
        )
        result = run_cli("serve", "--config", str(path), timeout=30)
    finally:
        holder.close()
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def _redis_servers_under(directory: Path) -> list[int]:
    """Live redis-server processes whose command line names a path under directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "redis-server" in cmdline and str(directory) in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_serve_port_taken_with_embedded_redis_leaves_no_redis_behind(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    # The embedded redis-server's directory (and so its unix socket, on its command line) is made
    # under TMPDIR: any redis-server naming private_tmp was started by this service.
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    try:
        path = tmp_path / "taken.yaml"
        path.write_text(yaml.safe_dump(with_side_ports_off({"receiver": {"grpc": {"endpoint": f"127.0.0.1:{port}"}}})))
        result = run_cli("serve", "--config", str(path), env=env, timeout=30)
    finally:
        holder.close()
    leftover = _redis_servers_under(private_tmp)
    for pid in leftover:
        os.kill(pid, signal.SIGKILL)  # ours: started by the service this test started
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert leftover == [], "the embedded redis-server outlived a service that failed to start"
    assert list(private_tmp.iterdir()) == []  # its data directory was removed too


def test_serve_unreachable_redis_fails_clearly(tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    path = tmp_path / "noredis.yaml"
    path.write_text(
        yaml.safe_dump(
            with_side_ports_off({"receiver": {"grpc": {"endpoint": f"127.0.0.1:{free_port()}"}}, "redis": {"url": url}})
        )
    )
    result = run_cli("serve", "--config", str(path), timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "collector-eval:" in result.stderr


def _children(pid: int) -> dict[int, str]:
    """Live processes whose parent is pid: {pid: command name}, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = comm
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def test_serve_with_embedded_redis_and_no_judge_key(tmp_path):
    port = free_port()
    path = tmp_path / "serve.yaml"
    # Free ports for the HTTP receiver, telemetry and control: their defaults may be taken on a machine running tests.
    path.write_text(
        f"receiver:\n  grpc:\n    endpoint: 127.0.0.1:{port}\n  http:\n    endpoint: 127.0.0.1:0\n"
        "telemetry:\n  metrics_endpoint: 127.0.0.1:0\ncontrol:\n  endpoint: 127.0.0.1:0\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as err, open(tmp_path / "stdout.txt", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector_eval.cli", "serve", "--config", str(path)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    redis_pids: list[int] = []
    try:
        wait_listening(port, proc, log=stderr_path.read_text)
        redis_pids = [pid for pid, comm in _children(proc.pid).items() if comm.startswith("redis-server")]
        assert len(redis_pids) == 1, _children(proc.pid)

        stderr = stderr_path.read_text()
        assert stderr.count("judge evaluators are off") == 1, stderr
        assert "OPENAI_API_KEY" in stderr

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, stderr_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The embedded redis-server went with the service, not left behind as an orphan.
    deadline = time.monotonic() + 5
    while _alive(redis_pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    still = _alive(redis_pids[0])
    if still:
        os.kill(redis_pids[0], signal.SIGKILL)  # ours: started by the service we started
    assert not still, "embedded redis-server survived the service"
    stderr = stderr_path.read_text()
    assert stderr.count("judge evaluators are off") == 1
    # The port is free again.
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
