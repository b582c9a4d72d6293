"""The user's price file: precedence over genai-prices, matching rules, and start-up errors for bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from otel_agentmetrics import ConfigError
from otel_agentmetrics.pricing import Pricer, load_overrides
from otel_agentmetrics.record import CallRecord

M = 1_000_000
SOURCE = f"genai-prices=={version('genai-prices')}"

PRICES_TOML = """\
# Negotiated prices, USD per million tokens.
[[prices]]
provider = "openai"
model = "gpt-4o-mini"
input = 0.10
output = 0.40
cache_read = 0.05

[[prices]]
model_prefix = "ft:gpt-4o-mini"
input = 0.30
output = 1.20

[[prices]]
provider = "ollama"
model_regex = "llama3(\\\\.\\\\d+)?(:.*)?"
input = 0
output = 0

[[prices]]
provider = "aws"
model = "cohere.command-r-v1:0"
input = 0.5
output = 1.5
per_request = 0.001
"""


@pytest.fixture
def prices_file(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(PRICES_TOML)
    return path


@pytest.fixture
def pricer(prices_file) -> Pricer:
    pricer = Pricer(prices_file)
    pricer.load()
    return pricer


def price(pricer: Pricer, provider: str, model: str, **usage: int) -> tuple[float, str] | None:
    cost = pricer.price(CallRecord(operation="chat", provider=provider, request_model=model, **usage))
    return None if cost is None else (cost.usd, cost.source)


def test_override_beats_genai_prices(pricer):
    # The file's gpt-4o-mini: $0.10 in, $0.05 cached, $0.40 out (genai-prices says $0.15 / $0.075 / $0.60).
    got = price(pricer, "openai", "gpt-4o-mini", input_tokens=1000, output_tokens=100, cache_read_input_tokens=400)
    assert got == (pytest.approx((600 * 0.10 + 400 * 0.05 + 100 * 0.40) / M, rel=1e-12), "override")


def test_override_only_for_its_provider(pricer):
    # Azure's gpt-4o-mini is not the file's "openai" entry: genai-prices' Azure price applies ($0.15 / $0.60,
    # https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/).
    got = price(pricer, "azure.ai.openai", "gpt-4o-mini", input_tokens=1000, output_tokens=100)
    assert got == (pytest.approx((1000 * 0.15 + 100 * 0.60) / M, rel=1e-12), SOURCE)


def test_prefix_and_regex(pricer):
    ft = price(pricer, "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", input_tokens=1000, output_tokens=1000)
    assert ft == (pytest.approx((1000 * 0.30 + 1000 * 1.20) / M, rel=1e-12), "override")
    # Self-hosted models have no list price; the file says they are free, so they cost 0 (not "unpriced").
    assert price(pricer, "ollama", "llama3.2:3b", input_tokens=5000, output_tokens=500) == (0.0, "override")
    assert price(pricer, "ollama", "mistral:7b", input_tokens=5000, output_tokens=500) is None


def test_genai_provider_id_and_per_request(pricer):
    # "aws" (genai-prices' id) matches our "aws.bedrock"; per_request is USD per call.
    got = price(pricer, "aws.bedrock", "cohere.command-r-v1:0", input_tokens=1000, output_tokens=100)
    assert got == (pytest.approx((1000 * 0.5 + 100 * 1.5) / M + 0.001, rel=1e-12), "override")


def test_exact_beats_prefix_beats_regex(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        '{"prices": ['
        '{"model_regex": "gpt-.*", "input": 3, "output": 3},'
        '{"model_prefix": "gpt-4", "input": 2, "output": 2},'
        '{"model_prefix": "gpt-4o", "input": 1.5, "output": 1.5},'
        '{"model": "gpt-4o", "input": 1, "output": 1}'
        "]}"
    )
    table = load_overrides(path)
    assert table.find(frozenset({"openai"}), "GPT-4o").rates.input == 1.0  # type: ignore[union-attr]
    assert table.find(frozenset({"openai"}), "gpt-4o-mini").rates.input == 1.5  # type: ignore[union-attr]
    assert table.find(frozenset({"openai"}), "gpt-4-turbo").rates.input == 2.0  # type: ignore[union-attr]
    assert table.find(frozenset({"openai"}), "gpt-3.5-turbo").rates.input == 3.0  # type: ignore[union-attr]
    assert table.find(frozenset({"openai"}), "o1") is None


def test_overrides_need_no_price_table(prices_file):
    pricer = Pricer(prices_file)  # never loaded: the file alone prices its models
    got = price(pricer, "ollama", "llama3", input_tokens=10, output_tokens=10)
    assert got == (0.0, "override")
    assert not pricer.ready


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[prices]]\nmodel = 'x'\ninput = \n", "p.toml:3: not valid TOML: Invalid value (column 9)"),
        (
            "[[prices]]\nmodel = 'a'\ninput = 1\n\n[[prices]]\nmodel = 'b'\ninput = -2\n",
            "p.toml:7: prices[1].input: must be a number >= 0 (USD per million tokens), got -2",
        ),
        (
            "[[prices]]\nmodel = 'a'\ninptu = 1\n",
            "p.toml:3: prices[0].inptu: unknown key; use provider, model, model_prefix, model_regex, input, output,"
            " cache_read, cache_write, per_request",
        ),
        (
            "[[prices]]\nprovider = 'openai'\ninput = 1\n",
            "p.toml:1: prices[0]: names no model; give exactly one of model, model_prefix, model_regex",
        ),
        (
            "[[prices]]\nmodel = 'a'\nmodel_regex = 'b'\ninput = 1\n",
            "p.toml:3: prices[0].model_regex: says how to match the model twice; give exactly one of model,"
            " model_prefix, model_regex",
        ),
        ("[[prices]]\nmodel_regex = 'gpt-(4'\ninput = 1\n", "p.toml:2: prices[0].model_regex: is not a valid regular"),
        ("[[prices]]\nmodel = 'a'\n", "p.toml:1: prices[0]: gives no price; set at least one of input, output"),
        ("[[price]]\nmodel = 'a'\n", "p.toml: no 'prices' list; write [[prices]] tables"),
        ("[[prices]]\nmodel = 'a'\ninput = true\n", "p.toml:3: prices[0].input: must be a number >= 0"),
    ],
)
def test_malformed_toml(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_overrides(path)
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prices": [\n  {"model": "a",\n   "input": 1,,\n}]}', "p.json:3: not valid JSON: Expecting property name"),
        (
            '{"prices": [\n  {"model": "a", "input": 1},\n  {"model": "b",\n   "output": "cheap"}\n]}',
            "p.json:4: prices[1].output: must be a number >= 0 (USD per million tokens), got 'cheap'",
        ),
        ('{"prices": {"model": "a"}}', "p.json: 'prices' must be a list of tables, got dict"),
        ('{"prices": [], "extra": 1}', "p.json: unknown top-level key 'extra'"),
        ('{"prices": [{"model": "", "input": 1}]}', "p.json:1: prices[0].model: must be a non-empty string"),
    ],
)
def test_malformed_json(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_overrides(path)
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"prices: cannot read .*nope.toml: No such file or directory; set"):
        load_overrides(tmp_path / "nope.toml")


def test_instrument_fails_at_start_up_on_a_bad_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[prices]]\nmodel = 'a'\ninput = 'x'\n")
    code = "import otel_agentmetrics\notel_agentmetrics.instrument(store=False)"
    env = {**os.environ, "AGENTMETRICS_PRICES": str(path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last == f"otel_agentmetrics._config.ConfigError: {path}:3: prices[0].input: must be a number >= 0 "
        "(USD per million tokens), got 'x'"
    )
