"""Content uploaded through opentelemetry-util-genai's ``upload`` completion hook, to real fsspec stores.

The real ``anthropic`` client answers from the documented wire format; the hook (the utilities' own, loaded
from its entry point by OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK=upload) writes to a local directory or an
in-memory filesystem. The span carries the ``_ref`` attributes, the files hold the content, the content is on
the span only with capture on, and a full queue or a failing store neither slows nor breaks the call: the
losses are counted.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from otel_agentmetrics import _upload
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.exporters import delivery
from otel_agentmetrics.instrumentors.llm.anthropic import AnthropicInstrumentor

from .anthropic_kit import MODEL, loaded_pricer, message_body, wire_client

SYSTEM = "You answer in one word."
QUESTION = "Say hello."
TOOLS = [{"name": "get_time", "description": "The time now.", "input_schema": {"type": "object", "properties": {}}}]
USAGE = {"input_tokens": 20, "output_tokens": 3}
REFS = ("gen_ai.input.messages_ref", "gen_ai.output.messages_ref", "gen_ai.system_instructions_ref")


@pytest.fixture
def upload_env(monkeypatch):
    def configure(base_path: str, **extra: str) -> None:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK", "upload")
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH", base_path)
        for key, value in extra.items():
            monkeypatch.setenv(f"OTEL_INSTRUMENTATION_GENAI_UPLOAD_{key}", value)

    return configure


@pytest.fixture
def instrumented(otel):
    made: list[Any] = []

    def start(capture_content: Any = None) -> Any:
        telemetry = Telemetry(
            otel.tracer_provider, otel.meter_provider, capture_content=capture_content, pricer=loaded_pricer()
        )
        hook = _upload.load(telemetry)
        assert hook is not None
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        made.append((instrumentor, hook))
        return hook

    yield start
    for instrumentor, hook in made:
        instrumentor.uninstrument()
        _upload.shutdown(hook)


def _chat() -> Any:
    client = wire_client(message_body([{"type": "text", "text": "Hello"}], USAGE))
    return client.messages.create(
        model=MODEL, max_tokens=10, system=SYSTEM, tools=TOOLS, messages=[{"role": "user", "content": QUESTION}]
    )


def _read(ref: str) -> Any:
    with fsspec.open(ref, "r") as file:
        return json.loads(file.read())


@pytest.mark.parametrize("where", ["local", "memory"])
def test_the_span_points_at_files_that_hold_the_content(otel, upload_env, instrumented, tmp_path, where):
    base = str(tmp_path / "uploads") if where == "local" else f"memory://agentmetrics-{uuid.uuid4().hex}"
    if where == "local":
        (tmp_path / "uploads").mkdir()
    upload_env(base)
    hook = instrumented()
    message = _chat()
    assert message.content[0].text == "Hello"
    _upload.shutdown(hook)  # waits for the queued uploads
    attributes = dict(otel.only_span().attributes)
    for key in (*REFS, "gen_ai.tool.definitions_ref"):
        assert attributes[key].startswith("file://" if where == "local" else "memory://"), key
    # Content capture is off: the content is in the store, not on the span.
    assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} & set(attributes)
    assert _read(attributes["gen_ai.input.messages_ref"]) == [
        {"role": "user", "parts": [{"content": QUESTION, "type": "text"}]}
    ]
    (output,) = _read(attributes["gen_ai.output.messages_ref"])
    assert output["role"] == "assistant" and output["parts"] == [{"content": "Hello", "type": "text"}]
    assert _read(attributes["gen_ai.system_instructions_ref"]) == [{"content": SYSTEM, "type": "text"}]
    (tool,) = _read(attributes["gen_ai.tool.definitions_ref"])
    assert (tool["name"], tool["description"]) == ("get_time", "The time now.")
    assert attributes["gen_ai.usage.input_tokens"] == 20  # the call itself recorded as usual


def test_with_capture_on_the_content_is_on_the_span_too(otel, upload_env, instrumented, tmp_path):
    upload_env(str(tmp_path))
    hook = instrumented(capture_content="SPAN_ONLY")
    _chat()
    _upload.shutdown(hook)
    attributes = otel.only_span().attributes
    assert json.loads(attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == QUESTION
    assert all(key in attributes for key in REFS)


def test_jsonl_format(otel, upload_env, instrumented, tmp_path):
    upload_env(str(tmp_path), FORMAT="jsonl")
    hook = instrumented()
    _chat()
    _upload.shutdown(hook)
    ref = otel.only_span().attributes["gen_ai.input.messages_ref"]
    assert ref.endswith(".jsonl")
    with fsspec.open(ref, "r") as file:
        lines = [json.loads(line) for line in file.read().splitlines()]
    assert lines == [{"role": "user", "parts": [{"content": QUESTION, "type": "text"}], "index": 0}]


class SlowMemory(MemoryFileSystem):
    """The in-memory filesystem, one second per file written: a store slower than the calls."""

    protocol = "slowmemory"
    root_marker = "/"
    store: dict[str, Any] = {}  # noqa: RUF012 - fsspec's own class-level store, apart from memory://'s
    pseudo_dirs = [""]  # noqa: RUF012

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and "one_off_test" not in path:
            time.sleep(1.0)
        return super()._open(path, mode, *args, **kwargs)


def test_a_full_queue_drops_uploads_without_slowing_the_call(otel, upload_env, instrumented):
    fsspec.register_implementation("slowmemory", SlowMemory, clobber=True)
    upload_env(f"slowmemory://agentmetrics-{uuid.uuid4().hex}", MAX_QUEUE_SIZE="1")
    instrumented()
    started = time.perf_counter()
    message = _chat()
    elapsed = time.perf_counter() - started
    assert message.content[0].text == "Hello"
    assert elapsed < 0.9  # the slow store's first write alone takes 1 s: the call did not wait for it
    # Four files for one queue slot: the three the hook could not queue are lost, and counted.
    assert _upload.dropped() >= 3
    assert delivery.undelivered()[("content", "upload")] >= 3
    assert all(key in otel.only_span().attributes for key in REFS)


def test_a_failing_store_never_breaks_the_call(otel, upload_env, instrumented, tmp_path):
    base = tmp_path / "uploads"
    base.mkdir()
    upload_env(str(base))
    hook = instrumented()
    shutil.rmtree(base)
    base.write_text("not a directory")  # every upload now fails on the hook's thread
    before = _upload.dropped()
    message = _chat()
    assert message.content[0].text == "Hello"
    _upload.shutdown(hook)
    assert _upload.dropped() - before == 4  # inputs, outputs, system instructions, tool definitions
    assert otel.only_span().attributes["gen_ai.usage.output_tokens"] == 3


def test_without_the_variable_nothing_is_loaded(otel):
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider)
    assert _upload.load(telemetry) is None
    assert telemetry.completion_hook is None and telemetry.capture_content is False


def test_through_instrument_the_latest_names_uploads_and_evaluations_together(otel, upload_env, tmp_path, monkeypatch):
    """The public API end to end: instrument() reads the switch and the hook, record_evaluation the logger."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    import otel_agentmetrics

    from .test_anthropic_wire import CACHED_USAGE

    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    upload_env(str(tmp_path))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    otel_agentmetrics.instrument(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        logger_provider=logger_provider,
        instrumentations=["anthropic"],
        store=False,
    )
    try:
        client = wire_client(message_body([{"type": "text", "text": "Hello"}], CACHED_USAGE))
        message = client.messages.create(
            model=MODEL, max_tokens=10, system=SYSTEM, messages=[{"role": "user", "content": QUESTION}]
        )
        otel_agentmetrics.record_evaluation("helpfulness", score=1.0, response_id=message.id)
    finally:
        otel_agentmetrics.uninstrument()  # also waits for the queued uploads
    span = otel.only_span()
    attributes = dict(span.attributes)
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 500
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert "gen_ai.system" not in attributes and "gen_ai.usage.cache_creation.input_tokens" not in attributes
    assert _read(attributes["gen_ai.system_instructions_ref"]) == [{"content": SYSTEM, "type": "text"}]
    assert "gen_ai.input.messages" not in attributes
    (record,) = [item.log_record for item in logs.get_finished_logs()]
    assert (record.event_name, record.span_id) == ("gen_ai.evaluation.result", span.context.span_id)
