"""anthropic's own OpenTelemetry span (2.12+): exactly one span per instrumented call, ours, carrying the cost.

The SDK is pointed at the test's tracer provider (its ``open_telemetry`` client option), so it would export its
``anthropic.messages.create`` span next to ours if we did not hand it off. The first test shows it does exactly
that without us, so the others cannot pass by accident. On releases without native tracing the module skips.
"""

from __future__ import annotations

import anthropic
import pytest

from .anthropic_kit import HELLO, MODEL, cassette_client, instrument, wire_client

pytestmark = pytest.mark.skipif(
    not hasattr(anthropic._base_client, "start_api_call_span"),
    reason=f"anthropic {anthropic.__version__} has no native tracing (added in 2.12)",
)

OURS = "otel_agentmetrics"
SDK = "com.anthropic.sdk.python"


def _client(otel, name="test_sync_messages_create_basic", is_async=False, **options):
    return cassette_client(name, is_async=is_async, open_telemetry={"tracer_provider": otel.tracer_provider, **options})


def _scopes(otel) -> list[tuple[str, str]]:
    return [(s.instrumentation_scope.name, s.name) for s in otel.finished()]


def test_uninstrumented_sdk_emits_its_own_span(otel):
    client = _client(otel)
    client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert _scopes(otel) == [(SDK, "anthropic.messages.create")]


def test_instrumented_call_has_exactly_one_span_ours_and_propagates_it(otel):
    instrumentor = instrument(otel)
    try:
        client = _client(otel)
        client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    finally:
        instrumentor.uninstrument()
    assert _scopes(otel) == [(OURS, f"chat {MODEL}")]
    span = otel.only_span()
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(0.000114, rel=1e-9)
    # The SDK still sends a trace context with the request (its `propagation`): ours.
    (request,) = client.cassette.requests
    context = span.get_span_context()
    version, trace_id, span_id, _flags = request.headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", f"{context.trace_id:032x}", f"{context.span_id:016x}")


@pytest.mark.parametrize("entry", ["create", "helper", "streaming_response"])
async def test_streams_have_one_span(otel, entry):
    instrumentor = instrument(otel)
    try:
        client = _client(otel, "test_sync_messages_create_streaming", is_async=True)
        if entry == "create":
            async for _ in await client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True):
                pass
        elif entry == "helper":
            async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
                await stream.until_done()
        else:
            response_manager = client.messages.with_streaming_response.create(
                model=MODEL, max_tokens=100, messages=HELLO, stream=True
            )
            async with response_manager as response:
                async for _ in await response.parse():
                    pass
    finally:
        instrumentor.uninstrument()
    assert _scopes(otel) == [(OURS, f"chat {MODEL}")]
    assert otel.only_span().attributes["gen_ai.usage.output_tokens"] == 5


def test_failed_call_has_one_span(otel):
    instrumentor = instrument(otel)
    try:
        client = _client(otel, "test_sync_messages_create_api_error")
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="invalid-model-name", max_tokens=100, messages=HELLO)
    finally:
        instrumentor.uninstrument()
    assert _scopes(otel) == [(OURS, "chat invalid-model-name")]
    assert otel.only_span().attributes["error.type"] == "NotFoundError"


def test_calls_we_do_not_instrument_keep_the_sdk_span(otel):
    """count_tokens makes no span of ours (nothing generated, nothing billed), so the SDK's stays."""
    instrumentor = instrument(otel)
    try:
        client = wire_client({"input_tokens": 13})
        client = client.with_options(open_telemetry={"tracer_provider": otel.tracer_provider})
        assert client.messages.count_tokens(model=MODEL, messages=HELLO).input_tokens == 13
    finally:
        instrumentor.uninstrument()
    assert _scopes(otel) == [(SDK, "anthropic.messages.count_tokens")]


def test_sdk_tracing_off_is_left_off(otel):
    instrumentor = instrument(otel)
    try:
        client = cassette_client("test_sync_messages_create_basic", open_telemetry=False)
        client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    finally:
        instrumentor.uninstrument()
    assert _scopes(otel) == [(OURS, f"chat {MODEL}")]
    assert "traceparent" not in client.cassette.requests[0].headers


def test_uninstrument_gives_the_sdk_its_span_back(otel):
    instrument(otel).uninstrument()
    assert anthropic._base_client.start_api_call_span is anthropic._tracing.start_api_call_span
    _client(otel).messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert _scopes(otel) == [(SDK, "anthropic.messages.create")]


def test_call_made_inside_an_outer_instrumented_layer_has_one_span(otel):
    """A layer above the client (LiteLLM, say) owns the span: neither our Anthropic span nor the SDK's is added."""
    from otel_agentmetrics._telemetry import Telemetry
    from otel_agentmetrics._wrapping import sync_wrapper
    from otel_agentmetrics.record import CallRecord

    from .anthropic_kit import loaded_pricer

    def build(instance, args, kwargs):
        return CallRecord(operation="chat", provider="anthropic", request_model="outer-model")

    def handle(call, result, args, kwargs):
        call.end()
        return result

    outer = sync_wrapper(Telemetry(otel.tracer_provider, otel.meter_provider, pricer=loaded_pricer()), build, handle)
    instrumentor = instrument(otel)
    try:
        client = _client(otel)
        message = outer(lambda: client.messages.create(model=MODEL, max_tokens=100, messages=HELLO), None, (), {})
    finally:
        instrumentor.uninstrument()
    assert message.usage.output_tokens == 5
    assert _scopes(otel) == [(OURS, "chat outer-model")]


def test_the_clients_conversation_id_is_kept(otel):
    instrumentor = instrument(otel)
    try:
        client = _client(otel, conversation_id="conv_123")
        client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    finally:
        instrumentor.uninstrument()
    assert otel.only_span().attributes["gen_ai.conversation.id"] == "conv_123"
