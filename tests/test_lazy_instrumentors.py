"""``instrument()`` loads each instrumentor when its library starts to be imported (``_on_import.py``).

Each case runs in a fresh interpreter with the real libraries: what is imported when, what is patched, and that
``uninstrument()`` undoes instrumentors loaded either way and stops waiting for the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from otel_agentmetrics._coexist import client_package
from otel_agentmetrics._config import resolve
from otel_agentmetrics._installed import installed
from otel_agentmetrics._registry import LIBRARIES, available
from otel_agentmetrics._telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[1]


PRELUDE = """
import json, sys
import wrapt

def loaded():
    \"\"\"The instrumentors imported so far (``llm.openai``; not the helpers they share, ``llm._common``).\"\"\"
    prefix = "otel_agentmetrics.instrumentors."
    names = [m.removeprefix(prefix) for m in sys.modules if m.startswith(prefix) and m.count(".") == 3]
    return sorted(n for n in names if not n.split(".")[1].startswith("_"))
"""


def run_python(code: str) -> Any:
    """Runs ``code`` (after :data:`PRELUDE`) in a fresh interpreter; returns the JSON of its last line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTMETRICS_"))}
    env.update(AGENTMETRICS_STORE=os.devnull, AGENTMETRICS_PRICE_INDEX="0", AGENTMETRICS_RAISE_INTERNAL_ERRORS="1")
    command = [sys.executable, "-c", PRELUDE + textwrap.dedent(code)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_table_names_the_packages_of_every_patch(otel):
    """``_registry.LIBRARIES`` must hold, for each instrumentor, the package of every module it patches or watches:
    a package left out would be imported without the instrumentor loaded (and its calls not recorded)."""
    telemetry = Telemetry(otel.tracer_provider, otel.meter_provider)
    settings = resolve()
    found = available(installed())
    assert set(found) == set(LIBRARIES)
    for name, entry_point in found.items():
        instrumentor_cls = entry_point.load()
        modules = {module for module, _, _ in instrumentor_cls().patches(telemetry, settings)}
        modules |= set(getattr(sys.modules[instrumentor_cls.__module__], "_TRACER_MODULES", ()))  # ADK's watch
        assert modules, name
        assert {client_package(module) for module in modules} == set(LIBRARIES[name]), name


def test_nothing_loads_until_its_library_is_imported_and_uninstrument_undoes_it():
    out = run_python(
        """
        import otel_agentmetrics
        from otel_agentmetrics import _setup
        otel_agentmetrics.instrument(store=False)
        out = {"at_start": loaded(), "waiting": len(_setup._state["watch"].waiting)}
        import groq.resources.chat.completions as completions
        out["after_groq"] = loaded()
        out["patched"] = isinstance(completions.Completions.__dict__["create"], wrapt.FunctionWrapper)
        otel_agentmetrics.uninstrument()
        out["restored"] = not isinstance(completions.Completions.__dict__["create"], wrapt.FunctionWrapper)
        out["watching"] = [type(f).__name__ for f in sys.meta_path if type(f).__name__ == "Watch"]
        import anthropic._base_client  # after uninstrument(): nothing loads any more
        out["after_anthropic"] = loaded()
        print(json.dumps(out))
        """
    )
    assert out["at_start"] == []
    assert out["waiting"] == len(LIBRARIES)
    assert out["after_groq"] == ["llm.groq"]
    assert out["patched"] and out["restored"]
    assert out["watching"] == []
    assert out["after_anthropic"] == ["llm.groq"]


def test_a_library_imported_before_instrument_is_patched_at_once_and_again_after_reinstrument():
    out = run_python(
        """
        import groq.resources.chat.completions as completions
        import otel_agentmetrics
        from otel_agentmetrics import _setup
        wrapped = lambda: isinstance(completions.Completions.__dict__["create"], wrapt.FunctionWrapper)
        otel_agentmetrics.instrument(store=False)
        out = {"loaded": loaded(), "patched": wrapped(), "waiting": "groq" in _setup._state["watch"].waiting}
        otel_agentmetrics.uninstrument()
        out["restored"] = not wrapped()
        otel_agentmetrics.instrument(store=False)
        out["again"] = wrapped()
        import anthropic.resources.messages as messages  # waited for in the second session
        out["anthropic"] = isinstance(messages.Messages.__dict__["create"], wrapt.FunctionWrapper)
        otel_agentmetrics.uninstrument()
        out["anthropic_restored"] = not isinstance(messages.Messages.__dict__["create"], wrapt.FunctionWrapper)
        out["groq_restored"] = not wrapped()
        print(json.dumps(out))
        """
    )
    assert out == {
        "loaded": ["llm.groq"],
        "patched": True,
        "waiting": False,
        "restored": True,
        "again": True,
        "anthropic": True,
        "anthropic_restored": True,
        "groq_restored": True,
    }


def test_an_instrumentor_of_two_packages_loads_once_at_the_first():
    """Claude Agent SDK's instrumentor also patches ``mcp``: importing ``mcp`` loads it (with MCP's own), once."""
    out = run_python(
        """
        import otel_agentmetrics
        from otel_agentmetrics import _setup
        from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor
        calls = []
        original = AgentMetricsInstrumentor._instrument
        def counting(self, **kwargs):
            calls.append(type(self).__name__)
            return original(self, **kwargs)
        AgentMetricsInstrumentor._instrument = counting
        otel_agentmetrics.instrument(store=False)
        import mcp.client.session
        out = {"after_mcp": loaded(), "calls": sorted(calls)}
        import claude_agent_sdk
        out["after_sdk"] = loaded()
        out["calls_after_sdk"] = sorted(calls)
        out["waiting"] = [n for n in _setup._state["watch"].waiting if n in ("mcp", "claude_agent_sdk")]
        print(json.dumps(out))
        """
    )
    assert out["after_mcp"] == ["agents.claude_agent_sdk", "protocols.mcp"]
    assert out["calls"] == ["ClaudeAgentSDKInstrumentor", "MCPInstrumentor"]
    assert out["after_sdk"] == out["after_mcp"]
    assert out["calls_after_sdk"] == out["calls"]
    assert out["waiting"] == []


def test_named_instrumentations_load_at_instrument():
    out = run_python(
        """
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False, instrumentations=["groq", "anthropic"])
        print(json.dumps({"loaded": loaded(), "groq": "groq" in sys.modules}))
        """
    )
    assert out == {"loaded": ["llm.anthropic", "llm.groq"], "groq": False}


def test_a_find_spec_probe_only_loads_earlier():
    """Libraries check what is installed with ``importlib.util.find_spec``: the instrumentor loads then, and the
    library, imported later, is patched as usual."""
    out = run_python(
        """
        import importlib.util
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False)
        assert importlib.util.find_spec("groq") is not None
        out = {"loaded": loaded(), "imported": "groq" in sys.modules}
        import groq.resources.chat.completions as completions
        out["patched"] = isinstance(completions.Completions.__dict__["create"], wrapt.FunctionWrapper)
        print(json.dumps(out))
        """
    )
    assert out == {"loaded": ["llm.groq"], "imported": False, "patched": True}


@pytest.mark.parametrize("chat", ["test_chat_completion_with_content"])
def test_logfire_instrument_openai_importing_openai_after_instrument(chat):
    """``logfire.instrument_openai()`` imports ``openai`` itself, after ``instrument()``: ours loads inside that
    call and Logfire's patch is still taken off, so the call gives one span, ours."""
    out = run_python(
        f"""
        import logfire
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        spans = InMemorySpanExporter()
        logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(spans)])
        import otel_agentmetrics
        otel_agentmetrics.instrument(store=False)
        before = "openai" in sys.modules
        logfire.instrument_openai()
        from tests.openai_kit import client_for, recorded
        client_for("{chat}").chat.completions.create(**recorded("{chat}")[0])
        scopes = [s.instrumentation_scope.name for s in spans.get_finished_spans()]
        print(json.dumps({{"before": before, "scopes": scopes}}))
        """
    )
    assert out == {"before": False, "scopes": ["otel_agentmetrics"]}


def test_instrumentations_started_later_are_watched_before_any_library_is_imported():
    """An instrumentation whose own ``instrument()`` imports the client library (OpenLIT's do) loads ours inside
    that call: its return must already be watched (``_coexist``), so the waiting packages count as ours from
    ``instrument()`` on, and stop counting at ``uninstrument()``."""
    out = run_python(
        """
        from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
        import otel_agentmetrics
        from otel_agentmetrics._coexist import coexistence
        watched = lambda: isinstance(BaseInstrumentor.__dict__["instrument"], wrapt.FunctionWrapper)
        otel_agentmetrics.instrument(store=False)
        out = {"imported": "openai" in sys.modules, "watched": watched(), "openai": coexistence.owned.get("openai")}
        import openai  # loaded: the instrumentor owns it now, the waiting claim is gone
        out["after_import"] = coexistence.owned.get("openai")
        otel_agentmetrics.uninstrument()
        out["after_uninstrument"] = [watched(), coexistence.owned]
        print(json.dumps(out))
        """
    )
    assert out == {
        "imported": False,
        "watched": True,
        "openai": 1,
        "after_import": 1,
        "after_uninstrument": [False, {}],
    }
