"""The user's price file: prices added to or replacing genai-prices', in USD per million tokens.

Read and checked once, at ``instrument()``: a mistake stops start-up with the file, the line, the key and the
reason, never fails a user's call. The format (``docs/pricing.md``)::

    [[prices]]
    provider = "openai"            # optional: any provider when left out
    model = "gpt-4o-mini"          # or model_prefix = "ft:gpt-4o" or model_regex = "my-llama-.*"
    input = 0.15                   # USD per million input tokens
    output = 0.60
    cache_read = 0.075             # optional kinds: cache_read, cache_write, per_request (USD per call)

JSON files hold the same entries: ``{"prices": [{"model": "gpt-4o-mini", "input": 0.15, ...}]}``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .._config import ConfigError
from ._rates import Rates

MATCH_KEYS = ("model", "model_prefix", "model_regex")
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
KINDS = (*TOKEN_KINDS, "per_request")
_KEYS = ("provider", *MATCH_KEYS, *KINDS)


@dataclass(frozen=True, slots=True)
class Override:
    """One entry of the price file."""

    rates: Rates
    where: str
    """``file:line`` (or ``file: prices[i]``), shown by ``agentmetrics prices``."""
    provider: str | None = None
    model: str | None = None
    prefix: str | None = None
    regex: re.Pattern[str] | None = None

    def matches_provider(self, providers: frozenset[str] | None) -> bool:
        return self.provider is None or providers is None or self.provider in providers


@dataclass(slots=True)
class Overrides:
    """The entries of one price file, indexed for lookup: exact names, then the longest prefix, then regexes in
    file order; within each, entries naming the provider come before entries for any provider."""

    path: str | None = None
    entries: list[Override] = field(default_factory=list)
    _exact: dict[str, list[Override]] = field(default_factory=dict)
    _prefixes: list[Override] = field(default_factory=list)
    _regexes: list[Override] = field(default_factory=list)

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.model is not None:
                self._exact.setdefault(entry.model, []).append(entry)
            elif entry.prefix is not None:
                self._prefixes.append(entry)
            else:
                self._regexes.append(entry)
        specific_first = _specific_first
        for group in self._exact.values():
            group.sort(key=specific_first)
        self._prefixes.sort(key=lambda e: (-len(e.prefix or ""), specific_first(e)))
        self._regexes.sort(key=specific_first)

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, providers: frozenset[str] | None, model: str) -> Override | None:
        """The entry for ``model`` of a provider known by any of ``providers`` (``None``: any provider)."""
        if not self.entries:
            return None
        name = model.lower()
        for entry in self._exact.get(name, ()):
            if entry.matches_provider(providers):
                return entry
        for entry in self._prefixes:
            if name.startswith(entry.prefix or "") and entry.matches_provider(providers):
                return entry
        for entry in self._regexes:
            if entry.regex is not None and entry.regex.fullmatch(model) and entry.matches_provider(providers):
                return entry
        return None


def _specific_first(entry: Override) -> int:
    return 0 if entry.provider is not None else 1


def load_overrides(path: str | os.PathLike[str] | None) -> Overrides:
    """Read and check a price file. Raises :class:`ConfigError` naming the file, line or key, and the reason."""
    if path is None:
        return Overrides()
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ConfigError(
            f"prices: cannot read {name}: {error.strerror or error}; set instrument(prices=...) or "
            "AGENTMETRICS_PRICES to a TOML or JSON price file"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{name}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    is_json = name.lower().endswith(".json") or (
        not name.lower().endswith(".toml") and text.lstrip().startswith(("{", "["))
    )
    data = _parse_json(name, text) if is_json else _parse_toml(name, text)
    lines = _json_entry_lines(text) if is_json else _toml_entry_lines(text)
    return Overrides(name, _entries(name, data, lines))


def _parse_json(name: str, text: str) -> Any:
    import json  # only when a price file is given: keeps the package import light

    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{name}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})") from None


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _parse_toml(name: str, text: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_POSITION.search(message)
        if found:
            reason = message[: found.start()]
            raise ConfigError(f"{name}:{found.group(1)}: not valid TOML: {reason} (column {found.group(2)})") from None
        raise ConfigError(f"{name}: not valid TOML: {message}") from None


_TABLE_HEADER = re.compile(r"^\s*\[\[\s*\"?prices\"?\s*\]\]")
_ANY_HEADER = re.compile(r"^\s*\[")
_KEY_LINE = re.compile(r"^\s*\"?([A-Za-z0-9_-]+)\"?\s*=")


def _toml_entry_lines(text: str) -> list[dict[str, int]]:
    """For each ``[[prices]]`` table, the line of its header (key ``""``) and of each of its keys, so that an
    error can point at the line to fix. Inline tables (``prices = [{...}]``) get no line numbers."""
    entries: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if _TABLE_HEADER.match(line):
            current = {"": number}
            entries.append(current)
        elif _ANY_HEADER.match(line):
            current = None
        elif current is not None and (key := _KEY_LINE.match(line)):
            current.setdefault(key.group(1), number)
    return entries


_JSON_PRICES = re.compile(r'"prices"\s*:\s*\[')
_JSON_KEY = re.compile(r'"([A-Za-z0-9_-]+)"\s*:')


def _json_entry_lines(text: str) -> list[dict[str, int]] | None:
    """The same line map for a JSON file (already known to parse): each entry of the ``prices`` array is decoded
    in place to find where it starts and ends."""
    import json

    found = _JSON_PRICES.search(text)
    if found is None:
        return None
    decoder = json.JSONDecoder()
    entries: list[dict[str, int]] = []
    position = found.end()
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return entries
        try:
            _, end = decoder.raw_decode(text, position)
        except ValueError:
            return entries
        first = text.count("\n", 0, position) + 1
        lines = {"": first}
        chunk = text[position:end]
        for key in _JSON_KEY.finditer(chunk):
            lines.setdefault(key.group(1), first + chunk.count("\n", 0, key.start()))
        entries.append(lines)
        position = end


def _entries(name: str, data: Any, lines: list[dict[str, int]] | None) -> list[Override]:
    if not isinstance(data, dict) or "prices" not in data:
        raise ConfigError(f"{name}: no 'prices' list; write [[prices]] tables (TOML) or {{\"prices\": [...]}} (JSON)")
    unknown = sorted(set(data) - {"prices"})
    if unknown:
        raise ConfigError(f"{name}: unknown top-level key {unknown[0]!r}; only 'prices' is read")
    items = data["prices"]
    if not isinstance(items, list):
        raise ConfigError(f"{name}: 'prices' must be a list of tables, got {type(items).__name__}")
    out = []
    for index, item in enumerate(items):
        entry_lines = lines[index] if lines is not None and index < len(lines) else None
        out.append(_entry(name, index, item, entry_lines))
    return out


def _entry(name: str, index: int, item: Any, lines: dict[str, int] | None) -> Override:
    def fail(key: str | None, reason: str) -> ConfigError:
        line = lines.get(key or "", lines.get("")) if lines else None
        where = f"{name}:{line}" if line is not None else name
        path = f"prices[{index}].{key}" if key else f"prices[{index}]"
        return ConfigError(f"{where}: {path}: {reason}")

    if not isinstance(item, dict):
        raise fail(None, f"must be a table of keys, got {type(item).__name__}")
    for key in item:
        if key not in _KEYS:
            raise fail(key, f"unknown key; use {', '.join(_KEYS)}")
    given = [key for key in MATCH_KEYS if key in item]
    if len(given) != 1:
        reason = "says how to match the model twice" if given else "names no model"
        raise fail(
            given[1] if len(given) > 1 else None, f"{reason}; give exactly one of model, model_prefix, model_regex"
        )
    match_key = given[0]
    pattern = item[match_key]
    if not isinstance(pattern, str) or not pattern:
        raise fail(match_key, f"must be a non-empty string, got {pattern!r}")
    provider = item.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise fail("provider", f"must be a non-empty string, got {provider!r}")
    prices: dict[str, float] = {}
    for kind in KINDS:
        if kind in item:
            value = item[kind]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                unit = "USD per call" if kind == "per_request" else "USD per million tokens"
                raise fail(kind, f"must be a number >= 0 ({unit}), got {value!r}")
            prices[kind] = float(value)
    if not prices:
        raise fail(None, f"gives no price; set at least one of {', '.join(KINDS)}")
    regex = None
    if match_key == "model_regex":
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise fail(match_key, f"is not a valid regular expression: {error}") from None
    rates = Rates(
        input=prices.get("input"),
        output=prices.get("output"),
        cache_read=prices.get("cache_read"),
        cache_write=prices.get("cache_write"),
        per_request=prices.get("per_request", 0.0),
    )
    line = lines.get("") if lines else None
    return Override(
        rates=rates,
        where=f"{name}:{line}" if line is not None else f"{name}: prices[{index}]",
        provider=provider.lower() if provider else None,
        model=pattern.lower() if match_key == "model" else None,
        prefix=pattern.lower() if match_key == "model_prefix" else None,
        regex=regex,
    )
