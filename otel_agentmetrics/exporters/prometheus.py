"""A Prometheus scrape endpoint for the OTel metrics, with a clear error when its port is taken.

The OTel Prometheus exporter only converts metrics; serving them is left to ``prometheus_client``. We start the
server here, own it (so shutting the reader down frees the port) and serve the default registry, so metrics the
app already exposes with ``prometheus_client`` appear on the same page as ours.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader

from .._config import ConfigError
from .discovery import SD_DIR_ENV, write_target

logger = logging.getLogger("otel_agentmetrics")


class PrometheusEndpoint(PrometheusMetricReader):
    """The OTel Prometheus reader plus the HTTP server that serves it on ``/metrics``."""

    def __init__(self, server: Any, host: str, port: int) -> None:
        super().__init__()
        self._server = server
        self.host = host
        self.port: int = server.server_address[1] if server is not None else port
        self.target_file: Path | None = None
        """The file-based discovery file naming this endpoint (``AGENTMETRICS_PROMETHEUS_SD_DIR``), if any."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        super().shutdown(timeout_millis=timeout_millis, **kwargs)
        target, self.target_file = self.target_file, None
        if target is not None:
            target.unlink(missing_ok=True)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def start_prometheus_reader(host: str, port: int) -> PrometheusEndpoint:
    """Serve ``/metrics`` on ``host:port`` (port 0 picks a free one) and return the reader that feeds it.

    Raises:
        ConfigError: the address cannot be bound (port taken, unknown host); the message names the fix.
    """
    from prometheus_client import start_http_server

    host = host.strip("[]")
    try:
        started = start_http_server(port=port, addr=host)
    except OSError as error:
        raise ConfigError(
            f"Prometheus endpoint {host}:{port} cannot listen ({error.strerror or error}); pick a free port with "
            "prometheus=PORT or OTEL_EXPORTER_PROMETHEUS_PORT (one per worker process), or send metrics over OTLP"
        ) from None
    # prometheus_client >= 0.20 hands back the server so it can be stopped; older versions return None.
    server = started[0] if isinstance(started, tuple) else None
    reader = PrometheusEndpoint(server, host, port)
    logger.info("otel-agentmetrics: serving Prometheus metrics on %s", reader.url)
    sd_dir = os.environ.get(SD_DIR_ENV)
    if sd_dir:
        try:
            reader.target_file = write_target(sd_dir, host, reader.port)
        except OSError as error:
            reader.shutdown()
            raise ConfigError(
                f"{SD_DIR_ENV}={sd_dir!r}: cannot write the scrape target file ({error.strerror or error}); "
                "point it at a directory this process can write"
            ) from None
    return reader
