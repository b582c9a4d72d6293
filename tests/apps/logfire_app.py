"""An OpenAI program that sends its telemetry to Logfire (offline: its processors and readers, no Logfire
account), with ``logfire.configure()`` and ``otel_agentmetrics.instrument()`` in the order given as argv[1].
Prints what reached Logfire's pipeline as JSON."""

import json
import sys

import logfire
import openai
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_agentmetrics

spans, reader = InMemorySpanExporter(), InMemoryMetricReader()


def configure_logfire() -> None:
    logfire.configure(
        send_to_logfire=False,
        console=False,
        additional_span_processors=[SimpleSpanProcessor(spans)],
        metrics=logfire.MetricsOptions(additional_readers=[reader]),
    )


if sys.argv[1] == "logfire-first":
    configure_logfire()
    otel_agentmetrics.instrument()
else:
    otel_agentmetrics.instrument()
    configure_logfire()

client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}])

points: dict[str, list[dict]] = {}
for resource_metrics in reader.get_metrics_data().resource_metrics:
    for scope_metrics in resource_metrics.scope_metrics:
        for metric in scope_metrics.metrics:
            points.setdefault(metric.name, []).extend(
                {
                    "attributes": dict(point.attributes),
                    "sum": getattr(point, "sum", None),
                    "count": getattr(point, "count", None),
                }
                for point in metric.data.data_points
            )
otel_agentmetrics.uninstrument()
configure = logfire._internal.config.LogfireConfig.__dict__["configure"]
print(
    json.dumps(
        {
            "spans": [
                {"name": span.name, "scope": span.instrumentation_scope.name, "attributes": dict(span.attributes)}
                for span in spans.get_finished_spans()
            ],
            "metrics": points,
            "configure_restored": not hasattr(configure, "__wrapped__"),
        },
        default=list,
    )
)
