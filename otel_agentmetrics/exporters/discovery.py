"""File-based service discovery for per-process Prometheus endpoints (gunicorn/uvicorn workers on one host).

Workers cannot share one port, and their ports change as they restart. With ``AGENTMETRICS_PROMETHEUS_SD_DIR``
set, each process that serves ``/metrics`` writes one target file there (Prometheus's ``file_sd_configs``
format) naming its own address, and removes it when it shuts down; Prometheus watches the directory and
scrapes whichever workers are alive. A killed worker's file stays until it is deleted: its target shows as down
(``up == 0``) and counts nothing.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

SD_DIR_ENV = "AGENTMETRICS_PROMETHEUS_SD_DIR"


def target_address(host: str, port: int) -> str:
    """The address Prometheus should scrape: a wildcard bind is reached by the host's name."""
    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
    return f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"


def write_target(directory: str | os.PathLike[str], host: str, port: int) -> Path:
    """Write ``<dir>/agentmetrics-<hostname>-<pid>.json`` atomically (Prometheus never reads half a file)."""
    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"agentmetrics-{socket.gethostname()}-{os.getpid()}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps([{"targets": [target_address(host, port)], "labels": {}}]))
    os.replace(partial, path)
    return path
