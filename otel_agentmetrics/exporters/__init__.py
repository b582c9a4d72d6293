"""Exporters and readers of ours that the SDK does not ship ready to use."""
