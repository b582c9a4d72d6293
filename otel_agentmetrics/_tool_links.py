"""Which model call asked for which tool call: tool-call id -> the model span's context.

The core notes the ids a model call returned; a tool run that later carries one of those ids
(``gen_ai.tool.call.id``) gets a span link to the model span that asked for it. Bounded, so a long-running
process keeps only recent ids.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from opentelemetry.trace import SpanContext

from . import _fork

_MAX = 4096
_ids: OrderedDict[str, SpanContext] = OrderedDict()
_lock = threading.Lock()


@_fork.on_fork_in_child
def _fresh_lock() -> None:
    global _lock
    _lock = threading.Lock()


def remember(tool_call_ids: list[str], span_context: SpanContext) -> None:
    """Note that the model call with ``span_context`` asked for these tool calls."""
    if not span_context.is_valid:
        return
    with _lock:
        for call_id in tool_call_ids:
            _ids[call_id] = span_context
            _ids.move_to_end(call_id)
        while len(_ids) > _MAX:
            _ids.popitem(last=False)


def asked_by(tool_call_id: str) -> SpanContext | None:
    """The span context of the model call that asked for this tool call, if it is still known."""
    return _ids.get(tool_call_id)
