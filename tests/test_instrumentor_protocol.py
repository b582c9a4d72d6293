"""Our instrumentors keep OpenTelemetry's ``BaseInstrumentor`` protocol without importing it
(``otel_agentmetrics/instrumentation.py``): the same answers as a ``BaseInstrumentor`` subclass, side by side."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Collection, Iterable
from typing import Any

import pytest
from opentelemetry.instrumentation.dependencies import DependencyConflictError
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch
from otel_agentmetrics.instrumentors.llm.groq import GroqInstrumentor

MISSING = ("agentmetrics-no-such-package >= 1.0",)


class OursMissing(AgentMetricsInstrumentor):
    dependencies: Collection[str] = MISSING

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        return ()


class TheirsMissing(BaseInstrumentor):  # type: ignore[misc]
    def instrumentation_dependencies(self) -> Collection[str]:
        return MISSING

    def _instrument(self, **kwargs: Any) -> None:
        pass

    def _uninstrument(self, **kwargs: Any) -> None:
        pass


def test_a_base_instrumentor_for_isinstance_and_issubclass():
    assert issubclass(GroqInstrumentor, BaseInstrumentor)
    assert isinstance(GroqInstrumentor(), BaseInstrumentor)
    assert GroqInstrumentor() is GroqInstrumentor()  # one instance per class
    assert OursMissing() is not GroqInstrumentor()


def _said(caplog: Any, run: Any) -> list[tuple[str, int, str]]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="opentelemetry.instrumentation.instrumentor"):
        result = run()
    assert result is None
    said = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    return [(name, level, text.replace("TheirsMissing", "X").replace("OursMissing", "X")) for name, level, text in said]


def test_an_unmet_dependency_is_reported_as_base_instrumentor_does(caplog):
    for kwargs in ({}, {"skip_dep_check": False}):
        ours = _said(caplog, lambda kwargs=kwargs: OursMissing().instrument(**kwargs))
        theirs = _said(caplog, lambda kwargs=kwargs: TheirsMissing().instrument(**kwargs))
        assert ours == theirs and ours and ours[0][1] == logging.ERROR, ours
        assert not OursMissing().is_instrumented_by_opentelemetry
    with pytest.raises(DependencyConflictError) as ours_error:
        OursMissing().instrument(raise_exception_on_conflict=True)
    with pytest.raises(DependencyConflictError) as theirs_error:
        TheirsMissing().instrument(raise_exception_on_conflict=True)
    assert str(ours_error.value.conflict) == str(theirs_error.value.conflict)


def test_twice_and_undone_twice_warn_as_base_instrumentor_does(caplog, otel):
    for cls in (OursMissing, TheirsMissing):
        instrumentor = cls()
        assert instrumentor.instrument(skip_dep_check=True) is None
        assert instrumentor.is_instrumented_by_opentelemetry
    ours = _said(caplog, lambda: OursMissing().instrument(skip_dep_check=True))
    theirs = _said(caplog, lambda: TheirsMissing().instrument(skip_dep_check=True))
    warning = "Attempting to instrument while already instrumented"
    assert ours == theirs == [("opentelemetry.instrumentation.instrumentor", logging.WARNING, warning)]
    for cls in (OursMissing, TheirsMissing):
        assert cls().uninstrument() is None
        assert not cls().is_instrumented_by_opentelemetry
    ours = _said(caplog, lambda: OursMissing().uninstrument())
    theirs = _said(caplog, lambda: TheirsMissing().uninstrument())
    assert ours == theirs and ours[0][1] == logging.WARNING


def test_instrument_imports_neither_base_instrumentor_nor_packaging_requirements():
    """What the protocol is kept for: ``instrument()`` and an instrumented call import neither (some 20 ms of CPU).
    Once someone imports ``BaseInstrumentor``, ours are its subclasses and other instrumentations are watched."""
    code = """
    import json, sys
    import otel_agentmetrics
    otel_agentmetrics.instrument(store=False)
    import groq.resources.chat.completions
    names = ("opentelemetry.instrumentation.instrumentor", "packaging.requirements")
    out = {name: name in sys.modules for name in names}
    import wrapt
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
    from otel_agentmetrics.instrumentors.llm.groq import GroqInstrumentor
    out["isinstance"] = isinstance(GroqInstrumentor(), BaseInstrumentor)
    out["watched"] = isinstance(BaseInstrumentor.__dict__["instrument"], wrapt.FunctionWrapper)
    print(json.dumps(out))
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(AGENTMETRICS_STORE=os.devnull, AGENTMETRICS_PRICE_INDEX="0", AGENTMETRICS_RAISE_INTERNAL_ERRORS="1")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "opentelemetry.instrumentation.instrumentor": False,
        "packaging.requirements": False,
        "isinstance": True,
        "watched": True,
    }
