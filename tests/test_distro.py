"""``opentelemetry-instrument python app.py`` with our package installed and nothing else configured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .recorded_server import serve_cassette

APP = Path(__file__).parent / "apps" / "openai_app.py"


def run_instrumented(base_url: str, app: Path = APP, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(
        OPENAI_BASE_URL=f"{base_url}/v1",
        OPENAI_API_KEY="test_openai_api_key",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="console",
        OTEL_METRIC_EXPORT_INTERVAL="600000",
        # The contrib OpenAI instrumentation may be installed beside us (benchmarks compare with it).
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
    )
    env.update(extra_env)
    command = (
        shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) or "opentelemetry-instrument"
    )
    return subprocess.run([command, sys.executable, str(app)], capture_output=True, text=True, env=env, timeout=90)


def console_spans(stdout: str) -> list[dict]:
    """The JSON objects the console span exporter printed, one per span."""
    spans, depth, buffer = [], 0, []
    for line in stdout.splitlines():
        if depth == 0 and line.startswith("{"):
            buffer = []
        if depth or line.startswith("{"):
            buffer.append(line)
            depth += line.count("{") - line.count("}")
            if depth == 0:
                obj = json.loads("\n".join(buffer))
                if "context" in obj and "name" in obj:
                    spans.append(obj)
    return spans


def test_unmodified_script_is_instrumented_and_exported() -> None:
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        result = run_instrumented(base_url)
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    spans = console_spans(result.stdout)
    assert [span["name"] for span in spans] == ["chat gpt-4o-mini"]
    attributes = spans[0]["attributes"]
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["server.address"] == "127.0.0.1"
    # Metrics are configured too: the console metric exporter flushes at exit.
    assert '"name": "gen_ai.client.operation.duration"' in result.stdout


def test_disabled_instrumentations_switches_ours_off() -> None:
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        result = run_instrumented(base_url, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai,agentmetrics_openai")
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    assert console_spans(result.stdout) == []


def test_agentmetrics_tools_are_traced_under_opentelemetry_instrument() -> None:
    result = run_instrumented(
        "http://127.0.0.1:9",
        app=APP.parent / "tool_app.py",
        AGENTMETRICS_TOOLS="toolbox:lookup",
        PYTHONPATH=str(APP.parent),
    )
    assert result.returncode == 0, result.stderr
    assert "tool said: sunny in Paris" in result.stdout
    spans = console_spans(result.stdout)
    assert [span["name"] for span in spans] == ["execute_tool lookup"]
    assert spans[0]["attributes"]["gen_ai.tool.name"] == "lookup"


def test_a_bad_setting_is_one_line_and_the_program_still_runs() -> None:
    # As any failed auto-instrumentation: the user's program runs (without our telemetry), and the reason is one
    # line naming the fix, not a traceback from the configurator and another from each instrumentor.
    with serve_cassette("openai/test_chat_completion_with_content") as base_url:
        result = run_instrumented(base_url, AGENTMETRICS_STREAM_USAGE="maybe")
    assert result.returncode == 0, result.stderr
    assert "answer: This is a test." in result.stdout
    assert result.stderr.splitlines() == [
        "otel-agentmetrics: AGENTMETRICS_STREAM_USAGE='maybe' is not a boolean; set it to true or false "
        "(or 1/0, yes/no, on/off); no telemetry from otel-agentmetrics in this run"
    ]
    assert console_spans(result.stdout) == []
