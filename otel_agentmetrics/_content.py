"""The standard content-capture switch, read once."""

from __future__ import annotations

import enum
import os

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


class CaptureMode(enum.Enum):
    """Where prompt and completion content goes. Privacy first: ``NO_CONTENT`` unless the user opts in."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        return self in (CaptureMode.SPAN_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self in (CaptureMode.EVENT_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self is not CaptureMode.NO_CONTENT


def parse_capture_mode(value: str | bool | None) -> CaptureMode:
    """``true``/``false`` or a mode name, case-insensitive; anything else means no content (as the spec says)."""
    if value is None:
        value = os.environ.get(ENV_CAPTURE_CONTENT, "")
    if isinstance(value, bool):
        return CaptureMode.SPAN_ONLY if value else CaptureMode.NO_CONTENT
    text = value.strip().upper()
    if text == "TRUE":
        return CaptureMode.SPAN_ONLY
    try:
        return CaptureMode(text)
    except ValueError:
        return CaptureMode.NO_CONTENT
