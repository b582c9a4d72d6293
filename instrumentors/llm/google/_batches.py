"""google-genai batch mode (``client.batches``): inlined results counted once, when the app gets the finished job.

A batch job created with inlined requests answers with inlined responses: ``client.batches.get(name=...)`` (and
its async twin) returns the ``BatchJob`` whose ``dest.inlined_responses`` hold each request's
``GenerateContentResponse`` once the job succeeded. That is where the app reads the results, so that is where
each is recorded: one ``generate_content`` span per response (read as an interactive call's is) under one
``batch <job name>`` span, with ``agentmetrics.processing=batch`` (genai-prices' batch price). Getting the same
finished job again counts nothing more (see ``otel_agentmetrics/_groups.py``); creating, polling an unfinished
job and listing count nothing; a job seen failed, expired or cancelled gets one error span. Results written to a
file (``dest.file_name``, downloaded with ``client.files.download``) are not read yet.
"""

from __future__ import annotations

from typing import Any

from otel_agentmetrics import semconv as sc
from otel_agentmetrics._groups import BATCH_CUSTOM_ID, batch_group, ledger, mark_batch
from otel_agentmetrics._guard import internal_error
from otel_agentmetrics._telemetry import Telemetry
from otel_agentmetrics.record import CallRecord

from . import _gemini as gemini

_ENDED_BADLY = {"JOB_STATE_FAILED": "failed", "JOB_STATE_EXPIRED": "expired", "JOB_STATE_CANCELLED": "cancelled"}


def _state(job: Any) -> str | None:
    state = getattr(job, "state", None)
    value = getattr(state, "value", state)
    return value if isinstance(value, str) else None


def _same(response: Any) -> Any:
    return response


def seen_job(telemetry: Telemetry, batches: Any, job: Any) -> None:
    name = getattr(job, "name", None)
    if not isinstance(name, str) or not name:
        return
    api_client = getattr(batches, "_api_client", None)
    provider = sc.PROVIDER_VERTEX_AI if getattr(api_client, "vertexai", False) else sc.PROVIDER_GEMINI
    state = _state(job)
    if state in _ENDED_BADLY:
        mark_batch(telemetry, provider, name, _ENDED_BADLY[state], {})
    responses = getattr(getattr(job, "dest", None), "inlined_responses", None)
    if not isinstance(responses, list) or not responses:
        return
    fresh = [(index, item) for index, item in enumerate(responses) if ledger.first(provider, name, str(index))]
    if not fresh:
        return
    model = getattr(job, "model", None)
    if isinstance(model, str) and model.startswith("models/"):
        model = model[len("models/") :]
    group = batch_group(telemetry, provider, name, {sc.BATCH_STATUS: state} if state else {})
    try:
        for index, item in fresh:
            record = CallRecord(
                sc.OP_GENERATE_CONTENT,
                provider,
                request_model=model if isinstance(model, str) else None,
                processing=sc.PROCESSING_BATCH,
            )
            key = gemini.get(getattr(item, "metadata", None), "key")
            record.attributes[BATCH_CUSTOM_ID] = key if isinstance(key, str) else str(index)
            error = getattr(item, "error", None)
            response = getattr(item, "response", None)
            if response is not None:
                gemini.read_response(record, response, _same, telemetry.capture_content)
            if error is not None or response is None:
                code = getattr(error, "code", None)
                group.record(record, str(code) if code is not None else "batch_request_error")
            else:
                group.record(record)
    finally:
        group.end(_ENDED_BADLY.get(state or ""))


def get_hook(telemetry: Telemetry) -> Any:
    def get(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        job = wrapped(*args, **kwargs)
        _after(telemetry, instance, job)
        return job

    return get


def async_get_hook(telemetry: Telemetry) -> Any:
    async def get(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        job = await wrapped(*args, **kwargs)
        _after(telemetry, instance, job)
        return job

    return get


def _after(telemetry: Telemetry, batches: Any, job: Any) -> None:
    try:
        seen_job(telemetry, batches, job)
    except Exception:
        internal_error("reading a batch job's results")
