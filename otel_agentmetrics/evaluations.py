"""Evaluation results in the trace of the call they judge: ``record_evaluation(...)``.

An evaluation (a relevance score from a judge model, a guardrail's verdict, a user's thumbs-up) becomes the
conventions' ``gen_ai.evaluation.result`` event, emitted through the logger provider (``instrument(
logger_provider=...)``, else the global one) with the evaluated call's span as its parent, and a point of the
``agentmetrics.evaluation.score`` histogram by evaluation name, model and agent. The local store keeps it next to
the call, so the report shows scores beside dollars (``agentmetrics report``: mean score, label shares, dollars
per good answer).

The evaluated call is found from ``span=`` (a span or span context), else from ``response_id=`` among the recent
model calls of this process (the last :data:`MAX_REMEMBERED`), else it is the current span.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from . import semconv as sc
from ._guard import internal_error

if TYPE_CHECKING:
    from ._telemetry import Telemetry

from ._evaluated import GOOD_LABELS, MAX_REMEMBERED, Evaluated, evaluated, is_good, remember

__all__ = ["GOOD_LABELS", "MAX_REMEMBERED", "Evaluated", "evaluated", "is_good", "record_evaluation", "remember"]


def record_evaluation(
    name: str,
    *,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    response_id: str | None = None,
    span: Any = None,
) -> None:
    """Record the result of evaluating a model's answer, in the trace of the call that gave it.

    Args:
        name: what was evaluated, e.g. ``"relevance"`` (``gen_ai.evaluation.name``).
        score: the score, if numeric (``gen_ai.evaluation.score.value``).
        label: the verdict, if any (``gen_ai.evaluation.score.label``), e.g. ``"pass"``; keep the set small.
        explanation: why (``gen_ai.evaluation.explanation``).
        response_id: the evaluated response's id (``gen_ai.response.id``): finds the call's span among the recent
            model calls of this process when ``span`` is not given.
        span: the evaluated call's span or span context; default: found from ``response_id``, else the current
            span.

    Never raises because of our code: a failure is logged and the evaluation is lost, not your program.
    """
    try:
        _record(name, score, label, explanation, response_id, span)
    except Exception:
        internal_error("recording an evaluation")


def _record(
    name: str, score: float | None, label: str | None, explanation: str | None, response_id: str | None, span: Any
) -> None:
    from opentelemetry._logs import LogRecord

    from . import _active

    telemetry = _active.telemetry()
    found = evaluated(response_id) if response_id is not None else None
    if span is not None:
        context = span if isinstance(span, SpanContext) else span.get_span_context()
    elif found is not None:
        context = found.context
    else:
        context = trace.get_current_span().get_span_context()
    attributes: dict[str, Any] = {sc.EVALUATION_NAME: name}
    if score is not None:
        attributes[sc.EVALUATION_SCORE_VALUE] = float(score)
    if label is not None:
        attributes[sc.EVALUATION_SCORE_LABEL] = label
    if explanation is not None:
        attributes[sc.EVALUATION_EXPLANATION] = explanation
    if response_id is not None:
        attributes[sc.RESPONSE_ID] = response_id
    parent = trace.set_span_in_context(NonRecordingSpan(context)) if context.is_valid else None
    telemetry.event_logger().emit(
        LogRecord(event_name=sc.EVENT_EVALUATION_RESULT, attributes=attributes, context=parent)
    )
    if score is not None:
        labels: dict[str, Any] = {sc.EVALUATION_NAME: name}
        if found is not None:
            labels[sc.PROVIDER_NAME] = found.provider
            if found.model is not None:
                labels[sc.REQUEST_MODEL] = found.model
            if found.response_model is not None:
                labels[sc.RESPONSE_MODEL] = found.response_model
            if found.agent is not None:
                labels[sc.AGENT_NAME] = found.agent
        _histogram(telemetry).record(float(score), labels, parent)
    if context.is_valid:
        from .summary import exporter

        exporter.add_evaluation(
            {
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
                "time_ns": time.time_ns(),
                "name": name,
                "score": None if score is None else float(score),
                "label": label,
                "response_id": response_id,
            }
        )


def _histogram(telemetry: Telemetry) -> Any:
    return telemetry.instruments(_instruments)


def _instruments(telemetry: Telemetry) -> Any:
    return telemetry.meter.create_histogram(
        sc.METRIC_EVALUATION_SCORE,
        unit="{score}",
        description="Scores of evaluations of model answers, by evaluation name, model and agent.",
    )
