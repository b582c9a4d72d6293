"""One span per call beside another GenAI instrumentation of the same client, in either order.

Driven with the real packages: the OpenTelemetry contrib ``opentelemetry-instrumentation-openai-v2`` (the version
our ``[bench]`` extra pins), OpenLLMetry's ``opentelemetry-instrumentation-openai`` and Logfire's
``instrument_openai()``, against the real ``openai`` client replaying recorded traffic. Each call must give exactly
one span (ours, with tokens and cost) and one point per token/duration metric; once ours is removed, theirs must
record again (their patch was put back, not lost).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import opentelemetry.instrumentation.anthropic as openllmetry_anthropic
import opentelemetry.instrumentation.openai as openllmetry
import opentelemetry.instrumentation.openai_v2 as contrib
import pytest

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import shared_telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.pricing import Pricer

from .openai_kit import client_for, recorded

CHAT = "test_chat_completion_with_content"  # gpt-4o-mini-2024-07-18: 12 prompt + 5 completion tokens
STREAM = "test_chat_completion_streaming"  # gpt-4 answered by gpt-4-0613: 12 + 5 tokens in the usage chunk
M = 1_000_000
CHAT_COST = (12 * 0.15 + 5 * 0.60) / M  # https://openai.com/api/pricing/ gpt-4o-mini
STREAM_COST = (12 * 30 + 5 * 60) / M  # gpt-4-0613, legacy models table


def _priced(otel: Any) -> Telemetry:
    pricer = Pricer()
    pricer.load()
    return Telemetry(otel.tracer_provider, otel.meter_provider, pricer=pricer)


def _chat(otel: Any) -> Any:
    client_for(CHAT).chat.completions.create(**recorded(CHAT)[0])
    return otel.finished()


def _stream(otel: Any) -> Any:
    for _ in client_for(STREAM).chat.completions.create(**recorded(STREAM)[0]):
        pass
    return otel.finished()


def _assert_one_of_ours(otel: Any, spans: list[Any], cost: float) -> None:
    assert [(s.name, s.instrumentation_scope.name) for s in spans] == [
        (spans[0].name, "otel_agentmetrics")
    ], [(s.name, s.instrumentation_scope.name) for s in spans]
    attributes = spans[0].attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (12, 5)
    assert attributes["gen_ai.usage.cost"] == pytest.approx(cost, rel=1e-12)
    assert sorted(p.sum for p in otel.metric_points("gen_ai.client.token.usage")) == [5, 12]
    assert [p.count for p in otel.metric_points("gen_ai.client.operation.duration")] == [1]


def _contrib_on(otel: Any) -> Any:
    instrumentor = contrib.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    return instrumentor


def _openllmetry_on(otel: Any) -> Any:
    instrumentor = openllmetry.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    return instrumentor


THEIRS = {"contrib": _contrib_on, "openllmetry": _openllmetry_on}


@pytest.mark.parametrize("theirs_first", [True, False], ids=["theirs-first", "ours-first"])
@pytest.mark.parametrize("name", sorted(THEIRS))
def test_one_span_per_call_beside_theirs(otel, name, theirs_first, caplog):
    ours = OpenAIInstrumentor()
    turn_on_theirs = THEIRS[name]
    with caplog.at_level(logging.WARNING, logger="otel_agentmetrics"):
        if theirs_first:
            theirs = turn_on_theirs(otel)
        ours.instrument(telemetry=_priced(otel), settings=resolve())
        if not theirs_first:
            theirs = turn_on_theirs(otel)
    try:
        _assert_one_of_ours(otel, _chat(otel), CHAT_COST)
        otel.spans.clear()
        spans = _stream(otel)
        assert [s.instrumentation_scope.name for s in spans] == ["otel_agentmetrics"]
        assert spans[0].attributes["gen_ai.usage.cost"] == pytest.approx(STREAM_COST, rel=1e-12)
        warnings = [r.getMessage() for r in caplog.records if "also instruments openai" in r.getMessage()]
        assert len(warnings) <= 1  # once per process: an earlier test may have said it already
    finally:
        ours.uninstrument()
    try:
        otel.spans.clear()
        spans = _chat(otel)  # theirs is back: the patch we took off was put back on uninstrument()
        assert len(spans) == 1 and spans[0].instrumentation_scope.name != "otel_agentmetrics"
    finally:
        theirs.uninstrument()
        if name == "openllmetry":
            _remove_openllmetry_leftovers()
    otel.spans.clear()
    assert _chat(otel) == []  # and their own uninstrument() still removes it


def _remove_openllmetry_leftovers() -> None:
    """OpenLLMetry 0.62's own ``uninstrument()`` leaves its patch on ``Completions.create`` with this ``openai``
    (it does so without us too): take it off so that later tests see a plain client."""
    from otel_agentmetrics._coexist import Coexistence

    Coexistence().stand_down("openai")


def test_warning_names_theirs_and_the_switch(otel, caplog):
    from otel_agentmetrics._coexist import coexistence

    coexistence.warned.clear()
    theirs = _contrib_on(otel)
    ours = OpenAIInstrumentor()
    try:
        with caplog.at_level(logging.WARNING, logger="otel_agentmetrics"):
            ours.instrument(telemetry=_priced(otel), settings=resolve())
            ours.uninstrument()
            ours.instrument(telemetry=_priced(otel), settings=resolve())
        (message,) = [r.getMessage() for r in caplog.records if "also instruments" in r.getMessage()]
        assert message.startswith("otel-agentmetrics: opentelemetry-instrumentation-openai-v2 also instruments openai")
        assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai;" in message  # contrib's entry point is "openai"
        assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=agentmetrics_openai" in message
    finally:
        ours.uninstrument()
        theirs.uninstrument()


def _entry_point(module: str) -> Any:
    (found,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.module == module]
    return found


OURS_EP, CONTRIB_EP = "otel_agentmetrics.instrumentors.llm.openai", "opentelemetry.instrumentation.openai_v2"


@pytest.mark.parametrize("order", [(CONTRIB_EP, OURS_EP), (OURS_EP, CONTRIB_EP)], ids=["contrib-first", "ours-first"])
def test_entry_points_in_either_order(otel, order):
    """As ``opentelemetry-instrument`` does: each entry point loaded and instrumented on its own."""
    loaded = []
    for name in order:
        instrumentor = _entry_point(name).load()()
        instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
        loaded.append(instrumentor)
    shared_telemetry(resolve(), otel.tracer_provider, otel.meter_provider).pricer.load()
    try:
        _assert_one_of_ours(otel, _chat(otel), CHAT_COST)
    finally:
        for instrumentor in reversed(loaded):
            instrumentor.uninstrument()


@pytest.mark.parametrize("theirs_first", [True, False], ids=["contrib-first", "ours-first"])
def test_through_instrument(otel, theirs_first):
    import otel_agentmetrics

    if theirs_first:
        theirs = _contrib_on(otel)
    telemetry = otel_agentmetrics.instrument(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, instrumentations=["openai"]
    )
    telemetry.pricer.load()
    if not theirs_first:
        theirs = _contrib_on(otel)
    try:
        _assert_one_of_ours(otel, _chat(otel), CHAT_COST)
    finally:
        otel_agentmetrics.uninstrument()
        theirs.uninstrument()


def test_their_uninstrument_while_ours_is_active_is_final(otel):
    """Theirs removed while stood down (as ``opentelemetry-instrument``'s teardown may do in any order): ours must
    not put it back later."""
    theirs = _contrib_on(otel)
    ours = OpenAIInstrumentor()
    ours.instrument(telemetry=_priced(otel), settings=resolve())
    theirs.uninstrument()
    ours.uninstrument()
    assert _chat(otel) == []  # neither is left


LOGFIRE_APP = """
import json, sys
sys.path.insert(0, {root!r})
import logfire
from opentelemetry import trace, metrics
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentors.llm.openai import OpenAIInstrumentor
from otel_agentmetrics.pricing import Pricer
from tests.openai_kit import client_for, recorded

spans = InMemorySpanExporter()
logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(spans)])
pricer = Pricer()
pricer.load()
ours = OpenAIInstrumentor()
def turn_on_ours():
    ours.instrument(
        telemetry=Telemetry(trace.get_tracer_provider(), metrics.get_meter_provider(), pricer=pricer),
        settings=resolve(),
    )
if {ours_first!r}:
    turn_on_ours()
logfire.instrument_openai({client_arg})
if not {ours_first!r}:
    turn_on_ours()
out = {{}}
client_for("{chat}").chat.completions.create(**recorded("{chat}")[0])
out["chat"] = [(s.name, s.instrumentation_scope.name, dict(s.attributes)) for s in spans.get_finished_spans()]
spans.clear()
for _ in client_for("{stream}").chat.completions.create(**recorded("{stream}")[0]):
    pass
out["stream"] = [(s.name, s.instrumentation_scope.name, dict(s.attributes)) for s in spans.get_finished_spans()]
spans.clear()
ours.uninstrument()
client_for("{chat}").chat.completions.create(**recorded("{chat}")[0])
out["after"] = [s.instrumentation_scope.name for s in spans.get_finished_spans()]
print(json.dumps(out, default=str))
"""


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "logfire-first"])
def test_logfire_instrument_openai(ours_first):
    root = str(Path(__file__).resolve().parents[1])
    app = LOGFIRE_APP.format(root=root, ours_first=ours_first, client_arg="", chat=CHAT, stream=STREAM)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(app)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "AGENTMETRICS_RAISE_INTERNAL_ERRORS": "1", "HOME": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for key, cost in (("chat", CHAT_COST), ("stream", STREAM_COST)):
        spans = out[key]
        assert [scope for _, scope, _ in spans] == ["otel_agentmetrics"], spans
        attributes = spans[0][2]
        assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (12, 5)
        assert attributes["gen_ai.usage.cost"] == pytest.approx(cost, rel=1e-12)
    assert out["after"] and "otel_agentmetrics" not in out["after"]  # Logfire's patch is back once ours is gone
    assert "also instruments openai" in done.stderr


@pytest.mark.parametrize("theirs_first", [True, False], ids=["theirs-first", "ours-first"])
def test_openllmetry_anthropic_beside_ours(otel, theirs_first):
    """OpenLLMetry patches the same method as ours here (``Messages.create``): theirs is taken off whichever
    wraps the other."""
    from .anthropic_kit import HELLO, MODEL, cassette_client
    from .anthropic_kit import instrument as instrument_ours

    theirs = openllmetry_anthropic.AnthropicInstrumentor()

    def turn_on_theirs() -> None:
        theirs.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)

    if theirs_first:
        turn_on_theirs()
    ours = instrument_ours(otel)
    if not theirs_first:
        turn_on_theirs()
    try:
        cassette_client("test_sync_messages_create_basic").messages.create(model=MODEL, max_tokens=100, messages=HELLO)
        span = otel.only_span()
        assert span.instrumentation_scope.name == "otel_agentmetrics"
        assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (13, 5)
        assert span.attributes["gen_ai.usage.cost"] == pytest.approx(0.000114, rel=1e-9)  # Sonnet 4: $3/$15 per M
        assert sorted(p.sum for p in otel.metric_points("gen_ai.client.token.usage")) == [5, 13]
        assert [p.count for p in otel.metric_points("gen_ai.client.operation.duration")] == [1]
    finally:
        ours.uninstrument()
    try:
        otel.spans.clear()
        cassette_client("test_sync_messages_create_basic").messages.create(model=MODEL, max_tokens=100, messages=HELLO)
        assert [s.instrumentation_scope.name for s in otel.finished()] == ["opentelemetry.instrumentation.anthropic"]
    finally:
        theirs.uninstrument()
        from otel_agentmetrics._coexist import Coexistence

        Coexistence().stand_down("anthropic")  # whatever their own uninstrument() leaves, as for OpenAI above


def test_a_wrapper_from_elsewhere_is_left_alone(otel):
    """Only known GenAI instrumentations stand down: the user's own patch (an error tracker's, say) stays."""
    import openai
    import wrapt

    seen: list[str] = []

    def users_own(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append("user")
        return wrapped(*args, **kwargs)

    completions = openai.resources.chat.completions.Completions
    original = vars(completions)["create"]
    completions.create = wrapt.FunctionWrapper(original, users_own)
    ours = OpenAIInstrumentor()
    try:
        ours.instrument(telemetry=_priced(otel), settings=resolve())
        _assert_one_of_ours(otel, _chat(otel), CHAT_COST)
        assert seen == ["user"]
        ours.uninstrument()
        assert vars(completions)["create"]._self_wrapper is users_own
    finally:
        completions.create = original


LOGFIRE_ANTHROPIC_APP = """
import json, sys
sys.path.insert(0, {root!r})
import logfire
from opentelemetry import trace, metrics
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics._config import resolve
from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor
from tests.anthropic_kit import HELLO, MODEL, cassette_client, loaded_pricer

spans = InMemorySpanExporter()
logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(spans)])
ours = AnthropicInstrumentor()
def turn_on_ours():
    telemetry = Telemetry(trace.get_tracer_provider(), metrics.get_meter_provider(), pricer=loaded_pricer())
    ours.instrument(telemetry=telemetry, settings=resolve())
if {ours_first!r}:
    turn_on_ours()
logfire.instrument_anthropic()
if not {ours_first!r}:
    turn_on_ours()
cassette_client("test_sync_messages_create_basic").messages.create(model=MODEL, max_tokens=100, messages=HELLO)
print(json.dumps([(s.instrumentation_scope.name, dict(s.attributes)) for s in spans.get_finished_spans()], default=str))
"""


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "logfire-first"])
def test_logfire_instrument_anthropic(ours_first):
    root = str(Path(__file__).resolve().parents[1])
    app = LOGFIRE_ANTHROPIC_APP.format(root=root, ours_first=ours_first)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(app)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "AGENTMETRICS_RAISE_INTERNAL_ERRORS": "1", "HOME": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr
    spans = json.loads(done.stdout.strip().splitlines()[-1])
    assert [scope for scope, _ in spans] == ["otel_agentmetrics"], spans
    attributes = spans[0][1]
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (13, 5)
    assert attributes["gen_ai.usage.cost"] == pytest.approx(0.000114, rel=1e-9)  # Sonnet 4: $3/$15 per million
    assert "also instruments anthropic" in done.stderr


LAZY_APP = """
import json, sys
import openai
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Contrib
from opentelemetry.sdk.trace import TracerProvider
Contrib().instrument(tracer_provider=TracerProvider())
before = {name for name in sys.modules if name.startswith("openai.")}
import otel_agentmetrics
otel_agentmetrics.instrument(store=False)
client = openai.OpenAI(api_key="unused")
after = {name for name in sys.modules if name.startswith("openai.")}
print(json.dumps({"imported": sorted(after - before), "ours": type(client.chat.completions).create.__module__}))
"""


def test_taking_theirs_off_imports_nothing_of_the_client():
    """Looking for another instrumentation's patches must not load openai's lazy module clients (``openai.chat``
    and the like): a type check through ``isinstance`` asks each for its ``__class__``, which imported every
    resource module, seconds of CPU in ``instrument()``."""
    done = subprocess.run(
        [sys.executable, "-c", LAZY_APP],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "AGENTMETRICS_RAISE_INTERNAL_ERRORS": "1", "HOME": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [name for name in out["imported"] if name.startswith("openai.resources.beta")], out["imported"]
