"""A Prometheus scrape endpoint for the OTel metrics, with a clear error when its port is taken."""

from __future__ import annotations

from opentelemetry.exporter.prometheus import PrometheusMetricReader

from .._config import ConfigError


def start_prometheus_reader(host: str, port: int) -> PrometheusMetricReader:
    """Serve ``/metrics`` on ``host:port`` and return the reader that feeds it."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port=port, addr=host)
    except OSError as error:
        raise ConfigError(
            f"Prometheus endpoint {host}:{port} cannot listen ({error.strerror or error}); "
            "pick another port with prometheus=PORT or OTEL_EXPORTER_PROMETHEUS_PORT"
        ) from None
    return PrometheusMetricReader()
