"""Attributes that trace viewers read under their own names, where the GenAI conventions give them nothing.

* **Cost.** MLflow takes a span's cost from ``mlflow.llm.cost`` (a JSON object with ``total_cost`` in USD) and
  reprices from its own table only when that attribute is absent; OpenInference (Phoenix) defines
  ``llm.cost.total``. Our ``gen_ai.usage.cost`` means the same dollars, so with ``cost_attributes`` the model-call
  span repeats it under these names (one attribute more per call, hence opt-in).
* **An agent run's input and output.** Trace lists in Phoenix and MLflow show the root span's ``input.value`` and
  ``output.value`` (OpenInference; MLflow translates them too). With content capture on, the ``invoke_agent``
  span carries the first model call's input messages and the last one's output messages there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

INPUT_VALUE = "input.value"
INPUT_MIME_TYPE = "input.mime_type"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
JSON = "application/json"

CostAttribute = tuple[str, Callable[[float], Any]]

COST_ATTRIBUTES: dict[str, CostAttribute] = {
    "mlflow": ("mlflow.llm.cost", lambda usd: json.dumps({"total_cost": usd})),
    "openinference": ("llm.cost.total", float),
}
"""``cost_attributes`` value -> (attribute, how the USD amount is written)."""


def cost_attributes(names: tuple[str, ...]) -> tuple[CostAttribute, ...]:
    """The attributes the chosen viewers read a cost from (names are checked by the settings)."""
    return tuple(COST_ATTRIBUTES[name] for name in names)


def run_content(input_messages: Any, output_messages: Any) -> dict[str, str]:
    """``input.value``/``output.value`` of an agent run, from its model calls' captured messages."""
    out: dict[str, str] = {}
    if input_messages:
        out[INPUT_VALUE] = json.dumps(input_messages, default=str, ensure_ascii=False)
        out[INPUT_MIME_TYPE] = JSON
    if output_messages:
        out[OUTPUT_VALUE] = json.dumps(output_messages, default=str, ensure_ascii=False)
        out[OUTPUT_MIME_TYPE] = JSON
    return out
