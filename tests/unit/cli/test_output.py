"""Tables stay readable at 80 columns: nothing cut with '…', no line wider than the console, headers whole."""

import io

import pytest
from rich.console import Console

from mlfactory.cli import output
from mlfactory.cli.output import Col, Section, fits, layout

REASON = "canary regressed: accuracy 0.515 vs 0.834 (drop +0.319, one-sided p=8.1e-19, allowed 0.02)"


def render(*args, width: int = 80, **kwargs) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    for part in layout(*args, width=width, **kwargs):
        console.print(part)
    return console.file.getvalue()


def readable(text: str, width: int = 80) -> list[str]:
    lines = text.splitlines()
    assert "…" not in text
    assert max(len(line) for line in lines) <= width, text
    return lines


def test_a_table_that_fits_keeps_its_frame() -> None:
    lines = readable(render("models", ["name", "versions"], [["spam", 3]]))
    assert lines[0] == "models"
    assert (
        lines[1].startswith("┏") and "┃ name ┃ versions ┃" in lines[2] and "│ spam │ 3        │" in lines[4]
    )


def test_long_text_in_the_last_column_goes_under_its_row() -> None:
    rows = [
        ["2026-12-01 05:13:55", "spam", "rollout.rolled_back", "controller:quickstart", REASON],
        ["2026-12-01 05:14:02", "spam", "rollout.idle", "controller:quickstart", ""],
    ]
    lines = readable(render("events", ["time", "model", "event", "actor", "reason"], rows))
    assert lines[1].split() == ["time", "model", "event", "actor"]
    assert lines[3].split() == rows[0][0].split() + rows[0][1:4]
    assert lines[4].startswith("  reason: canary regressed")
    assert " ".join(line.strip() for line in lines[4:6]) == f"reason: {REASON}"
    assert lines[6].split()[3:] == ["rollout.idle", "controller:quickstart"]  # no empty reason line


def test_free_text_wraps_and_ids_stay_whole() -> None:
    value = "sqlite:///" + "x" * 40 + ".db"
    key = "sources.emails.columns.sender_domain.max_null_rate"
    text = render("config", ["setting", Col("value", wrap=True), "from"], [[key, f'"{value}"', "default"]])
    lines = readable(text)
    assert key in lines[3] and "default" in lines[3]
    assert "".join(line[len(key) :].replace("default", "").strip() for line in lines[3:]) == f'"{value}"'


def test_too_many_columns_turn_into_one_block_per_row() -> None:
    headers = [f"measure {i}" for i in range(12)]
    rows = [[f"value-{r}-{i}-abcdef" for i in range(12)] for r in range(2)]
    lines = readable(render("wide", headers, rows))
    assert not fits(headers, rows, 80) and fits(headers, rows, 400)
    assert lines[1].split() == ["measure", "0", "value-0-0-abcdef"]
    assert lines[12].split() == ["measure", "11", "value-0-11-abcdef"]
    assert lines[13] == "" and lines[14].split() == ["measure", "0", "value-1-0-abcdef"]


def test_headers_wrap_between_words_and_a_legend_explains_abbreviations() -> None:
    text = render(
        "history",
        ["time", "drift share", "est."],
        [["2026-12-01 05:13", "0.214", "0.975"]],
        width=30,
        legend={"est.": "accuracy estimated from probabilities"},
    )
    lines = readable(text, 30)
    assert "drift" in lines[1] and "share" in lines[1] + lines[2]
    assert "est.: accuracy estimated from" in text.replace("\n", " ")


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_a_long_unbroken_cell_folds_without_losing_characters(width: int) -> None:
    digest = "db9bb8c737a4beed4fde2497db3d3eac08714ccd1e4472840e9a85c0f87c4d29" * 2
    lines = readable(render("artifacts", ["name", "sha256"], [["model", digest]], width=width), width)
    assert digest in "".join(line.replace("model", "").replace(" ", "") for line in lines[2:])


def test_sections_name_the_rows_under_them_in_every_layout() -> None:
    rows = [
        Section("stores"),
        ["  metadata", '"sqlite:///.mlfactory/mlfactory.db"', "file"],
        ["  online", "x", "file"],
    ]
    framed = readable(render("config", ["setting", "value", "from"], rows))
    assert "┃ setting" in framed[2] and "│ stores" in framed[4] and "│   metadata" in framed[5]
    narrow = readable(render("config", ["setting", Col("value", wrap=True), "from"], rows, width=40), 40)
    assert narrow[3] == "stores" and narrow[4].split()[0] == "metadata" and narrow[4].endswith("file")
    blocks = readable(render("config", ["setting", "value", "from"], rows, width=30), 30)
    assert blocks[1] == "stores" and blocks[2].split() == ["setting", "metadata"]


@pytest.mark.parametrize("terminal", [True, False])
def test_a_spinner_runs_only_where_rich_draws_it(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    shown = Console(file=io.StringIO(), force_terminal=terminal, force_jupyter=False)
    monkeypatch.setattr(output, "console", shown)
    with output.busy("monitoring…"):
        spinning = bool(shown._live_stack)  # rich's Live displays register here while they run
    assert spinning is terminal
