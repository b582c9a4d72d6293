"""The summary in a terminal: ``rich`` tables when the ``[cli]`` extra is installed, plain columns otherwise."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from . import render
from .stats import Summary

_TEXT_COLUMNS = ("message", "last message", "run", "where")
_STATUS_STYLE = {"healthy": "bold green", "degraded": "bold yellow", "unhealthy": "bold red"}


def have_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def renderable(s: Summary) -> Any:
    """A rich ``Group`` of the report's tables."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    for spec in render.tables(s):
        if spec.key == "overview":
            table = Table(title="Agent metrics", title_justify="left", show_header=False, box=box.SIMPLE_HEAD)
            table.add_column(style="bold")
            table.add_column()
            for label, value in spec.rows:
                cell = Text(value, style=_STATUS_STYLE.get(s.health.status, "")) if label == "Health" else value
                table.add_row(label, cell)
        else:
            table = Table(title=spec.title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold")
            for i, header in enumerate(spec.headers):
                table.add_column(
                    header,
                    justify="left" if i == 0 or header in _TEXT_COLUMNS else "right",
                )
            for row in spec.rows:
                style = "red" if spec.key in ("recent_errors",) or row[0] == "critical" else None
                table.add_row(*row, style=style)
        parts.append(table)
    footer = render.source_line(s)
    if s.filters:
        footer += "  filters: " + ", ".join(f"{k}={v}" for k, v in s.filters.items())
    if s.dropped_spans:
        footer += f"  ({s.dropped_spans} spans could not be written)"
    parts.append(Text(footer, style="dim"))
    return Group(*parts)


def print_summary(s: Summary, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if have_rich():
        from rich.console import Console

        Console(file=out, width=max(120, _width(out))).print(renderable(s))
    else:
        out.write(render.to_text(s))
        out.write(f"\n{render.source_line(s)}\n")


def _width(out: TextIO) -> int:
    import shutil

    return shutil.get_terminal_size((140, 40)).columns if out.isatty() else 140
