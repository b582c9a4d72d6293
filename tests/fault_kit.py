"""The fault suite's harness: one fuzzed answer, the same call made plain and instrumented, the outcomes compared.

An *outcome* is what the user's code can see: the returned value (dumped to plain data, with its class), every
streamed chunk, and the exception (type and message) if one was raised, where it was raised. The instrumented
call must give the same outcome, record exactly one span, and log no internal error of ours.

Answers are drawn *well-formed* (every field present, of its documented type, values fuzzed) or *broken* (a
field missing, null or any JSON value instead); see ``STRICT``. Hypothesis settings for CI: a fixed number of
examples (``FAULT_SUITE_EXAMPLES``, default 60 per probe), derandomized (the same examples every run), no
deadline (a loaded 2-core machine must not fail a test), no example database (nothing written next to the
tests).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agentmetrics._config import resolve
from otel_agentmetrics._telemetry import Telemetry

EXAMPLES = int(os.environ.get("FAULT_SUITE_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

STRICT = os.environ.get("FAULT_SUITE_STRICT", "1") != "0"
"""Whether a *broken* answer (a field missing, null or of the wrong type) must also log no internal error of ours.
Well-formed answers always must. On by default: a wrongly typed field costs that field only, read without
raising. ``FAULT_SUITE_STRICT=0`` relaxes it, to see the outcome comparison alone while hunting a reader's fault."""

# ---- strategies -------------------------------------------------------------------------------------------------


class Broken:
    """A value drawn where a well-formed answer has something else (or nothing: ``ABSENT``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Broken(ABSENT)" if self.value is ABSENT else f"Broken({self.value!r})"


ABSENT = object()


class Body:
    """One answer (or stream event) as bytes, and whether anything in it was broken."""

    __slots__ = ("data", "broken")

    def __init__(self, data: bytes, broken: bool) -> None:
        self.data, self.broken = data, broken

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Body({self.data!r}, broken={self.broken})"


def clean(value: Any) -> tuple[Any, bool]:
    """``value`` with its ``Broken`` markers resolved and ``ABSENT`` keys dropped; whether any was there."""
    if isinstance(value, Broken):
        inner, _ = clean(value.value)
        return inner, True
    if isinstance(value, dict):
        out, broken = {}, False
        for key, item in value.items():
            if isinstance(item, Broken) and item.value is ABSENT:
                broken = True
                continue
            out[key], was = clean(item)
            broken = broken or was
        return out, broken
    if isinstance(value, list):
        items = [clean(item) for item in value]
        return [item for item, _ in items], any(was for _, was in items)
    return value, False


def as_json(value: Any, prefix: bytes = b"", suffix: bytes = b"") -> Body:
    data, broken = clean(value)
    return Body(prefix + json.dumps(data).encode() + suffix, broken)


def joined(parts: list[Body]) -> Body:
    return Body(b"".join(part.data for part in parts), any(part.broken for part in parts))


text = st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | text
)
junk = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=5
)
"""Any JSON value: what a broken or hostile server may put where a field should be."""


class Kit:
    """Strategy builders for one kind of answer: ``Kit(broken=False)`` draws well-formed answers (every field
    present, of its documented type, values fuzzed); ``Kit(broken=True)`` also draws fields missing, null or
    holding any JSON value, each marked ``Broken``."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken
        self.junk: st.SearchStrategy[Any] = junk.map(Broken) if broken else st.nothing()
        self.count = st.integers(0, 10**6) | self.junk
        """A token count: well-formed, or (broken) any JSON value: ``[]``, ``"abc"``, 2**40 ..."""
        self.model = st.sampled_from(["gpt-4o-mini", "claude-3-5-haiku-20241022", "gemini-2.5-flash", ""]) | text
        self.model |= self.junk

    def field(self, good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """Mostly ``good``; when broken, sometimes null, sometimes anything."""
        if not self.broken:
            return good
        return st.one_of(good, good, good, st.none().map(Broken), self.junk)

    def obj(self, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        """A JSON object; when broken, any field may be absent."""
        if not self.broken:
            return st.fixed_dictionaries(fields)
        absent = st.just(Broken(ABSENT))
        return st.fixed_dictionaries({key: st.one_of(value, value, value, absent) for key, value in fields.items()})


def both(build: Callable[[Kit], st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Half the examples well-formed, half possibly broken."""
    return st.one_of(build(Kit(broken=False)), build(Kit(broken=True)))


statuses = st.sampled_from([200] * 8 + [400, 401, 404, 429, 500, 503])


def json_or_raw(bodies: st.SearchStrategy[Any]) -> st.SearchStrategy[Body]:
    """A JSON body, or (one time in eight) bytes that may not be JSON at all."""
    return st.one_of(*[bodies.map(as_json)] * 7, st.binary(max_size=40).map(lambda raw: Body(raw, False)))


# ---- outcomes ---------------------------------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def plain(value: Any) -> Any:
    """Comparable data for a result: pydantic models dumped, with their class; addresses taken out of reprs."""
    if hasattr(value, "model_dump"):
        try:
            dumped = value.model_dump(mode="json", warnings=False)
        except Exception as error:  # a model holding junk may not dump; how it fails is the outcome
            dumped = ("undumpable", type(error).__qualname__)
        return (value.__class__.__qualname__, dumped)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, str | int | float | bool | bytes) or value is None:
        return value
    return (value.__class__.__qualname__, _ADDRESS.sub("", repr(value)))


def raised(error: BaseException) -> tuple[str, str, str]:
    return ("raised", type(error).__qualname__, _ADDRESS.sub("", str(error)))


def outcome(call: Callable[[], Any], read: Callable[[Any], Any] | None = None) -> list[Any]:
    """What the user sees of ``call()``: its result (read by ``read``, e.g. iterated) or where it raised."""
    seen: list[Any] = []
    try:
        result = call()
    except Exception as error:
        return [raised(error)]
    seen.append(("returned", result.__class__.__qualname__))
    try:
        seen.append(plain(read(result) if read is not None else result))
    except Exception as error:
        seen.append(raised(error))
    return seen


def drain(stream: Any) -> list[Any]:
    """Iterate a stream, keeping each chunk as data; an exception midway is part of the outcome."""
    chunks: list[Any] = []
    try:
        for chunk in stream:
            chunks.append(plain(chunk))
    except Exception as error:
        chunks.append(raised(error))
    return chunks


# ---- the comparison ---------------------------------------------------------------------------------------------


class _Internal(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "internal error" in record.getMessage():
            self.records.append(record)


class Probe:
    """Instrumented-vs-plain comparison for one instrumentor class."""

    def __init__(self, instrumentor_cls: type[Any]) -> None:
        self.instrumentor_cls = instrumentor_cls
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.telemetry = Telemetry(self.tracer_provider, self.meter_provider)
        self.settings = resolve()
        self.tried = 0
        self.broken = 0

    @contextmanager
    def instrumented(self) -> Iterator[None]:
        instrumentor = self.instrumentor_cls()
        instrumentor.instrument(telemetry=self.telemetry, settings=self.settings)
        try:
            yield
        finally:
            instrumentor.uninstrument()

    def check(self, body: Body, call: Callable[[], Any], read: Callable[[Any], Any] | None = None) -> list[Any]:
        """Run ``call`` plain, then instrumented; assert the same outcome and one span, and no internal error
        unless ``body`` is broken and the suite is not strict."""
        self.tried += 1
        self.broken += body.broken
        expected = outcome(call, read)
        self.spans.clear()
        handler = _Internal()
        logger = logging.getLogger("otel_agentmetrics")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            with self.instrumented():
                got = outcome(call, read)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        assert got == expected
        if STRICT or not body.broken:
            assert [r.getMessage() for r in handler.records] == []
        spans = self.spans.get_finished_spans()
        assert len(spans) == 1, [span.name for span in spans]
        return got

    def close(self) -> None:
        """Shut the providers; print what was tried (``pytest -s`` shows the counts for the issue's note)."""
        print(f"\n{self.instrumentor_cls.__name__}: {self.tried} answers tried, {self.broken} of them broken")
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@contextmanager
def internal_errors_logged() -> Iterator[None]:
    """Our guard logs internal errors instead of raising them (the tests' default), as in production: the suite
    asserts on the log, and a raise inside the guard would change what the user sees."""
    before = os.environ.get("AGENTMETRICS_RAISE_INTERNAL_ERRORS")
    os.environ["AGENTMETRICS_RAISE_INTERNAL_ERRORS"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AGENTMETRICS_RAISE_INTERNAL_ERRORS", None)
        else:
            os.environ["AGENTMETRICS_RAISE_INTERNAL_ERRORS"] = before


class Replies:
    """What the fake server answers next: set per example, read by the transport."""

    def __init__(self) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self.body = b""

    def set(self, status: int, body: Body, **headers: str) -> None:
        self.status, self.body, self.headers = status, body.data, headers
