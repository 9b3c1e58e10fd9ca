"""Console output shared by the commands: rich tables for people, JSON for scripts.

Tables stay readable at any terminal width (80 columns included) and never cut a header or a cell with '…'.
A table that fits keeps its frame; a wider one drops the frame; then long text in the last column (a reason,
notes) moves to an indented line under its row, and free-text columns wrap between words (see :class:`Col`);
when even that does not fit, each row is printed as a block of ``header value`` lines. Commands whose headers
are abbreviated to fit print a legend under the table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.highlighter import ReprHighlighter
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

GAP = 2  # spaces between the columns of an unframed table
MIN_WRAP = 12  # the narrowest a wrapping column gets (longer words fold) before rows turn into blocks
DETAIL = 30  # free text in the last column wider than this moves under its row rather than wrap narrowly
_highlight = ReprHighlighter()


@dataclasses.dataclass(frozen=True)
class Col:
    """A table column.

    Attributes:
        header: the column's header; may wrap between its words, never inside one.
        wrap: whether cells may wrap onto several lines when the table is too wide. None (the default)
            decides from the cells: free text (cells with spaces, wider than :data:`MIN_WRAP`) wraps; ids,
            numbers, names and states never break.
        detail: long text (a reason, notes, a list of metrics) that, when the table is too wide, goes on its
            own indented line under each row instead of squeezing the other columns. None (the default)
            picks the last column when it is free text wider than :data:`DETAIL`.
    """

    header: str
    wrap: bool | None = None
    detail: bool | None = None


@dataclasses.dataclass(frozen=True)
class Section:
    """A row naming the group of rows under it (``sources.emails``), printed on a line of its own."""

    title: str


def _default(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, datetime):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, Path):
        return str(o)
    return str(o)


@contextmanager
def busy(text: str) -> Iterator[None]:
    """A spinner saying ``text`` while the block runs, where rich would draw one (a terminal or a notebook).
    Elsewhere (output piped to a file or a script) rich draws nothing, so the spinner's thread and modules are
    not started at all."""
    if console.is_jupyter or (console.is_terminal and not console.is_dumb_terminal):
        with console.status(text):
            yield
    else:
        yield


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour or wrapping), for scripts."""
    print(json.dumps(data, default=_default, indent=2))


def _width(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _share(natural: list[int], floor: list[int], budget: int) -> list[int] | None:
    """Column widths within ``budget``: every column at its natural width when they fit, else wrapping
    columns (natural > floor) narrowed, fairly, toward their floor; None when even the floors do not fit."""
    if sum(natural) <= budget:
        return list(natural)
    if sum(floor) > budget:
        return None
    widths, spare = list(floor), budget - sum(floor)
    needy = sorted((i for i, n in enumerate(natural) if n > floor[i]), key=lambda i: natural[i] - floor[i])
    for k, i in enumerate(needy):
        give = min(natural[i] - floor[i], spare // (len(needy) - k))
        widths[i] += give
        spare -= give
    return widths


def _wrapped(text: Text, width: int) -> list[Text]:
    lines = list(text.wrap(console, width, overflow="fold"))  # fold: a word longer than the column breaks
    for line in lines:
        line.rstrip()
    return lines or [Text("")]


@dataclasses.dataclass
class _Measured:
    cols: list[Col]
    cells: list[list[str]]
    natural: list[int]
    floor: list[int]
    detail: list[bool]
    sections: dict[int, str]  # a section's title, by the index of the first row under it

    @classmethod
    def of(cls, columns: Sequence[str | Col], rows: Sequence[Sequence[Any] | Section]) -> _Measured:
        cols = [c if isinstance(c, Col) else Col(c) for c in columns]
        cells: list[list[str]] = []
        sections: dict[int, str] = {}
        for r in rows:
            if isinstance(r, Section):
                sections[len(cells)] = r.title
            else:
                cells.append(["" if v is None else str(v) for v in r])
        natural: list[int] = []
        floor: list[int] = []
        detail: list[bool] = []
        for j, c in enumerate(cols):
            body = max((_width(r[j]) for r in cells), default=0)
            natural.append(max(_width(c.header), body))
            head = _word(c.header)
            wraps = c.wrap
            if wraps is None:
                wraps = body > MIN_WRAP and any(" " in r[j].strip() for r in cells)
            if wraps:
                floor.append(min(natural[-1], max(head, MIN_WRAP)))
            else:
                floor.append(max(head, body))
            auto = wraps and j == len(cols) - 1 and natural[-1] > DETAIL
            detail.append(auto if c.detail is None else c.detail)
        return cls(cols, cells, natural, floor, detail, sections)

    def framed(self, width: int) -> bool:
        """Whether every column fits at its natural width inside a frame: │ a │ b │ (a section's title
        goes in the first column)."""
        first = max([self.natural[0], *(cell_len(t) for t in self.sections.values())])
        return first + sum(self.natural[1:]) + 3 * len(self.cols) + 1 <= width

    def unframed(self, width: int) -> list[int] | None:
        """Widths of an unframed table with every column inline, when they fit at natural width."""
        return self.natural if sum(self.natural) + GAP * (len(self.cols) - 1) <= width else None


def fits(
    columns: Sequence[str | Col], rows: Sequence[Sequence[Any] | Section], width: int | None = None
) -> bool:
    """Whether these rows fit on one line each, every cell whole, at ``width`` (default: the console's)."""
    m = _Measured.of(columns, rows)
    w = console.width if width is None else width
    return m.framed(w) or m.unframed(w) is not None


def layout(
    title: str | None,
    columns: Sequence[str | Col],
    rows: Sequence[Sequence[Any] | Section],
    width: int,
    legend: Mapping[str, str] | None = None,
) -> list[RenderableType]:
    """What :func:`table` prints, for a console ``width`` characters wide."""
    m = _Measured.of(columns, rows)
    out: list[RenderableType] = []
    if title:
        out.append(Text(title, style="italic"))
    if m.framed(width):
        t = Table(box=box.HEAVY_HEAD, header_style="bold")
        first = max([m.natural[0], *(cell_len(title) for title in m.sections.values())])
        for c, w in zip(m.cols, [first, *m.natural[1:]], strict=True):
            t.add_column(Text(c.header), width=w, overflow="fold")
        for i, r in enumerate(m.cells):
            if i in m.sections:
                t.add_row(Text(m.sections[i], style="bold"), *[""] * (len(m.cols) - 1))
            t.add_row(*[_highlight(Text(v)) for v in r])
        out.append(t)
    else:
        inline = m.unframed(width)
        main = [j for j in range(len(m.cols)) if inline is not None or not m.detail[j]]
        widths = inline or _share(
            [m.natural[j] for j in main], [m.floor[j] for j in main], width - GAP * (len(main) - 1)
        )
        if widths is None or not main:
            out.extend(_blocks(m, width))
        else:
            out.append(_unframed(m, main, widths, width))
    if legend:
        out.append(Text("; ".join(f"{k}: {v}" for k, v in legend.items()), style="dim"))
    return out


def _unframed(m: _Measured, main: list[int], widths: list[int], width: int) -> Text:
    """Columns separated by spaces under a ruled header; detail columns on indented lines under each row."""
    out = Text()

    def emit(cells: list[list[Text]]) -> None:
        for k in range(max(len(c) for c in cells)):
            line = Text()
            for i, (lines, w) in enumerate(zip(cells, widths, strict=True)):
                part = lines[k] if k < len(lines) else Text("")
                line.append_text(part)
                if i < len(cells) - 1:
                    line.append(" " * (w - part.cell_len + GAP))
            line.rstrip()
            out.append_text(line)
            out.append("\n")

    emit([_wrapped(Text(m.cols[j].header, style="bold"), w) for j, w in zip(main, widths, strict=True)])
    out.append((" " * GAP).join("─" * w for w in widths) + "\n", style="dim")
    details = [j for j in range(len(m.cols)) if j not in main]
    for i, r in enumerate(m.cells):
        if i in m.sections:
            for line in _wrapped(Text(m.sections[i], style="bold"), width):
                out.append_text(line)
                out.append("\n")
        emit([_wrapped(_highlight(Text(r[j])), w) for j, w in zip(main, widths, strict=True)])
        for j in details:
            if r[j].strip():
                note = Text(f"{m.cols[j].header}: ", style="dim") + _highlight(Text(r[j]))
                lines = _wrapped(note, width - 4)
                for k, line in enumerate(lines):
                    out.append("    " if k else "  ")
                    out.append_text(line)
                    out.append("\n")
    out.rstrip()
    return out


def _blocks(m: _Measured, width: int) -> list[RenderableType]:
    """One block of ``header value`` lines per row, for tables too wide for the console."""
    key = max(_width(c.header) for c in m.cols)
    out: list[RenderableType] = [] if m.cells else [Text("(none)", style="dim")]
    for i, r in enumerate(m.cells):
        grid = Table.grid(padding=(0, GAP, 0, 0))
        grid.add_column(width=key, style="bold", overflow="fold")
        grid.add_column(max_width=max(width - key - GAP, 1), overflow="fold")
        for c, v in zip(m.cols, r, strict=True):
            grid.add_row(Text(c.header), _highlight(Text(v)))
        if i:
            out.append(Text(""))
        if i in m.sections:
            out.append(Text(m.sections[i], style="bold"))
        out.append(grid)
    return out


def table(
    title: str | None,
    columns: Sequence[str | Col],
    rows: Sequence[Sequence[Any] | Section],
    legend: Mapping[str, str] | None = None,
) -> None:
    """Print rows under headers, readable at the console's width (see the module docstring)."""
    for part in layout(title, columns, rows, console.width, legend):
        console.print(part)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return "" if v is None else str(v)
