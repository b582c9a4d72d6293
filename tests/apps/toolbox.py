"""A plain function the tool test names in AGENTMETRICS_TOOLS; the module knows nothing of telemetry."""


def lookup(city: str) -> str:
    return f"sunny in {city}"
