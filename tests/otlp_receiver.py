"""OTLP receivers for tests: real HTTP and gRPC servers that decode with the official opentelemetry-proto messages.

``hang=True`` makes a receiver accept requests and never answer them, as a wedged collector does; ``delay`` makes
it answer each request that many seconds late, as a live but slow collector does.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Received:
    """Everything a receiver was sent, decoded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trace_requests: list[Any] = []
        self.metric_requests: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.release = threading.Event()  # set on exit: a hanging receiver lets go

    def add(self, kind: str, message: Any, headers: dict[str, str], path: str) -> None:
        with self.lock:
            (self.trace_requests if kind == "traces" else self.metric_requests).append(message)
            self.headers.append(headers)
            self.paths.append(path)

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received."""
        out = []
        for request in list(self.trace_requests):
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    out.extend((resource, span) for span in scope_spans.spans)
        return out

    def metrics(self, name: str) -> list[Any]:
        """Every metric message with this name, in arrival order."""
        out = []
        for request in list(self.metric_requests):
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    out.extend(metric for metric in scope_metrics.metrics if metric.name == name)
        return out


def attributes(key_values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        else:
            out[kv.key] = getattr(value, kind) if kind else None
    return out


@contextmanager
def http_receiver(hang: bool = False, delay: float = 0.0) -> Iterator[tuple[str, Received]]:
    """Yields (``http://127.0.0.1:PORT``, received). Paths ending in ``traces``/``metrics`` pick the message."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if hang:
                received.release.wait(30)
                return
            time.sleep(delay)
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.endswith("traces"):
                kind, message, reply = "traces", trace_service_pb2.ExportTraceServiceRequest(), b""
            else:
                kind, message, reply = "metrics", metrics_service_pb2.ExportMetricsServiceRequest(), b""
            message.ParseFromString(body)
            received.add(kind, message, {k.lower(): v for k, v in self.headers.items()}, self.path)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        received.release.set()
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_receiver(hang: bool = False, delay: float = 0.0) -> Iterator[tuple[str, Received]]:
    """Yields (``http://127.0.0.1:PORT``, received) for an insecure gRPC OTLP server."""
    import grpc

    received = Received()

    def metadata(context: Any) -> dict[str, str]:
        return {key.lower(): value for key, value in context.invocation_metadata()}

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - generated name
            if hang:
                received.release.wait(30)
                return trace_service_pb2.ExportTraceServiceResponse()
            time.sleep(delay)
            received.add("traces", request, metadata(context), "TraceService/Export")
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - generated name
            if hang:
                received.release.wait(30)
                return metrics_service_pb2.ExportMetricsServiceResponse()
            time.sleep(delay)
            received.add("metrics", request, metadata(context), "MetricsService/Export")
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        received.release.set()
        server.stop(grace=None)
