"""Every program in examples/ runs as a user would run it, against the stand-in server, and records what it says.

Token counts come from the stand-in (about four characters a token of the request it got), so they and the
dollars are exact: each cost is checked against the published per-million prices.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_agentmetrics.demo.server import StandInServer

from .examples_kit import EXAMPLES, example_env, run_example, stored_spans

# Published prices, USD per million tokens: input, cached input read, cache write, output.
GPT_4O_MINI = (0.15, 0.075, None, 0.60)
CLAUDE_HAIKU = (0.80, 0.08, 1.00, 4.00)


def dollars(row: dict[str, object], prices: tuple[float, float, float | None, float]) -> float:
    price_in, price_read, price_write, price_out = prices
    read = int(row["cache_read_tokens"] or 0)  # type: ignore[call-overload]
    write = int(row["cache_creation_tokens"] or 0)  # type: ignore[call-overload]
    plain = int(row["input_tokens"]) - read - write  # type: ignore[call-overload]
    total = plain * price_in + read * price_read + write * (price_write or 0.0)
    return (total + int(row["output_tokens"]) * price_out) / 1e6  # type: ignore[call-overload]


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(latency=(0.0, 0.0), chunk_delay=0.0) as srv:
        yield srv


def test_quickstart(server: StandInServer, tmp_path: Path) -> None:
    out = run_example("quickstart.py", server, tmp_path).stdout
    assert out == (
        "Yes: Lisbon in spring is mild and less crowded than in summer.\n"
        "1 call, 22 input + 15 output tokens, $0.0000123\n"
    )
    (call,) = stored_spans(tmp_path)
    assert (call["name"], call["response_model"], call["service"]) == (
        "chat gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "quickstart",
    )
    assert (call["input_tokens"], call["output_tokens"], call["agent_name"]) == (22, 15, "quickstart")
    assert call["cost"] == pytest.approx(dollars(call, GPT_4O_MINI), rel=1e-9) == pytest.approx(0.0000123)


def test_zero_code_with_opentelemetry_instrument(server: StandInServer, tmp_path: Path) -> None:
    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    command = command or shutil.which("opentelemetry-instrument")
    assert command, "opentelemetry-instrument comes with opentelemetry-instrumentation, a dependency"
    source = (EXAMPLES / "zero_code.py").read_text()
    assert "otel_agentmetrics" not in source.split('"""')[2]  # the program itself knows nothing of us
    result = run_example("zero_code.py", server, tmp_path, prefix=(command,), OTEL_SERVICE_NAME="zero-code")
    assert result.stdout.splitlines() == [
        "Yes: Kyoto in spring is mild and less crowded than in summer.",
        "Yes: Oaxaca in spring is mild and less crowded than in summer.",
    ]
    calls = stored_spans(tmp_path)
    assert [(c["name"], c["service"], c["input_tokens"], c["output_tokens"]) for c in calls] == [
        ("chat gpt-4o-mini", "zero-code", 22, 15),
        ("chat gpt-4o-mini", "zero-code", 22, 15),
    ]
    assert all(c["cost"] == pytest.approx(dollars(c, GPT_4O_MINI), rel=1e-9) for c in calls)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(method: str, url: str) -> dict[str, object]:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_fastapi_service_cost_per_route_and_mounted_dashboard(server: StandInServer, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    port = _free_port()
    env = example_env(server, tmp_path, PORT=str(port), OTEL_BSP_SCHEDULE_DELAY="100")
    app = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "fastapi_service.py")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/agentmetrics/", timeout=10).close()  # the page, even with no store yet
                break
            except OSError:
                assert app.poll() is None and time.monotonic() < deadline, "the service did not start"
                time.sleep(0.1)
        plan = _http("GET", base + "/plan?city=Kyoto")
        assert plan["plan"] == (
            "Day 1: the old town of Kyoto and a walk by the water. Day 2: a market breakfast, then a day trip."
        )
        assert plan["weather"] == "Yes: Kyoto is worth a visit."
        assert _http("POST", base + "/check?city=Oaxaca") == {
            "answer": "Yes: Oaxaca in spring is mild and less crowded than in summer."
        }
        _http("POST", base + "/check?city=Hobart")
        while True:  # spans reach the store in batches (every 100 ms here); until the first, there is no store (404)
            try:
                data = _http("GET", base + "/agentmetrics/api/summary")
            except urllib.error.HTTPError as error:
                assert error.code == 404 and time.monotonic() < deadline, error
                time.sleep(0.1)
                continue
            if data["overall"]["calls"] == 4 and len(data["by_endpoint"]) == 2:  # type: ignore[index, arg-type]
                break
            assert time.monotonic() < deadline, data
            time.sleep(0.1)
        page = urllib.request.urlopen(base + "/agentmetrics/", timeout=10).read().decode()
        assert "<title>agentmetrics dashboard</title>" in page
    finally:
        app.terminate()
        app.wait(timeout=30)
    calls = stored_spans(tmp_path)
    by_route = {e["name"]: e for e in data["by_endpoint"]}  # type: ignore[union-attr]
    assert sorted(by_route) == ["/check", "/plan"]
    assert (by_route["/plan"]["calls"], by_route["/plan"]["model_calls"]) == (1, 2)
    assert (by_route["/check"]["calls"], by_route["/check"]["model_calls"]) == (2, 2)
    check = by_route["/check"]
    assert (check["input_tokens"], check["output_tokens"]) == (44, 30)
    assert check["cost_usd"] == pytest.approx(2 * (22 * 0.15 + 15 * 0.60) / 1e6, rel=1e-9)
    assert sum(e["cost_usd"] for e in by_route.values()) == pytest.approx(sum(c["cost"] for c in calls), rel=1e-9)
    requests = stored_spans(tmp_path, "request")
    assert sorted((r["name"], r["route"]) for r in requests) == [
        ("GET /plan", "/plan"),
        ("POST /check", "/check"),
        ("POST /check", "/check"),
    ]  # and none for the dashboard's own routes


def test_openai_agents_sdk(server: StandInServer, tmp_path: Path) -> None:
    pytest.importorskip("agents")
    lines = run_example("openai_agents_sdk.py", server, tmp_path).stdout.splitlines()
    assert lines[0] == "Here is what I found: Kyoto: 21°C and sunny. Enjoy the trip!"
    calls = stored_spans(tmp_path)
    total = sum(c["cost"] for c in calls)
    assert lines[1] == f"2 model calls, 1 tool call, ${total:.7f}"
    assert [(c["name"], c["agent_name"]) for c in calls] == [("chat gpt-4o-mini", "weather-assistant")] * 2
    assert all(c["cost"] == pytest.approx(dollars(c, GPT_4O_MINI), rel=1e-9) for c in calls)
    (tool,) = stored_spans(tmp_path, "tool")
    assert (tool["name"], tool["ok"], tool["agent_name"]) == ("execute_tool get_weather", 1, "weather-assistant")
    (run,) = stored_spans(tmp_path, "agent")  # the SDK's run and ours, of the same name, are one span
    assert run["name"] == "invoke_agent weather-assistant" and run["trace_id"] == tool["trace_id"]


def test_langchain_tools(server: StandInServer, tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    lines = run_example("langchain_tools.py", server, tmp_path).stdout.splitlines()
    calls = stored_spans(tmp_path)
    total = sum(c["cost"] for c in calls)
    assert lines == [
        "  tool convert_currency -> 120.0 USD is about 110.4 EUR",
        "Here is what I found: 120.0 USD is about 110.4 EUR. Enjoy the trip!",
        "  tool book_hotel -> no rooms left in Tallinn",
        "Here is what I found: no rooms left in Tallinn. Enjoy the trip!",
        f"4 model calls, 2 tool runs, 1 failed, ${total:.7f}",
    ]
    assert [(c["input_tokens"], c["cache_read_tokens"], c["output_tokens"]) for c in calls] == [
        (82, 0, 16),
        (157, 64, 16),
        (63, 0, 12),
        (131, 64, 15),
    ]
    assert all(c["cost"] == pytest.approx(dollars(c, GPT_4O_MINI), rel=1e-9) for c in calls)
    assert total == pytest.approx(9.075e-05, rel=1e-9)
    tools = stored_spans(tmp_path, "tool")
    assert [(t["name"], t["ok"], t["error_type"]) for t in tools] == [
        ("execute_tool convert_currency", 1, None),
        ("execute_tool book_hotel", 0, "tool_error"),  # handled for the model, still a failure here
    ]


def _console_metrics(stdout: str) -> tuple[str, dict[str, object]]:
    """The program's own output, and the metrics the console exporter printed at exit (one JSON document)."""
    start = stdout.index("{\n")
    document, _ = json.JSONDecoder().raw_decode(stdout[start:])
    return stdout[:start], document


def _sums_by(document: dict[str, object], metric: str, key: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for resource in document["resource_metrics"]:  # type: ignore[attr-defined]
        for scope in resource["scope_metrics"]:
            for m in scope["metrics"]:
                if m["name"] == metric:
                    for point in m["data"]["data_points"]:
                        label = point["attributes"].get(key)
                        sums[label] = sums.get(label, 0.0) + point["sum"]
    return sums


def test_budget_and_cost_per_tenant(server: StandInServer, tmp_path: Path) -> None:
    result = run_example("budget_and_tenants.py", server, tmp_path, OTEL_METRICS_EXPORTER="console")
    output, metrics = _console_metrics(result.stdout)
    assert output.splitlines() == [
        "acme: 2 of 2 answered, $0.0000234 spent in 2 calls",
        "globex: stopped after $0.0000517 of $0.00004",
        "globex: 3 of 4 answered, $0.0000517 spent in 3 calls",
    ]
    calls = stored_spans(tmp_path)
    assert [(c["input_tokens"], c["output_tokens"]) for c in calls] == [(18, 15)] * 2 + [(19, 24)] * 3
    assert all(c["cost"] == pytest.approx(dollars(c, GPT_4O_MINI), rel=1e-9) for c in calls)
    # The refused fourth call of globex never reached the server: five requests, five spans.
    # Dollars per tenant, as Prometheus would sum them from the cost histogram's labels.
    per_tenant = _sums_by(metrics, "gen_ai.usage.cost", "tenant")
    assert per_tenant == {"acme": pytest.approx(2 * 1.17e-5), "globex": pytest.approx(3 * 1.725e-5)}


def test_anthropic_prompt_caching(server: StandInServer, tmp_path: Path) -> None:
    lines = run_example("anthropic_prompt_caching.py", server, tmp_path).stdout.splitlines()
    assert lines == [
        "Lisbon: 3669 tokens written to the cache, 0 read from it, 11 not cached; $0.003738",
        "Kyoto: 0 tokens written to the cache, 3669 read from it, 10 not cached; $0.000362",
        "Oaxaca: 0 tokens written to the cache, 3669 read from it, 11 not cached; $0.000362",
    ]
    calls = stored_spans(tmp_path)
    # input_tokens counts the whole prompt, cached parts included; each part is priced at its own rate.
    assert [(c["input_tokens"], c["cache_creation_tokens"], c["cache_read_tokens"]) for c in calls] == [
        (3680, 3669, 0),
        (3679, 0, 3669),
        (3680, 0, 3669),
    ]
    assert [c["cost"] for c in calls] == [
        pytest.approx((11 * 0.80 + 3669 * 1.00 + 15 * 4.00) / 1e6, rel=1e-9),
        pytest.approx((10 * 0.80 + 3669 * 0.08 + 15 * 4.00) / 1e6, rel=1e-9),
        pytest.approx((11 * 0.80 + 3669 * 0.08 + 15 * 4.00) / 1e6, rel=1e-9),
    ]
    assert all(c["cost"] == pytest.approx(dollars(c, CLAUDE_HAIKU), rel=1e-9) for c in calls)


def test_the_stand_in_runs_on_its_own_for_trying_examples_offline(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "otel_agentmetrics.demo.server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        openai_url = lines[1].split("OPENAI_BASE_URL=")[1].split()[0]
        assert openai_url.startswith("http://127.0.0.1:") and openai_url.endswith("/v1")
        import openai

        client = openai.OpenAI(base_url=openai_url, api_key="stand-in", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Is Tallinn a good place to visit in spring?"}]
        )
        assert reply.choices[0].message.content == "Yes: Tallinn in spring is mild and less crowded than in summer."
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_example_is_run_by_a_test() -> None:
    tests = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    untested = [path.name for path in sorted(EXAMPLES.glob("*.py")) if path.name not in tests]
    assert not untested, f"examples no test runs: {untested}"


def test_every_example_is_listed_in_both_indexes() -> None:
    """Issue 26: four examples were in neither examples/README.md nor docs/examples.md."""
    readme = (EXAMPLES / "README.md").read_text()
    page = (EXAMPLES.parent / "docs" / "examples.md").read_text()
    for path in sorted(EXAMPLES.glob("*.py")):
        assert f"({path.name})" in readme, f"{path.name} is not in examples/README.md"
        assert f'"examples/{path.name}"' in page, f"{path.name} is not in docs/examples.md"
