"""Dollar amounts of call records, computed by hand from the providers' published per-million prices.

Each expected value below is written out from the price list (cited next to it), not computed by the code under
test. The last test cross-checks our float fast path against genai-prices' own calculation for every model it
knows, so the compiled rates cannot drift from the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from importlib.metadata import version

import pytest

from otel_agentmetrics.pricing import Pricer
from otel_agentmetrics.record import CallRecord

M = 1_000_000
# The installed genai-prices; its version is part of the cost source attribute.
SOURCE = f"genai-prices=={version('genai-prices')}"


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    pricer = Pricer()
    pricer.load()
    return pricer


def record(provider: str, model: str | None, request_model: str | None = None, **usage: int) -> CallRecord:
    return CallRecord(
        operation="chat", provider=provider, request_model=request_model or model, response_model=model, **usage
    )


def usd(pricer: Pricer, rec: CallRecord) -> float:
    cost = pricer.price(rec)
    assert cost is not None
    assert cost.source == SOURCE
    return cost.usd


def test_openai_cached_input(pricer):
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    # OpenAI's prompt_tokens (our input_tokens) include the cached ones.
    rec = record("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", input_tokens=2006, output_tokens=300,
                 cache_read_input_tokens=1920)  # fmt: skip
    assert usd(pricer, rec) == pytest.approx(((2006 - 1920) * 0.15 + 1920 * 0.075 + 300 * 0.60) / M, rel=1e-12)


def test_openai_reasoning_tokens_are_output(pricer):
    # https://openai.com/api/pricing/ o3-mini: $1.10 input, $4.40 output per 1M; reasoning tokens bill as output and
    # are already inside completion_tokens.
    rec = record("openai", "o3-mini-2025-01-31", "o3-mini", input_tokens=1000, output_tokens=1500,
                 reasoning_output_tokens=1200)  # fmt: skip
    assert usd(pricer, rec) == pytest.approx((1000 * 1.10 + 1500 * 4.40) / M, rel=1e-12)


def test_openai_flex_service_tier(pricer):
    # https://openai.com/api/pricing/ (Flex): gpt-5.4 $1.25 input, $7.50 output per 1M; standard $2.50 / $15.00.
    flex = record("openai", "gpt-5.4-2026-03-05", "gpt-5.4", input_tokens=1000, output_tokens=100)
    flex.attributes["openai.response.service_tier"] = "flex"
    standard = record("openai", "gpt-5.4-2026-03-05", "gpt-5.4", input_tokens=1000, output_tokens=100)
    standard.attributes["openai.response.service_tier"] = "default"
    assert usd(pricer, flex) == pytest.approx((1000 * 1.25 + 100 * 7.50) / M, rel=1e-12)
    assert usd(pricer, standard) == pytest.approx((1000 * 2.50 + 100 * 15.00) / M, rel=1e-12)


def test_anthropic_cache_read_and_write(pricer):
    # https://www.anthropic.com/pricing#api Claude Sonnet 4: $3 input, $3.75 cache write (5 min), $0.30 cache read,
    # $15 output per 1M. The adapter adds Anthropic's cached parts back into input_tokens (the record's contract):
    # the API said input_tokens=50, cache_creation_input_tokens=1000, cache_read_input_tokens=3000.
    rec = record("anthropic", "claude-sonnet-4-20250514", input_tokens=50 + 1000 + 3000, output_tokens=200,
                 cache_creation_input_tokens=1000, cache_read_input_tokens=3000)  # fmt: skip
    assert usd(pricer, rec) == pytest.approx((50 * 3 + 1000 * 3.75 + 3000 * 0.30 + 200 * 15) / M, rel=1e-12)


def test_anthropic_cassette_usage(pricer):
    # tests/cassettes/anthropic/test_sync_messages_create_captures_thinking_content.yaml: 46 in, 417 out
    # (thinking included), claude-sonnet-4-20250514: $3 / $15 per 1M (https://www.anthropic.com/pricing#api).
    rec = record("anthropic", "claude-sonnet-4-20250514", input_tokens=46, output_tokens=417)
    assert usd(pricer, rec) == pytest.approx((46 * 3 + 417 * 15) / M, rel=1e-12)


@pytest.mark.parametrize(
    "model",
    [
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    ],
)
def test_bedrock_ids(pricer, model):
    # https://aws.amazon.com/bedrock/pricing/ Claude 3.5 Sonnet: $3 input, $15 output per 1M tokens.
    rec = record("aws.bedrock", None, model, input_tokens=1000, output_tokens=500)
    assert usd(pricer, rec) == pytest.approx((1000 * 3 + 500 * 15) / M, rel=1e-12)


def test_azure_deployment_name_priced_by_response_model(pricer):
    # https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/ GPT-4o global:
    # $2.50 input, $10 output per 1M. The request names the deployment; the response names the model.
    rec = record("azure.ai.openai", "gpt-4o-2024-08-06", "my-prod-deployment", input_tokens=1000, output_tokens=100)
    assert usd(pricer, rec) == pytest.approx((1000 * 2.50 + 100 * 10) / M, rel=1e-12)


def test_request_model_when_response_model_unknown(pricer):
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 / $0.60 per 1M.
    rec = record("openai", "some-internal-alias", "gpt-4o-mini", input_tokens=1000, output_tokens=1000)
    assert usd(pricer, rec) == pytest.approx((1000 * 0.15 + 1000 * 0.60) / M, rel=1e-12)


def test_openai_compatible_provider_priced_as_itself(pricer):
    # https://groq.com/pricing Llama 3.1 8B Instant: $0.05 input, $0.08 output per 1M tokens.
    rec = record("groq", "llama-3.1-8b-instant", input_tokens=10_000, output_tokens=2_000)
    rec.server_address = "api.groq.com"
    assert usd(pricer, rec) == pytest.approx((10_000 * 0.05 + 2_000 * 0.08) / M, rel=1e-12)


@pytest.mark.parametrize(
    ("provider", "model", "input_price", "output_price"),
    [
        # https://www.anthropic.com/pricing#api Claude 3.5 Sonnet: $3 / $15 per 1M tokens.
        ("anthropic", "claude-3-5-sonnet-latest", 3.0, 15.0),
        # https://cloud.google.com/vertex-ai/generative-ai/pricing (Anthropic on Vertex) Claude 3.5 Sonnet v2: $3 / $15.
        ("gcp.vertex_ai", "claude-3-5-sonnet-v2@20241022", 3.0, 15.0),
        # https://mistral.ai/pricing Mistral Large: $2 / $6 per 1M tokens.
        ("mistral_ai", "mistral-large-latest", 2.0, 6.0),
        # https://docs.x.ai/docs/models grok-2-1212 (grok-2-latest): $2 / $10 per 1M tokens.
        ("x_ai", "grok-2-latest", 2.0, 10.0),
        # https://ai.google.dev/gemini-api/docs/pricing Gemini 2.0 Flash: $0.10 / $0.40 per 1M; Google's resource path.
        ("gcp.gemini", "models/gemini-2.0-flash", 0.10, 0.40),
        # https://openrouter.ai/anthropic/claude-3.5-sonnet: $3 / $15 per 1M tokens, priced as OpenRouter bills it.
        ("openrouter", "anthropic/claude-3.5-sonnet", 3.0, 15.0),
    ],
)
def test_aliases_and_provider_spellings(pricer, provider, model, input_price, output_price):
    rec = record(provider, model, input_tokens=1000, output_tokens=100)
    assert usd(pricer, rec) == pytest.approx((1000 * input_price + 100 * output_price) / M, rel=1e-12)


def test_litellm_routing_prefix(pricer):
    # LiteLLM names carry a routing prefix; only the request model is known here.
    # https://groq.com/pricing Llama 3.1 8B Instant: $0.05 input, $0.08 output per 1M tokens.
    rec = record("groq", None, "groq/llama-3.1-8b-instant", input_tokens=10_000, output_tokens=2_000)
    assert usd(pricer, rec) == pytest.approx((10_000 * 0.05 + 2_000 * 0.08) / M, rel=1e-12)


def test_gemini_long_context_tier(pricer):
    # https://ai.google.dev/gemini-api/docs/pricing Gemini 2.5 Pro: $1.25 input / $10 output per 1M up to 200k
    # input tokens; $2.50 / $15 for every token of a prompt above 200k.
    short = record("gcp.gemini", "gemini-2.5-pro", input_tokens=200_000, output_tokens=1000)
    long = record("gcp.gemini", "gemini-2.5-pro", input_tokens=200_001, output_tokens=1000)
    assert usd(pricer, short) == pytest.approx((200_000 * 1.25 + 1000 * 10) / M, rel=1e-12)
    assert usd(pricer, long) == pytest.approx((200_001 * 2.50 + 1000 * 15) / M, rel=1e-12)


def test_deepseek_off_peak_hours(pricer):
    # https://api-docs.deepseek.com/quick_start/pricing deepseek-chat: $0.27 input, $1.10 output per 1M from 00:30
    # to 16:30 UTC; half price ($0.135 / $0.55) off-peak.
    # The quote re-resolves when the next edge passes: walk forward to the next 18:00, then the next day's 12:00.
    quote = pricer.quote("deepseek-chat", "deepseek")
    assert quote is not None
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    off_peak = datetime.combine(tomorrow, time(18, 0), UTC).timestamp()
    peak = datetime.combine(tomorrow + timedelta(days=1), time(12, 0), UTC).timestamp()
    assert quote.current(off_peak).usd(1000, 1000) == pytest.approx((1000 * 0.135 + 1000 * 0.55) / M, rel=1e-12)
    assert quote.current(peak).usd(1000, 1000) == pytest.approx((1000 * 0.27 + 1000 * 1.10) / M, rel=1e-12)


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "no-such-model-xyz"), ("ollama", "llama3.2"), ("anthropic", None)],
)
def test_unknown_model_has_no_price(pricer, provider, model):
    assert pricer.price(record(provider, model, model, input_tokens=10, output_tokens=10)) is None


def test_zero_tokens_cost_zero_not_none(pricer):
    rec = record("openai", "gpt-4o-mini", input_tokens=0, output_tokens=0)
    assert usd(pricer, rec) == 0.0


def test_matches_genai_prices_for_every_model(pricer):
    """Our compiled float rates give genai-prices' own Decimal result for every model and provider it knows."""
    from genai_prices import Usage, data_snapshot

    snapshot = data_snapshot.get_snapshot()
    now = datetime.now(UTC)
    usages = [
        dict(input_tokens=1234, output_tokens=567),
        dict(input_tokens=300_000, output_tokens=4_000, cache_read_tokens=100_000, cache_write_tokens=20_000),
        dict(input_tokens=5_000, output_tokens=2_000, output_reasoning_tokens=1_500, cache_read_tokens=4_000),
    ]
    checked = 0
    from otel_agentmetrics.pricing._table import compile_price

    for provider in snapshot.providers:
        for model in provider.models:
            model_price = model.get_prices(now)
            rates = compile_price(model_price)
            for usage in usages:
                expected = float(model_price.calc_price(Usage(**usage))["total_price"])
                ours = rates.usd(
                    usage["input_tokens"],
                    usage["output_tokens"],
                    usage.get("cache_read_tokens", 0),
                    usage.get("cache_write_tokens", 0),
                    usage.get("output_reasoning_tokens", 0),
                )
                assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12), (provider.id, model.id, usage)
                checked += 1
    assert checked > 1000
