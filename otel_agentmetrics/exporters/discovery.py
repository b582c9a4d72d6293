"""File-based service discovery for per-process Prometheus endpoints (gunicorn/uvicorn workers on one host).

Workers cannot share one port, and their ports change as they restart. With ``AGENTMETRICS_PROMETHEUS_SD_DIR``
set, each process that serves ``/metrics`` writes one target file there (Prometheus's ``file_sd_configs``
format) naming its own address, and removes it when it shuts down; Prometheus watches the directory and
scrapes whichever workers are alive. A worker that dies without running exit handlers (killed, or uvicorn's
workers, which end by re-raising SIGTERM) leaves its file: the next process that writes one removes the files of
processes of this host that no longer exist, and until then the target shows as down (``up == 0``), counting
nothing.
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
    sweep(folder)
    path = folder / f"agentmetrics-{socket.gethostname()}-{os.getpid()}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps([{"targets": [target_address(host, port)], "labels": {}}]))
    os.replace(partial, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def sweep(folder: Path) -> list[Path]:
    """Remove the target files of this host's processes that are gone; returns them."""
    prefix = f"agentmetrics-{socket.gethostname()}-"
    removed = []
    for path in folder.glob(f"{prefix}*.json"):
        pid = path.name[len(prefix) : -len(".json")]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
