"""What the Mistral, Cohere, Groq and Ollama instrumentors cost per call, apart from any network or parsing.

Each scenario calls a stand-in method that returns a response (or a stream of chunks) the real SDK already parsed
from its documented wire format, once bare and once through the instrumentor's own ``build``/``handle`` and the
core's wrapper: the difference is our work per call (request reading, span, metrics, price, response reading).
Rounds interleave bare and instrumented runs so drift on a busy machine hits both; the best round is kept, and
CPU time (``process_time``) is used so other processes' load counts less.

    python benchmarks/providers_overhead.py [--calls 3000] [--rounds 7]

A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from wrapt import FunctionWrapper  # noqa: E402

from otel_agentmetrics import semconv as sc  # noqa: E402
from otel_agentmetrics._telemetry import Telemetry  # noqa: E402
from otel_agentmetrics._wrapping import sync_wrapper  # noqa: E402
from otel_agentmetrics.pricing import Pricer  # noqa: E402


def scenarios(telemetry: Telemetry) -> dict[str, tuple[Callable[..., Any], Any, Any, dict[str, Any]]]:
    """name -> (bare method, build, handle, kwargs)."""
    import cohere
    import ollama
    from groq.types.chat import ChatCompletion, ChatCompletionChunk

    from otel_agentmetrics.instrumentors.llm._openai_like import ChatAPI
    from otel_agentmetrics.instrumentors.llm.cohere import _Chat
    from otel_agentmetrics.instrumentors.llm.ollama import _API
    from tests.test_cohere import CHAT
    from tests.test_groq import COMPLETION, MESSAGES, MODEL, chunk

    groq_chat = ChatAPI(telemetry, sc.PROVIDER_GROQ, lambda instance, kwargs: ("api.groq.com", 443))
    completion = ChatCompletion.model_validate(COMPLETION)
    usage = {"prompt_tokens": 12, "completion_tokens": 49, "total_tokens": 61}
    chunks = [ChatCompletionChunk.model_validate(chunk("word ")) for _ in range(49)]
    chunks.append(ChatCompletionChunk.model_validate(chunk(None, "stop", usage)))
    cohere_chat = _Chat(telemetry, stream=False)
    cohere_response = cohere.V2ChatResponse.model_validate(CHAT)
    ollama_chat = _API(telemetry, "chat")
    ollama_response = ollama.ChatResponse(
        model="llama3.2", message={"role": "assistant", "content": "Hi."}, done=True, done_reason="stop",
        prompt_eval_count=26, eval_count=3,
    )  # fmt: skip
    kwargs = {"model": MODEL, "messages": MESSAGES, "temperature": 0.2}
    return {
        "groq chat": (lambda **kw: completion, groq_chat.build, groq_chat.handle_sync, kwargs),
        "groq stream, 50 chunks": (
            lambda **kw: iter(chunks),
            groq_chat.build,
            groq_chat.handle_sync,
            {**kwargs, "stream": True},
        ),
        "cohere chat": (
            lambda **kw: cohere_response,
            cohere_chat.build,
            cohere_chat.handle,
            {**kwargs, "model": "command-a-03-2025"},
        ),
        # Unpriced (a local model), as in real use: no price lookup result, one warning logged.
        "ollama chat": (
            lambda **kw: ollama_response,
            ollama_chat.build,
            ollama_chat.handle,
            {**kwargs, "model": "llama3.2"},
        ),
    }


def per_call(fn: Callable[..., Any], kwargs: dict[str, Any], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        result = fn(**kwargs)
        if not isinstance(result, (list, dict)) and hasattr(result, "__next__"):
            for _ in result:
                pass
    return (time.process_time() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    pricer = Pricer()
    pricer.load()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[InMemoryMetricReader()]), pricer=pricer)
    for name, (bare, build, handle, kwargs) in scenarios(telemetry).items():
        wrapped = FunctionWrapper(bare, sync_wrapper(telemetry, build, handle))
        best = {"bare": float("inf"), "ours": float("inf")}
        for _ in range(options.rounds):
            best["bare"] = min(best["bare"], per_call(bare, kwargs, options.calls))
            best["ours"] = min(best["ours"], per_call(wrapped, kwargs, options.calls))
        print(f"{name:24s} ours {1e6 * (best['ours'] - best['bare']):7.1f} us CPU per call")


if __name__ == "__main__":
    main()
