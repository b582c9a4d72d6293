"""The price index gives genai-prices' own answers without importing it, and never stands in the way when wrong."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agentmetrics.pricing import Pricer, _index
from otel_agentmetrics.record import CallRecord

# (provider, response model, request model, host, service tier): known, dated, tiered, by host, unknown, gateway.
QUESTIONS = [
    ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "api.openai.com", None),
    ("openai", None, "gpt-4o", "api.openai.com", "flex"),
    ("openai", None, "o3", None, "priority"),
    ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4-0", "api.anthropic.com", None),
    ("gcp.gemini", None, "gemini-2.5-pro", None, None),
    ("aws.bedrock", None, "us.anthropic.claude-3-7-sonnet-20250219-v1:0", None, None),
    ("openrouter", None, "openai/gpt-4o", "openrouter.ai", None),
    ("openai", None, "no-such-model-anywhere", "api.openai.com", None),
    ("ollama", None, "llama3.2", "localhost", None),
    ("groq", None, "llama-3.3-70b-versatile", "api.groq.com", None),
]


def _record(provider, response_model, request_model, host, tier) -> CallRecord:
    record = CallRecord(
        "chat", provider, request_model=request_model, server_address=host, response_model=response_model
    )
    record.input_tokens, record.output_tokens, record.cache_read_input_tokens = 300_000, 2000, 1000
    if tier:
        record.attributes["openai.request.service_tier"] = tier
    return record


def _answers(pricer: Pricer) -> list[object]:
    answers = []
    for question in QUESTIONS:
        cost = pricer.price(_record(*question))
        answers.append(None if cost is None else (cost.usd, cost.source))
    return answers


@pytest.fixture
def index_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache" / "price-index.json"
    monkeypatch.setenv("AGENTMETRICS_PRICE_INDEX", str(path))
    return path


def test_answers_from_the_index_equal_the_tables(index_file):
    table_answers = _answers(Pricer())  # no index: genai-prices answers
    assert sum(answer is not None for answer in table_answers) >= 7
    first = Pricer(index=True)
    assert _answers(first) == table_answers  # the table answers and the index is written
    assert first._table is not None
    content = json.loads(index_file.read_text())
    assert content["source"].startswith("genai-prices==") and len(content["entries"]) >= len(QUESTIONS)
    second = Pricer(index=True)
    second.start_loading()  # instrument()'s call: deferred, since the index can answer
    assert _answers(second) == table_answers
    assert second._table is None and not second._loading  # the table was never loaded
    quote = second.quote("gpt-4o-mini", "openai")
    assert quote is not None and quote.matched == "gpt-4o-mini" and quote.provider == "openai"


def test_a_model_missing_from_the_index_loads_the_table_once(index_file):
    Pricer(index=True).price(_record(*QUESTIONS[0]))
    pricer = Pricer(index=True)
    pricer.start_loading()
    assert pricer.price(_record(*QUESTIONS[0])) is not None and pricer._table is None
    cost = pricer.price(_record(*QUESTIONS[3]))  # not in the index: the deferred load runs now
    assert cost is not None and pricer._table is not None
    assert cost == Pricer().price(_record(*QUESTIONS[3]))
    assert len(json.loads(index_file.read_text())["entries"]) == 2


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"identity": 5}', b"\xff\xfe", None],
    ids=["empty", "broken", "list", "other-identity", "binary", "a-directory"],
)
def test_a_broken_index_is_only_a_miss(index_file, content):
    index_file.parent.mkdir(parents=True)
    if content is None:
        index_file.mkdir()  # cannot be read, nor replaced
    else:
        index_file.write_bytes(content)
    pricer = Pricer(index=True)
    pricer.start_loading()
    assert _answers(pricer) == _answers(Pricer())


def test_entries_of_a_wrong_shape_are_not_believed(index_file):
    Pricer(index=True).price(_record(*QUESTIONS[0]))
    content = json.loads(index_file.read_text())
    for key in content["entries"]:
        content["entries"][key] = ["openai", "gpt-4o-mini", "garbage", 0.0, None]
    index_file.write_text(json.dumps(content))
    assert _answers(Pricer(index=True))[:1] == _answers(Pricer())[:1]


def test_another_genai_prices_starts_a_new_index(index_file, monkeypatch):
    Pricer(index=True).price(_record(*QUESTIONS[0]))
    content = json.loads(index_file.read_text())
    key = next(iter(content["entries"]))
    content["entries"][key][2][0] = 1000.0  # a price this genai-prices does not have
    index_file.write_text(json.dumps(content))
    assert Pricer(index=True).price(_record(*QUESTIONS[0])).usd > 1  # believed: same identity
    identity = _index.table_identity()
    monkeypatch.setattr(_index, "table_identity", lambda: [*identity[:-1], identity[-1] + 1])  # an upgrade
    assert Pricer(index=True).price(_record(*QUESTIONS[0])) == Pricer().price(_record(*QUESTIONS[0]))


def test_a_dated_price_is_used_until_its_end_only(index_file, monkeypatch):
    Pricer(index=True).price(_record(*QUESTIONS[0]))
    content = json.loads(index_file.read_text())
    key = next(iter(content["entries"]))
    content["entries"][key][2][0] = 1000.0
    content["entries"][key][4] = 1.0  # ended in 1970
    index_file.write_text(json.dumps(content))
    assert Pricer(index=True).price(_record(*QUESTIONS[0])) == Pricer().price(_record(*QUESTIONS[0]))
    assert _index.PriceIndex.open().get("openai", "x", None, None) is _index.MISSING


def test_the_index_is_off_with_0(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENTMETRICS_PRICE_INDEX", "0")
    assert _index.index_path() is None and Pricer(index=True)._index is None
    monkeypatch.delenv("AGENTMETRICS_PRICE_INDEX")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _index.index_path() == str(tmp_path / "otel-agentmetrics" / "price-index.json")


def test_the_index_holds_a_bounded_number_of_answers(index_file, monkeypatch):
    monkeypatch.setattr(_index, "MAX_ENTRIES", 3)
    pricer = Pricer(index=True)
    for n in range(10):
        pricer.price(_record("openai", None, f"made-up-{n}", None, None))
    assert len(json.loads(index_file.read_text())["entries"]) == 3


def test_a_process_priced_from_the_index_never_imports_genai_prices(index_file):
    code = (
        "import sys\n"
        "from otel_agentmetrics.pricing import Pricer\n"
        "from otel_agentmetrics.record import CallRecord\n"
        "pricer = Pricer(index=True)\n"
        "pricer.start_loading()\n"
        "record = CallRecord('chat', 'openai', request_model='gpt-4o-mini', server_address='api.openai.com',"
        " response_model='gpt-4o-mini-2024-07-18')\n"
        "record.input_tokens, record.output_tokens = 1000, 1000\n"
        "print(pricer.price(record).usd, 'genai_prices' in sys.modules)\n"
    )
    Pricer(index=True).price(_record(*QUESTIONS[0]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # https://openai.com/api/pricing/ gpt-4o-mini: $0.15 input, $0.60 output per 1M tokens.
    assert math.isclose(float(out[0]), (1000 * 0.15 + 1000 * 0.60) / 1e6, rel_tol=1e-12)
    assert out[1] == "False"


def test_the_first_call_of_a_model_the_index_lacks_is_priced_in_a_fresh_process(index_file):
    """A process whose index holds other models defers the table's load to the first model it lacks; that call
    waits for the load like any call during start-up, and is priced: it used to go unpriced (the load had only
    started) and its model stayed unpriced for the life of the process (the answer was cached)."""
    code = (
        "from otel_agentmetrics.pricing import Pricer, PriceTableLoading\n"
        "from otel_agentmetrics.record import CallRecord\n"
        "pricer = Pricer(index=True)\n"
        "pricer.start_loading()\n"
        "for _ in range(2):\n"
        "    record = CallRecord('chat', 'openai', request_model='gpt-4', server_address='127.0.0.1',"
        " response_model='gpt-4-0613')\n"
        "    record.input_tokens, record.output_tokens = 1000, 1000\n"
        "    try:\n"
        "        cost = pricer.price(record)\n"
        "    except PriceTableLoading:\n"
        "        print('loading')\n"
        "    else:\n"
        "        print(None if cost is None else cost.usd)\n"
        "    pricer.load()\n"
    )
    Pricer(index=True).price(_record(*QUESTIONS[0]))  # an index that holds gpt-4o-mini only
    first, second = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    # https://openai.com/api/pricing/ (legacy models) gpt-4: $30 input, $60 output per 1M tokens.
    usd = pytest.approx((1000 * 30 + 1000 * 60) / 1e6, rel=1e-12)
    assert first == "loading" or float(first) == usd  # a load slower than LOAD_WAIT: that one call's cost is unknown
    assert float(second) == usd
    assert "gpt-4-0613" in index_file.read_text()  # and the answer is kept for the next process


def test_audio_and_batch_calls_are_priced_by_the_table_even_when_the_index_knows_the_model(index_file):
    """The index holds interactive per-token rates only: a call with audio tokens or a batch result would be
    priced as plain text from it. Both must get the table's price, whatever the index holds."""

    def realtime() -> CallRecord:
        record = CallRecord("chat", "openai", request_model="gpt-realtime", input_tokens=120, output_tokens=40)
        record.usage_details = {"input_audio_tokens": 20, "output_audio_tokens": 10}
        return record

    def batch() -> CallRecord:
        record = CallRecord("chat", "openai", request_model="gpt-4o-mini", input_tokens=600, output_tokens=100)
        record.processing = "batch"
        return record

    def plain(model: str) -> CallRecord:
        return CallRecord("chat", "openai", request_model=model, input_tokens=120, output_tokens=40)

    expected_audio, expected_batch = Pricer().price(realtime()), Pricer().price(batch())
    assert expected_audio is not None and expected_batch is not None
    assert expected_audio.usd == pytest.approx(0.00216, abs=1e-9)  # the figure: audio at the audio rates
    writer = Pricer(index=True)
    assert writer.price(plain("gpt-realtime")) is not None and writer.price(plain("gpt-4o-mini")) is not None
    assert len(json.loads(index_file.read_text())["entries"]) == 2  # both models are in the index now
    pricer = Pricer(index=True)
    assert pricer.price(realtime()) == expected_audio
    assert pricer.price(batch()) == expected_batch
    assert pricer.price(batch()).usd < pricer.price(plain("gpt-4o-mini")).usd * 600 / 120 * 1.01
