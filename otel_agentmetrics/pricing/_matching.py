"""Names: our provider names to genai-prices' provider ids, and the model names a call can be priced by.

Providers are named by the GenAI conventions (``aws.bedrock``, ``x_ai`` ...) or, for OpenAI-compatible services,
by their host (``openrouter``, ``together``, ``ollama`` ...); genai-prices has ids of its own (``aws``, ``x-ai``).
Models are priced by the response's model first (the dated snapshot that actually answered; for Azure, the model
behind the deployment name) and by the request's model when the response named none or an unknown one.
"""

from __future__ import annotations

from .. import semconv as sc

# Our provider name -> genai-prices provider id. Names not listed are passed to genai-prices as they are.
GENAI_PROVIDERS: dict[str, str] = {
    sc.PROVIDER_OPENAI: "openai",
    sc.PROVIDER_AZURE_OPENAI: "azure",
    "azure": "azure",
    "azure.ai.inference": "azure",
    sc.PROVIDER_ANTHROPIC: "anthropic",
    sc.PROVIDER_BEDROCK: "aws",
    sc.PROVIDER_GEMINI: "google",
    sc.PROVIDER_VERTEX_AI: "google",
    sc.PROVIDER_GCP_GEN_AI: "google",
    sc.PROVIDER_MISTRAL: "mistral",
    sc.PROVIDER_COHERE: "cohere",
    sc.PROVIDER_GROQ: "groq",
    sc.PROVIDER_DEEPSEEK: "deepseek",
    sc.PROVIDER_X_AI: "x-ai",
    sc.PROVIDER_PERPLEXITY: "perplexity",
    "openrouter": "openrouter",
    "together": "together",
    "together_ai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "moonshot": "moonshotai",
}

# Servers people run themselves: their models have no list price, so we never guess one from the model's name
# (an Ollama ``gpt-oss`` is not billed like OpenAI's). A price file can still give them one.
SELF_HOSTED = frozenset({"ollama", "vllm", "lmstudio", "llama.cpp", "localai", "tgi"})

_MODEL_PATH_PREFIXES = ("models/", "publishers/google/models/")
# Routing prefixes of LiteLLM-style names (``groq/llama-3.3-70b``): tried without them when the full name is unknown.
_ROUTE_PREFIXES = frozenset(
    {
        "openai", "azure", "anthropic", "bedrock", "vertex_ai", "gemini", "mistral", "cohere", "groq", "deepseek",
        "xai", "perplexity", "together_ai", "fireworks_ai", "openrouter", "ollama", "ollama_chat", "cerebras",
    }
)  # fmt: skip


def genai_provider(provider: str | None) -> str | None:
    """genai-prices' id for one of our provider names (the name itself when we know no better)."""
    if provider is None:
        return None
    name = provider.lower()
    return GENAI_PROVIDERS.get(name, name)


def provider_names(provider: str | None) -> frozenset[str] | None:
    """Every name a price file may use for this provider: ours and genai-prices' (``aws.bedrock`` and ``aws``)."""
    if provider is None:
        return None
    name = provider.lower()
    return frozenset({name, GENAI_PROVIDERS.get(name, name)})


def model_names(response_model: str | None, request_model: str | None) -> tuple[str, ...]:
    """The names to try, best first, each cleaned of wrappers the price table does not know; a name with a
    routing prefix (``openai/gpt-4o``) is also tried without it, last."""
    names: list[str] = []
    for raw in (response_model, request_model):
        if raw:
            name = clean_model(raw)
            if name and name not in names:
                names.append(name)
    for name in tuple(names):
        route, _, rest = name.partition("/")
        if rest and route.lower() in _ROUTE_PREFIXES and rest not in names:
            names.append(rest)
    return tuple(names)


def clean_model(name: str) -> str:
    """Strip what wraps a model id: Bedrock ARNs (``arn:aws:bedrock:...:inference-profile/us.anthropic...``) and
    Google's resource paths (``models/gemini-2.5-flash``). Dates, ``-latest`` and region prefixes are left to the
    table, which knows them."""
    name = name.strip()
    if name.startswith("arn:") and "/" in name:
        name = name.rsplit("/", 1)[1]
    for prefix in _MODEL_PATH_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name
