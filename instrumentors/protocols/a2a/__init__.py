"""A2A (Agent2Agent, the ``a2a-sdk`` package, 1.x), both sides: a CLIENT span per request an A2A client sends, a
SERVER span per request the SDK's request handler answers, and the W3C trace context carried in the request's
HTTP headers (gRPC metadata) so the server's span sits under the client's in one trace.

- Sending a message is an agent invocation from the caller's side (``invoke_agent {remote agent}``); on the server
  the agent executor's run is the agent run, so the model calls it makes roll up under it. See ``_client`` and
  ``_server``.
- a2a-sdk traces itself (a span per method of its transports, dispatchers, handlers, queues and task manager,
  dozens per request). While ours is on, its tracer hands out stand-ins: non-recording spans that carry the current
  context, so the SDK records nothing and its work stays under our spans. ``uninstrument()`` gives it its spans
  back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable
from typing import Any

from wrapt import register_post_import_hook

from otel_agentmetrics._agent_layer import StandInTracer
from otel_agentmetrics._config import Settings
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.instrumentation import AgentMetricsInstrumentor, Patch

from . import _client, _server

_SDK_TELEMETRY = "a2a.utils.telemetry"


class _StandDown:
    """``a2a.utils.telemetry.trace`` while ours is on: the OpenTelemetry trace API, but every tracer it hands out is a
    stand-in (the SDK asks for its tracer on each traced call)."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._tracer = StandInTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> StandInTracer:
        return self._tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


class A2AInstrumentor(AgentMetricsInstrumentor):
    """Instruments the ``a2a-sdk`` client and server."""

    dependencies: Collection[str] = ("a2a-sdk >= 1.0",)

    def patches(self, telemetry: Telemetry, settings: Settings) -> Iterable[Patch]:
        self._executors = _server.ExecutorTracing(telemetry)
        client = "a2a.client.base_client"
        yield client, "BaseClient.send_message", _client.stream_wrapper(telemetry, None)
        yield client, "BaseClient.subscribe", _client.stream_wrapper(telemetry, "SubscribeToTask")
        for attribute, method in _client.REQUESTS.items():
            yield client, f"BaseClient.{attribute}", _client.request_wrapper(telemetry, method)
        for module, handler in _server.HANDLERS:
            for attribute, method in _server.REQUESTS.items():
                yield module, f"{handler}.{attribute}", _server.request_wrapper(telemetry, self._executors, method)
            for attribute, method in _server.STREAMS.items():
                yield module, f"{handler}.{attribute}", _server.stream_wrapper(telemetry, self._executors, method)

    def _instrument(self, **kwargs: Any) -> None:
        super()._instrument(**kwargs)
        if not self._active:
            return  # a bad setting under opentelemetry-instrument: nothing patched, nothing to swap
        self._stood_down: list[tuple[Any, Any]] = []
        if _SDK_TELEMETRY in sys.modules:
            self._stand_down(sys.modules[_SDK_TELEMETRY])
        else:
            register_post_import_hook(self._on_import(self._generation), _SDK_TELEMETRY)

    def _on_import(self, generation: int) -> Callable[[Any], None]:
        def on_import(module: Any) -> None:
            # Import hooks cannot be removed: a hook left from before uninstrument() does nothing.
            if self._generation == generation and self._is_instrumented_by_opentelemetry:
                self._stand_down(module)

        return on_import

    def _stand_down(self, module: Any) -> None:
        api = module.__dict__.get("trace")
        # Tracing switched off (OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=false, or no OpenTelemetry): its no-op stays.
        if api is None or isinstance(api, _StandDown):
            return
        if not (getattr(module, "otel_installed", False) and getattr(module, "otel_enabled", False)):
            return
        module.trace = _StandDown(api)
        self._stood_down.append((module, api))

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, api in reversed(getattr(self, "_stood_down", [])):
            module.trace = api
        self._stood_down = []
        executors = getattr(self, "_executors", None)
        if executors is not None:
            executors.undo()
        super()._uninstrument(**kwargs)
