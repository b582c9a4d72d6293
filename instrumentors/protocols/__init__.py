"""Agents and tools in other processes (MCP, A2A): client and server spans, and trace context carried across the
process boundary so both sides land in one trace.
"""
