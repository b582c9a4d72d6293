"""One module per instrumented library. Each translates its library's shapes into a neutral ``CallRecord``;
the core (``otel_agentmetrics``) turns records into spans, metrics and cost."""
