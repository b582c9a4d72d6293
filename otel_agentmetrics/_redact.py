"""Error text made safe to record: the rule for every error message and stacktrace we put on a span.

A provider's error often quotes what it was sent: a 401 body echoes the API key, a self-hosted server's 400
repeats the prompt, a transport error names the URL with its ``user:pass@`` and ``?token=``. Span statuses and
exception events travel to collectors and the local store, so before recording we

- mask credentials always: the exact values the client holds (its ``api_key``, auth headers, AWS and Google
  credential objects, read from the client when a call fails: a gateway key such as ``sk-1234`` has no known
  shape), API-key shapes (``sk-...``, ``sk-ant-...``, ``AKIA...``, ``AIza...``, ...), bearer and
  basic tokens, ``Authorization``/``api-key`` header values, ``api_key=``/``password=`` pairs, URL userinfo and
  secret query parameters (``token``, ``key``, ``api_key``, ``sig``, ...);
- with content capture off, also remove the request's content wherever the error quotes it (whole, JSON- or
  repr-escaped, or cut short), because the request is at hand when the call fails.

This runs only on the error path. ``instrument(raw_errors=True)`` / ``AGENTMETRICS_RAW_ERRORS=true`` records the
messages as raised.
"""

from __future__ import annotations

import json
import re
import threading
import types
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any
from urllib.parse import quote

from . import _fork

MASK = "[REDACTED]"
CONTENT_MASK = "[REDACTED CONTENT]"

_SECRET_NAME = r"[\w.-]*(?:token|key|secret|sig|signature|pass|passwd|password|pwd|auth|credential|session)[\w.-]*"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL userinfo: scheme://user:pass@host or scheme://token@host.
    (re.compile(r"(?<=://)[^\s/?#@\"'<>]+@"), MASK + "@"),
    # Secret query (or form) parameters: ?token=..., &api_key=..., &X-Amz-Signature=...
    (re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&#\s\"'<>]+"), r"\1" + MASK),
    # Header-like and keyword-like pairs: Authorization: Bearer x, "x-api-key": "x", api_key='x', password=x.
    (
        re.compile(
            r"(?i)((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|api_key|apikey|access_token|"
            r"secret_access_key|aws_secret_access_key|aws_session_token|client_secret|password|passwd)"
            r"([\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',}&]+"
        ),
        r"\1\2" + MASK,
    ),
    # Bearer / Basic credentials anywhere else.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # Key shapes of the providers we instrument and their neighbours.
    (
        re.compile(
            r"\b(?:sk-ant-[A-Za-z0-9_-]{8,}|sk-[A-Za-z0-9_-]{16,}|(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[0-9A-Za-z_-]{30,}"
            r"|gsk_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
            r"|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|r8_[A-Za-z0-9]{20,}|pa-[A-Za-z0-9_-]{30,})"
        ),
        MASK,
    ),
    # JSON web tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),
)


def mask_credentials(text: str) -> str:
    """``text`` with every known credential value (:func:`remember_credentials`) and every credential shape
    replaced by ``[REDACTED]``."""
    for secret in _known_spellings:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


# The exact credentials of the clients whose calls failed: masked wherever any error quotes them later (an agent
# run failing with its model call's 401 included). Bounded: the most recent ones are kept.
_MAX_KNOWN = 64
_MIN_SECRET = 6  # shorter values (a test's "x", "none") would shred messages and are no real secret
_known: OrderedDict[str, None] = OrderedDict()
_known_spellings: tuple[str, ...] = ()  # every spelling of the known values, longest first
_known_lock = threading.Lock()
_SECRET_ATTR = re.compile(r"(?i)(key|token|secret|passw|pwd|credential|auth|signature)")
_HOLDER_ATTR = re.compile(r"(?i)(client|cred|auth|signer|secur|config|option|header|session|wrapper|provider|token)")
_SECRET_HEADER = re.compile(r"(?i)(authorization|key|token|secret|signature|cookie|auth)")
_SCHEME = re.compile(r"(?i)^(?:bearer|basic|token)\s+")
_NOT_HOLDERS = (str, bytes, int, float, bool, type, types.ModuleType, types.FunctionType, types.MethodType)
_MAX_NODES = 300
_MAX_DEPTH = 4


@_fork.on_fork_in_child
def _fresh_lock_in_child() -> None:
    global _known_lock
    _known_lock = threading.Lock()


def remember_credentials(client: Any, kwargs: dict[str, Any] | None = None) -> None:
    """Remember the credential values ``client`` holds (and the call's ``api_key=``/``headers=`` arguments) so
    that :func:`mask_credentials` masks them exactly, whatever their shape. Runs on the error path only: a short,
    bounded walk of the client's attributes whose names say they hold credentials or credential holders."""
    found: list[str] = []
    with suppress(Exception):
        _walk(client, found)
    if kwargs:
        for name, value in kwargs.items():
            with suppress(Exception):
                if _SECRET_ATTR.search(name) or _HOLDER_ATTR.search(name):
                    _take(value, found, 0, [0])
    if found:
        _add_known(found)


def _add_known(values: Iterable[str]) -> None:
    global _known_spellings
    with _known_lock:
        changed = False
        for value in values:
            if value in _known:
                _known.move_to_end(value)
                continue
            _known[value] = None
            changed = True
            while len(_known) > _MAX_KNOWN:
                _known.popitem(last=False)
        if changed:
            spellings = {spelling for value in _known for spelling in (value, quote(value, safe=""), repr(value)[1:-1])}
            _known_spellings = tuple(sorted(spellings, key=len, reverse=True))


def forget_credentials() -> None:
    """Forget every remembered credential value (tests; a process that rotated its keys)."""
    global _known_spellings
    with _known_lock:
        _known.clear()
        _known_spellings = ()


def _walk(client: Any, found: list[str]) -> None:
    seen: set[int] = set()
    budget = [_MAX_NODES]
    _visit(client, found, 0, seen, budget)


def _visit(obj: Any, found: list[str], depth: int, seen: set[int], budget: list[int]) -> None:
    if depth > _MAX_DEPTH or budget[0] <= 0 or id(obj) in seen or obj is None:
        return
    if isinstance(obj, _NOT_HOLDERS):
        return
    seen.add(id(obj))
    budget[0] -= 1
    attributes = getattr(obj, "__dict__", None)
    if not isinstance(attributes, dict):
        return
    for name, value in list(attributes.items()):
        if not isinstance(name, str):
            continue
        if _SECRET_ATTR.search(name):
            _take(value, found, depth, budget)
        elif _HOLDER_ATTR.search(name) and not isinstance(value, str | bytes):
            if _is_mapping(value):
                _take_headers(value, found)
            else:
                _visit(value, found, depth + 1, seen, budget)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, dict) or (callable(getattr(value, "items", None)) and hasattr(value, "__getitem__"))


def _take_headers(headers: Any, found: list[str]) -> None:
    for name, value in list(headers.items())[:100]:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(name, str) and _SECRET_HEADER.search(name):
            _take(value, found, 0, [0])


def _take(value: Any, found: list[str], depth: int, budget: list[int]) -> None:
    """Collect a credential value: a string, a pydantic ``SecretStr``, a header mapping, or a credential object
    (``access_key``/``secret_key``/``token`` attributes)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        value = value.strip()
        bare = _SCHEME.sub("", value)
        for candidate in {value, bare}:
            if len(candidate) >= _MIN_SECRET:
                found.append(candidate)
        return
    secret = getattr(value, "get_secret_value", None)  # pydantic's SecretStr
    if callable(secret):
        _take(secret(), found, depth, budget)
        return
    if _is_mapping(value):
        _take_headers(value, found)
        return
    if value is not None and not callable(value) and depth < _MAX_DEPTH and budget[0] > 0:
        _visit(value, found, depth + 1, set(), budget)  # a credentials object: its own key/token attributes


# Request fields that name things rather than carry content: an error quoting the model name stays readable.
_NOT_CONTENT = frozenset({"model", "modelId", "model_id", "role", "type", "operation_name", "stream"})
_MIN_LENGTH = 4  # shorter strings are words like "user" or "auto"; removing them would shred the message
_PREFIX = 24  # an echo cut short still starts with the first characters of what was sent


def request_strings(args: Iterable[Any], kwargs: dict[str, Any]) -> list[str]:
    """Every string a request carries (messages, prompts, system text, JSON bodies), longest first."""
    found: set[str] = set()
    for value in args:
        if isinstance(value, str) and not any(c.isspace() for c in value):
            continue  # a positional name, such as boto3's operation name
        _collect(value, found, 0)
    for key, value in kwargs.items():
        if key not in _NOT_CONTENT:
            _collect(value, found, 0)
    return sorted(found, key=len, reverse=True)


def _collect(value: Any, found: set[str], depth: int) -> None:
    if depth > 20:
        return
    if isinstance(value, str):
        if len(value) >= _MIN_LENGTH:
            found.add(value)
            if value[:1] in "{[":  # a JSON body (Bedrock's invoke_model) is content field by field too
                with suppress(ValueError):
                    _collect(json.loads(value), found, depth + 1)
        return
    if isinstance(value, bytes | bytearray):
        _collect(bytes(value).decode("utf-8", "replace"), found, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOT_CONTENT:
                _collect(item, found, depth + 1)
        return
    if isinstance(value, list | tuple):
        for item in value:
            _collect(item, found, depth + 1)
        return
    dump = getattr(value, "model_dump", None)  # pydantic request types (google-genai's Content, ...)
    if callable(dump):
        with suppress(Exception):  # not a pydantic model after all: nothing to collect
            _collect(dump(exclude_none=True), found, depth + 1)


def _variants(text: str) -> Iterator[str]:
    """How an error message may spell ``text``: in a Python repr (openai's messages), JSON-escaped, or as is.
    Escaped spellings first: the plain one would match only up to the first escaped character."""
    seen: set[str] = set()
    for variant in (repr(text)[1:-1], json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], text):
        if variant not in seen:
            seen.add(variant)
            yield variant


def remove_content(text: str, strings: list[str]) -> str:
    """``text`` with every quotation of ``strings`` (whole, or a cut-short echo of 24+ leading characters)
    replaced by ``[REDACTED CONTENT]``."""
    spellings = [variant for original in strings for variant in _variants(original)]
    for variant in spellings:  # whole quotations first, in any spelling
        text = text.replace(variant, CONTENT_MASK)
    heads: dict[str, list[str]] = {}
    for variant in spellings:
        if len(variant) > _PREFIX:
            heads.setdefault(variant[:_PREFIX], []).append(variant)
    for head, group in heads.items():  # then echoes cut short: the longest spelling that matches wins
        out: list[str] = []
        start = 0
        while (at := text.find(head, start)) >= 0:
            out.append(text[start:at])
            out.append(CONTENT_MASK)
            start = max(_match_end(text, at, variant) for variant in group)
        out.append(text[start:])
        text = "".join(out)
    return text


def _match_end(text: str, at: int, needle: str) -> int:
    """Where the run of ``needle``'s leading characters found at ``at`` ends."""
    end, i = at, 0
    while end < len(text) and i < len(needle) and text[end] == needle[i]:
        end += 1
        i += 1
    return end


def safe_text(text: str, strings: list[str] | None) -> str:
    """The recording rule in one place: request content removed (when given), then credentials masked."""
    if strings:
        text = remove_content(text, strings)
    return mask_credentials(text)
