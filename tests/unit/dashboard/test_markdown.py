"""Model cards rendered from their Markdown, with every piece of the card's text escaped."""

from __future__ import annotations

from mlfactory.dashboard.markdown import render_markdown

CARD = """# Model card: spam v3

Flags **spam** in `email`.
Second line.

## Inputs
| column | type |
|---|---|
| <script>x</script> | `text` |

- Task: classification
- Label: `<b>is_spam</b>`
"""


def test_headings_paragraphs_tables_and_lists() -> None:
    html = str(render_markdown(CARD))
    assert "<h3>Model card: spam v3</h3>" in html
    assert "<p>Flags <strong>spam</strong> in <code>email</code>. Second line.</p>" in html
    assert "<h4>Inputs</h4><div class='scroll'><table><thead><tr><th scope='col'>column</th>" in html
    assert "<td><code>text</code></td>" in html
    assert "<ul><li>Task: classification</li>" in html


def test_markup_in_a_card_is_shown_as_text() -> None:
    html = str(render_markdown(CARD))
    assert "<script>" not in html and "<b>" not in html
    assert "<td>&lt;script&gt;x&lt;/script&gt;</td>" in html
    assert "<code>&lt;b&gt;is_spam&lt;/b&gt;</code>" in html
