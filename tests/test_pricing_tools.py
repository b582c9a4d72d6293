"""``cost()``, ``estimate()`` and the ``agentmetrics prices`` / ``agentmetrics estimate`` commands, plus the promise
that importing the package and calling ``instrument()`` never load the price table on the calling thread."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

import otel_agentmetrics
from otel_agentmetrics.cli import main

M = 1_000_000
SOURCE = f"genai-prices=={version('genai-prices')}"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTMETRICS_PRICES", "OTEL_"))}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_cost_helper():
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    got = otel_agentmetrics.cost("gpt-4o-mini", 1000, 500, provider="openai", cache_read_tokens=400)
    assert got == pytest.approx((600 * 0.15 + 400 * 0.075 + 500 * 0.60) / M, rel=1e-12)
    # https://www.anthropic.com/pricing#api Claude 3 Haiku: $0.25 input, $1.25 output; provider guessed from the name.
    assert otel_agentmetrics.cost("claude-3-haiku-20240307", 100, 50) == pytest.approx(
        (100 * 0.25 + 50 * 1.25) / M, rel=1e-12
    )
    assert otel_agentmetrics.cost("no-such-model", 100, 50) is None


def test_cost_helper_with_price_file(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text('{"prices": [{"model": "house-llm", "input": 1, "output": 2}]}')
    assert otel_agentmetrics.cost("house-llm", 1000, 1000, prices=path) == pytest.approx(3000 / M, rel=1e-12)


def test_estimate_helper():
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens.
    per_request = (500 * 0.15 + 200 * 0.60) / M
    result = otel_agentmetrics.estimate("gpt-4o-mini", requests_per_day=1000, input_tokens=500, output_tokens=200)
    assert result is not None
    assert result.per_request == pytest.approx(per_request, rel=1e-12)
    assert result.per_day == pytest.approx(per_request * 1000, rel=1e-12)
    assert result.per_month == pytest.approx(per_request * 1000 * 30, rel=1e-12)
    assert result.source == SOURCE
    assert otel_agentmetrics.estimate("no-such", requests_per_day=1, input_tokens=1, output_tokens=1) is None
    with pytest.raises(ValueError, match="must be >= 0"):
        otel_agentmetrics.estimate("gpt-4o-mini", requests_per_day=-1, input_tokens=1, output_tokens=1)


def test_cli_prices(capsys):
    assert main(["prices", "gpt-4o-mini-2024-07-18", "--provider", "openai"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "model        gpt-4o-mini-2024-07-18 (priced as gpt-4o-mini, provider openai)",
        f"source       {SOURCE}",
        "input        $0.15 / 1M tokens",
        "cache read   $0.075 / 1M tokens",
        "output       $0.6 / 1M tokens",
    ]


def test_cli_prices_tiers_and_unknown(capsys):
    assert main(["prices", "gemini-2.5-pro", "--provider", "gcp.gemini"]) == 0
    out = capsys.readouterr().out
    assert "input        $1.25 / 1M tokens ($2.5 above 200,000 input tokens)" in out
    assert main(["prices", "llama3.2", "--provider", "ollama"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("no price known for model 'llama3.2' of provider 'ollama'; check the name")


def test_cli_prices_with_override_and_check(tmp_path, capsys):
    path = tmp_path / "prices.toml"
    path.write_text('[[prices]]\nprovider = "ollama"\nmodel_prefix = "llama"\ninput = 0\noutput = 0\n')
    assert main(["prices", "llama3.2", "--provider", "ollama", "--prices", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"model        llama3.2 (priced as {path}:1, provider ollama)"
    assert out[1] == "source       override"
    assert main(["prices", "--check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok, 1 price entry\n"
    path.write_text('[[prices]]\nmodel = "x"\noutput = "free"\n')
    assert main(["prices", "--check", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"error: {path}:3: prices[0].output: must be a number >= 0 (USD per million tokens), got 'free'\n"
    )


def test_cli_estimate(capsys):
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 / $0.60 per 1M: 500 in + 200 out = $0.000195 per request.
    args = ["estimate", "gpt-4o-mini", "--requests-per-day", "1000", "--input-tokens", "500", "--output-tokens", "200"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"model        gpt-4o-mini ({SOURCE})",
        "per request  $0.000195",
        "per day      $0.20  (1000 requests)",
        "per month    $5.85  (30 days)",
    ]
    assert main(["estimate", "nope", "--requests-per-day", "1", "--input-tokens", "1", "--output-tokens", "1"]) == 1


def test_import_and_instrument_leave_the_table_to_a_background_thread():
    done = run_python(
        "import sys, threading\n"
        "import otel_agentmetrics\n"
        "assert 'genai_prices' not in sys.modules, 'import loaded genai-prices'\n"
        "from otel_agentmetrics.pricing import _table\n"
        "real = _table.PriceTable.__init__\n"
        "where = []\n"
        "def spy(self):\n"
        "    where.append(threading.current_thread().name)\n"
        "    real(self)\n"
        "_table.PriceTable.__init__ = spy\n"
        "telemetry = otel_agentmetrics.instrument(store=False)\n"
        "telemetry.pricer.load()\n"
        "assert where == ['agentmetrics-prices'], where\n"
        "print('ok')\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
