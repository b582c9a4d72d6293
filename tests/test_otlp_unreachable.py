"""A collector that is down or hangs costs telemetry, never the app's latency, memory or exit.

Each case runs the instrumented program (``tests/apps/chat_loop.py``) in its own process against a loopback
stand-in of the OpenAI API, once with no exporter (the baseline) and once exporting to a collector that refuses
connections or accepts and never answers. The OTLP timeout is set to 30 s, so only our exit budget
(``AGENTMETRICS_SHUTDOWN_TIMEOUT=1``) can explain an exit within seconds, and a call that waited on the exporter
would take seconds too. The bounds leave room for a loaded CI machine (2 cores shared with other jobs).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .llm_stand_in import serve_chat
from .otlp_receiver import attributes, grpc_receiver, http_receiver

APP = Path(__file__).parent / "apps" / "chat_loop.py"
ROUNDS = 10  # 30 calls, 30 spans
EXIT_BUDGET = 1.0


def run_and_time_exit(base_url: str, env: dict[str, str], options: dict[str, Any]) -> tuple[dict[str, Any], float, str]:
    """Run the program; return its report, the seconds between its last call and its exit, and its stderr."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    full_env.update(
        {
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
            "AGENTMETRICS_SHUTDOWN_TIMEOUT": "1",
            **env,
        }
    )
    process = subprocess.Popen(
        [sys.executable, str(APP), base_url, json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        report = json.loads(process.stdout.readline())
        done = time.perf_counter()
        process.wait(timeout=15)
        exit_lag = time.perf_counter() - done
        stderr = process.stderr.read()
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stderr
    return report, exit_lag, stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def baseline() -> float:
    """Median call latency with telemetry that exports nowhere."""
    with serve_chat() as base_url:
        report, _, _ = run_and_time_exit(
            base_url,
            {"OTEL_TRACES_EXPORTER": "none"},
            {"rounds": ROUNDS, "instrument": {"store": False}},
        )
    return statistics.median(report["latencies"])


def assert_latency_kept(report: dict[str, Any], baseline: float) -> None:
    # A call that waited on the exporter would take up to its 30 s timeout; scheduling noise on a busy machine is
    # tens of milliseconds.
    median = statistics.median(report["latencies"])
    assert median <= baseline * 3 + 0.02, (median, baseline)
    assert max(report["latencies"]) < 3, report["latencies"]


def assert_prompt_exit(exit_lag: float) -> None:
    # Without the budget the final flush would wait for the 30 s export timeout.
    assert exit_lag < EXIT_BUDGET + 3, exit_lag


def test_collector_down(baseline: float) -> None:
    """Nothing listens: traces over http/protobuf and metrics over gRPC both get connection refused."""
    with serve_chat() as base_url:
        report, exit_lag, stderr = run_and_time_exit(
            base_url,
            {
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{closed_port()}/v1/traces",
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
                "OTEL_EXPORTER_OTLP_METRICS_INSECURE": "true",
            },
            {"rounds": ROUNDS, "instrument": {"otlp": True, "store": False}},
        )
    assert_latency_kept(report, baseline)
    assert_prompt_exit(exit_lag)
    # A refused connection is not retried (issue 26): the final flush is immediate, and one line says why.
    assert "not flushed" not in stderr
    assert len([line for line in stderr.splitlines() if "connection refused" in line]) == 1, stderr


@pytest.mark.parametrize("receiver", [http_receiver, grpc_receiver], ids=["http", "grpc"])
def test_collector_hangs_and_drops_are_counted(receiver: Any, baseline: float) -> None:
    """Traces go to a wedged collector with a small queue; metrics to a healthy one, where the drops show up."""
    with serve_chat() as base_url, receiver(hang=True) as (hung_url, hung), http_receiver() as (url, received):
        report, exit_lag, stderr = run_and_time_exit(
            base_url,
            {
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc" if receiver is grpc_receiver else "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": hung_url
                if receiver is grpc_receiver
                else f"{hung_url}/v1/traces",
                "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true",
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{url}/v1/metrics",
                "OTEL_BSP_MAX_QUEUE_SIZE": "8",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4",
                "OTEL_BSP_SCHEDULE_DELAY": "20",
            },
            {"rounds": ROUNDS, "instrument": {"otlp": True, "store": False}},
        )
    assert_latency_kept(report, baseline)
    assert_prompt_exit(exit_lag)
    assert "not flushed within 1 s at exit" in stderr
    assert hung.trace_requests == []
    # The worker took one batch (1 to 4 spans) and hangs on it; 8 wait in the queue; the rest were dropped.
    (dropped,) = received.metrics("agentmetrics.export.dropped")
    points = {
        (attributes(p.attributes)["agentmetrics.export.signal"], attributes(p.attributes)["error.type"]): p.as_int
        for p in dropped.sum.data_points
    }
    assert set(points) == {("traces", "queue_full")}
    assert 3 * ROUNDS - 8 - 4 <= points[("traces", "queue_full")] <= 3 * ROUNDS - 8 - 1
    assert "dropped 1 spans for otlp (queue_full" in stderr


def test_an_exit_whose_flush_timed_out_still_ends_the_uptime(tmp_path: Path) -> None:
    """Issue 26: the store's own shutdown waited behind the hung collector's, so its last heartbeat (``stopped``)
    never came, and the report and dashboard showed a growing uptime for the dead process for five minutes."""
    from otel_agentmetrics.summary.queries import summary

    store = tmp_path / "spans.sqlite3"
    with serve_chat() as base_url, http_receiver(hang=True) as (hung_url, _):
        _, exit_lag, stderr = run_and_time_exit(
            base_url,
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{hung_url}/v1/traces",
                "OTEL_TRACES_EXPORTER": "otlp,agentmetrics",  # our distro's default: the store's processor second
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_BSP_SCHEDULE_DELAY": "20",  # the store writes (and beats) while the program runs
                "AGENTMETRICS_STORE": str(store),
            },
            {"rounds": 3, "calls": ["plain"], "interval": 0.3},
        )
    assert summary(store).uptime_s is None
    assert "not flushed within 1 s at exit" in stderr
    assert_prompt_exit(exit_lag)
