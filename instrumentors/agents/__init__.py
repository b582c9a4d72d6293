"""Agent and tool frameworks: their runs become ``invoke_agent`` spans, their tools ``execute_tool`` spans, above
the model calls the client instrumentors record. Tool runs go through the core's ``_tool_layer``.
"""
