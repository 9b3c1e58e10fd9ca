"""The small Markdown that model cards are written in, as HTML: headings, paragraphs, lists, tables, code
spans and bold. Every piece of text is escaped first, so a card can never bring markup of its own."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_RULE = re.compile(r"^\|?\s*:?-{3,}")  # a table's |---|---| line


def _inline(text: str) -> str:
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    return _BOLD.sub(r"<strong>\1</strong>", html)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, *rows = [ln for ln in lines if not _RULE.match(ln.strip())]
    out = ["<div class='scroll'><table><thead><tr>"]
    out += [f"<th scope='col'>{_inline(c)}</th>" for c in _cells(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _block(lines: list[str]) -> str:
    """One block of consecutive non-blank lines."""
    first = lines[0].lstrip()
    if first.startswith("#"):
        level = min(len(first) - len(first.lstrip("#")) + 2, 6)  # under the page's own h1-h3
        rest = _block(lines[1:]) if len(lines) > 1 else ""
        return f"<h{level}>{_inline(first.lstrip('#').strip())}</h{level}>{rest}"
    if all(ln.lstrip().startswith("|") for ln in lines):
        return _table(lines)
    if all(ln.lstrip().startswith(("- ", "* ")) for ln in lines):
        return "<ul>" + "".join(f"<li>{_inline(ln.lstrip()[2:])}</li>" for ln in lines) + "</ul>"
    return "<p>" + " ".join(_inline(ln.strip()) for ln in lines) + "</p>"


def render_markdown(text: str) -> Markup:
    """A card's Markdown as safe HTML (blocks split at blank lines)."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return Markup("".join(_block(b) for b in blocks if b))  # every piece of text was escaped above
