"""Anthropic prompt caching: the first call writes a long system prompt to the cache, later calls read it.

    pip install 'otel-agentmetrics[anthropic]'
    ANTHROPIC_API_KEY=sk-ant-... python examples/anthropic_prompt_caching.py

Each call's span carries ``gen_ai.usage.input_tokens`` (all of the prompt, cached parts included, as the GenAI
conventions count it), ``gen_ai.usage.cache_creation.input_tokens`` and ``gen_ai.usage.cache_read.input_tokens``,
and a cost that prices each part at its own rate: for Claude 3.5 Haiku, $0.80 per million plain input tokens,
$1.00 written to the cache, $0.08 read from it. The cached part must be long enough: 2048 tokens for Claude 3.5
Haiku, from 1024 to 4096 for other models (Anthropic's prompt-caching docs list them); a shorter one is answered
without caching, and both cache counts are 0.
"""

import anthropic

import otel_agentmetrics

otel_agentmetrics.instrument(service_name="caching-example")
client = anthropic.Anthropic()

# A long, stable prefix (a handbook, a code base, a set of examples) is what caching is for.
HANDBOOK = "\n".join(
    f"Rule {n}: answer travel questions briefly, name the city, and say when the season is busy." for n in range(1, 161)
)
SYSTEM = [{"type": "text", "text": HANDBOOK, "cache_control": {"type": "ephemeral"}}]

for city in ("Lisbon", "Kyoto", "Oaxaca"):
    with otel_agentmetrics.agent("travel-faq") as run:
        reply = client.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=200,
            system=SYSTEM,
            messages=[{"role": "user", "content": f"Is {city} a good place to visit in spring?"}],
        )
    usage = reply.usage
    print(
        f"{city}: {usage.cache_creation_input_tokens} tokens written to the cache, "
        f"{usage.cache_read_input_tokens} read from it, {usage.input_tokens} not cached; ${run.cost:.6f}"
    )
