"""Forked processes: no hang on a lock another thread held, children count their own calls, and children that end
through ``os._exit`` (multiprocessing) keep every span.

Each case is a real instrumented program (``instrument()`` with its defaults, the real ``openai`` client) run in a
subprocess that forks, calling the loopback stand-in server over HTTP; every wait is bounded, so a hang fails the
test instead of stalling the suite. The spans land in the default local store (``AGENTMETRICS_STORE``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .llm_stand_in import serve_chat
from .openai_kit import recorded

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")

PROMPT_TOKENS = json.loads(recorded("test_chat_completion_with_content")[2])["usage"]["prompt_tokens"]

PRELUDE = """
import json, os, sys, threading, time
import openai
import otel_agentmetrics

BASE_URL = sys.argv[1]

def call_model(_=None):
    client = openai.OpenAI(base_url=BASE_URL, api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    return os.getpid()

def wait_child(pid, seconds):
    # Bounded wait: a child stuck on a lock is killed and reported, never waited on forever.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return "hung"
"""


def run(script: str, base_url: str, store: Path, timeout: float = 120) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(AGENTMETRICS_STORE=str(store), AGENTMETRICS_RAISE_INTERNAL_ERRORS="1", OTEL_BSP_SCHEDULE_DELAY="60000")
    code = PRELUDE + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code, base_url], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def model_rows(store: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(store)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM spans WHERE kind = 'model'").fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server() -> Any:
    with serve_chat() as base_url:
        yield base_url


def test_a_child_forked_while_another_thread_holds_every_lock_of_ours_does_not_hang(server, tmp_path):
    """The parent's thread holds each lock when the fork happens; the child's calls must not wait for it."""
    store = tmp_path / "spans.sqlite3"
    result = run(
        """
        from opentelemetry import trace
        from otel_agentmetrics import _active, _setup, _tool_links
        from otel_agentmetrics.exporters import delivery
        from otel_agentmetrics.pricing import _helpers

        telemetry = otel_agentmetrics.instrument()
        call_model()
        processors = trace.get_tracer_provider()._active_span_processor._span_processors
        batch = next(p for p in processors if isinstance(p, delivery.CountingBatchSpanProcessor))
        active = next(p for p in processors if hasattr(p, "_exporter") and p is not batch)
        locks = [
            telemetry.metrics._lock, telemetry.labels._lock, batch._batch_processor._queue._lock, batch.dropped._lock,
            active._lock, active._exporter._lock, _tool_links._lock, _active._lock, _setup._lock, _helpers._lock,
            delivery._undelivered_lock, _setup._state["watch"]._lock,
        ]
        held, release = threading.Event(), threading.Event()

        def hold():
            for lock in locks:
                lock.acquire()
            held.set()
            release.wait()
            for lock in locks:
                lock.release()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()
        outcomes = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                import groq  # noqa: F401  (instrument() waits for it: its instrumentor loads here, in the child)
                call_model()
                call_model()
                sys.exit(0)  # a plain fork child (gunicorn worker): its atexit hook flushes
            outcomes.append(wait_child(pid, 30))
        release.set()
        holder.join()
        call_model()  # the parent goes on too
        print(json.dumps({"outcomes": outcomes, "parent": os.getpid()}))
        """,
        server,
        store,
    )
    assert result["outcomes"] == [0, 0, 0]
    pids = {row["span_id"] for row in model_rows(store)}
    assert len(pids) == 2 + 3 * 2  # the parent's two calls and each child's two: every span stored once


def test_a_fork_right_after_instrument_does_not_hang_on_the_price_table_load(server, tmp_path):
    """``instrument()`` loads the price table on a thread that imports modules; a child forked meanwhile (gunicorn
    --preload forks its workers right after loading the app) inherited those modules' import locks held."""
    store = tmp_path / "spans.sqlite3"
    result = run(
        """
        otel_agentmetrics.instrument()
        outcomes = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                call_model()
                sys.exit(0)
            outcomes.append(wait_child(pid, 30))
        print(json.dumps({"outcomes": outcomes}))
        """,
        server,
        store,
    )
    assert result["outcomes"] == [0, 0, 0]
    rows = model_rows(store)
    assert len(rows) == 3
    assert all(row["cost"] is not None and row["cost"] > 0 for row in rows)  # each child priced its call


def test_forks_during_busy_threads_never_hang(server, tmp_path):
    """Four threads keep calling the model while the main thread forks 30 times, as a threaded app under
    gunicorn --preload or Celery prefork does; each child makes a call and leaves. Forking right after
    ``instrument()`` used to hang too: the price table's loader thread imports modules, and the child inherited
    their import locks held."""
    store = tmp_path / "spans.sqlite3"
    result = run(
        """
        otel_agentmetrics.instrument()
        stop = threading.Event()
        started = threading.Barrier(5)
        counts = []

        def busy():
            # One client per thread, made before the forks begin: a thread creating a client imports modules and
            # builds an SSL context, and a fork in the middle of that hangs the child with or without us.
            client = openai.OpenAI(base_url=BASE_URL, api_key="test", max_retries=0)
            n = 0
            while not stop.is_set():
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                n += 1
                if n == 1:
                    started.wait()
            counts.append(n)

        threads = [threading.Thread(target=busy) for _ in range(4)]
        for thread in threads:
            thread.start()
        started.wait()
        outcomes = []
        for index in range(30):
            time.sleep(0.002 * (index % 5))
            pid = os.fork()
            if pid == 0:
                call_model()
                os._exit(0)
            outcomes.append(wait_child(pid, 30))
        stop.set()
        for thread in threads:
            thread.join(30)
        print(json.dumps({"outcomes": outcomes, "busy_calls": sum(counts)}))
        """,
        server,
        store,
        timeout=240,
    )
    assert result["outcomes"] == [0] * 30
    assert result["busy_calls"] > 0


def test_multiprocessing_pool_and_process_children_keep_every_span(server, tmp_path):
    """Children of the fork start method end through os._exit, and ``with Pool()`` terminates its workers:
    all 60 spans must still reach the default local store, and none be counted as dropped."""
    store = tmp_path / "spans.sqlite3"
    result = run(
        """
        import multiprocessing

        def five_calls():
            for _ in range(5):
                call_model()

        otel_agentmetrics.instrument()
        context = multiprocessing.get_context("fork")
        with context.Pool(4) as pool:
            pool_pids = pool.map(call_model, range(40))
        processes = [context.Process(target=five_calls) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        print(json.dumps({"pool_pids": sorted(set(pool_pids)), "exit_codes": [p.exitcode for p in processes]}))
        """,
        server,
        store,
    )
    assert result["exit_codes"] == [0, 0, 0, 0]
    rows = model_rows(store)
    assert len(rows) == 60
    assert all(row["ok"] == 1 and row["input_tokens"] == PROMPT_TOKENS for row in rows)
    conn = sqlite3.connect(store)
    writers = conn.execute("SELECT pid, dropped_spans FROM writers").fetchall()
    conn.close()
    assert set(result["pool_pids"]) <= {pid for pid, _ in writers}  # each child wrote as a writer of its own
    assert sum(dropped for _, dropped in writers) == 0


def test_a_forked_child_reports_only_its_own_calls_under_its_own_instance_id(server, tmp_path):
    """The parent has calls already recorded and calls waiting to be recorded when it forks; the child's
    metrics must hold its own two calls only, under a service.instance.id of its own."""
    store = tmp_path / "spans.sqlite3"
    result = run(
        """
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource

        reader = InMemoryMetricReader()
        otel_agentmetrics.instrument(meter_provider=MeterProvider(metric_readers=[reader], resource=Resource.create()))

        def seen():
            data = reader.get_metrics_data()
            (resource_metrics,) = data.resource_metrics
            found = {"instance": resource_metrics.resource.attributes["service.instance.id"]}
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        kind = point.attributes.get("gen_ai.token.type")
                        if metric.name == "gen_ai.client.token.usage" and kind == "input":
                            found["input_tokens"] = point.sum
                        if metric.name == "gen_ai.client.operation.duration":
                            found["calls"] = point.count
            return found

        for _ in range(5):
            call_model()
        seen()  # these five are recorded now
        for _ in range(5):
            call_model()  # these five wait to be recorded when the fork happens
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            call_model()
            call_model()
            os.write(write, json.dumps(seen()).encode())
            os._exit(0)
        os.close(write)
        exit_code = wait_child(pid, 30)
        child = json.loads(os.read(read, 65536) or b"{}")
        print(json.dumps({"exit_code": exit_code, "child": child, "parent": seen()}))
        """,
        server,
        store,
    )
    assert result["exit_code"] == 0
    child, parent = result["child"], result["parent"]
    assert (child["calls"], child["input_tokens"]) == (2, 2 * PROMPT_TOKENS)
    assert (parent["calls"], parent["input_tokens"]) == (10, 10 * PROMPT_TOKENS)
    assert child["instance"] != parent["instance"]
