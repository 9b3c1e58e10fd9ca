"""The `mlfactory` command: a thin layer over the SDK. Errors map to exit codes here, in one place."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_command_name, get_group_from_info
from typer.models import CommandInfo, TyperInfo

from mlfactory.cli import audit as audit_cli
from mlfactory.cli import (
    config_cmd,
    controller,
    datasets,
    deploy,
    features,
    feedback,
    interop,
    lineage,
    models,
    runs,
    serve,
    tokens,
    ui,
    verify,
)
from mlfactory.cli import log as log_cli
from mlfactory.cli import monitor as monitor_cli
from mlfactory.cli import prune as prune_cli
from mlfactory.cli import storage as storage_cli
from mlfactory.cli.context import project_from
from mlfactory.cli.output import busy, console, err_console, fmt, print_json, table
from mlfactory.errors import GateFailedError, MLFactoryError, ValidationError

if TYPE_CHECKING:
    from typer._click.core import Command  # Typer's own click, which it does not re-export

    from mlfactory.project.batch import ScoreProgress


class _Built(MutableMapping[str, "Command"]):
    """The root's commands by name, each turned into its click command when first looked up.

    Typer turns a command's signature and type hints into click parameters (evaluating the hints, a
    pydantic adapter per parameter). Done for all fifty-odd commands up front, that was most of the CLI's
    own start-up, while a run uses one. Listing them (``--help``, the suggestions for a mistyped name)
    keeps their registration order, as Typer's own group does, and builds them all.
    """

    def __init__(self, registered: typer.Typer, root: typer.Typer) -> None:
        self._root = root
        self._entries: dict[str, CommandInfo | TyperInfo | Command] = {}
        for info in registered.registered_commands:
            assert info.callback is not None
            self._entries[info.name or get_command_name(info.callback.__name__)] = info
        for group in registered.registered_groups:
            assert isinstance(group.name, str), "every group is added with its name"
            self._entries[group.name] = group

    def __getitem__(self, name: str) -> Command:
        entry = self._entries[name]
        if isinstance(entry, CommandInfo | TyperInfo):
            entry = self._entries[name] = self._build(entry)
        return entry

    def _build(self, info: CommandInfo | TyperInfo) -> Command:
        """As Typer builds a registered command or group, with the root's settings."""
        if isinstance(info, CommandInfo):
            return get_command_from_info(
                info,
                pretty_exceptions_short=self._root.pretty_exceptions_short,
                rich_markup_mode=self._root.rich_markup_mode,
            )
        return get_group_from_info(
            info,
            pretty_exceptions_short=self._root.pretty_exceptions_short,
            rich_markup_mode=self._root.rich_markup_mode,
            suggest_commands=self._root.suggest_commands,
        )

    def __setitem__(self, name: str, command: Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries  # without building it, as a lookup would

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class _LazyRoot(TyperGroup):
    """The root group, whose subcommands are built on first use (see :class:`_Built`)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Built(commands, app)


app = typer.Typer(
    help="mlfactory: a factory for ML models that keeps itself running.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_LazyRoot,
)
# every subcommand and group; the root looks them up here by name (:class:`_LazyRoot`)
commands = typer.Typer()
commands.add_typer(runs.app, name="runs")
commands.add_typer(models.app, name="models")
commands.add_typer(datasets.app, name="datasets")
commands.add_typer(config_cmd.app, name="config")
commands.add_typer(features.app, name="features")
commands.add_typer(deploy.app, name="deploy")
commands.command("serve")(serve.serve)
commands.command("ui")(ui.ui)
commands.command("feedback")(feedback.feedback)
commands.add_typer(controller.app, name="controller")
commands.add_typer(monitor_cli.app, name="monitor")
commands.add_typer(log_cli.app, name="log")
commands.add_typer(storage_cli.app, name="storage")
commands.command("events")(controller.events)
commands.command("status")(controller.maturity)
commands.command("verify")(verify.verify)
commands.command("prune")(prune_cli.prune)
commands.command("lineage")(lineage.lineage)
commands.command("audit")(audit_cli.audit)
commands.add_typer(tokens.app, name="tokens")
commands.command("export")(interop.export)
commands.add_typer(interop.import_app, name="import")
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.callback()
def _root(
    ctx: typer.Context,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            "-p",
            help="project folder (default: nearest folder at or above the working one with mlfactory.yaml)",
        ),
    ] = None,
) -> None:
    ctx.obj = {"project": project}


@commands.command()
def init(
    directory: Path, force: Annotated[bool, typer.Option(help="write into a non-empty folder")] = False
) -> None:
    """Create a new project: mlfactory.yaml, an example source and a model section."""
    from mlfactory.quickstart import init_project

    made = init_project(directory, force=force)
    console.print(f"created project in {directory}: {', '.join(str(p) for p in made)}")
    console.print(f"next: cd {directory} && mlfactory ingest emails && mlfactory train")


@commands.command()
def quickstart(
    directory: Annotated[Path, typer.Argument(help="where to create the example project")] = Path(
        "quickstart"
    ),
    seed: Annotated[int, typer.Option(help="seed of the simulated world")] = 7,
) -> None:
    """Create the example spam-filter project and run the whole loop on it, from ingest to rollback."""
    from mlfactory.quickstart import run_quickstart

    run_quickstart(directory, seed=seed, console=console)


@commands.command()
def ingest(
    ctx: typer.Context,
    source: str,
    allow_invalid: Annotated[
        bool, typer.Option("--allow-invalid", help="exit 0 even when validation fails")
    ] = False,
    json: JSON = False,
) -> None:
    """Snapshot a declared source into a dataset version (hash, schema, profile, validation report)."""
    result = project_from(ctx).ingest(source)
    d = result.dataset
    if json:
        print_json({"dataset": d, "created": result.created})
    else:
        state = "new version" if result.created else "unchanged: same content as"
        console.print(f"{source}: {state} {d.id} (v{d.version}, {d.n_rows} rows)")
        for w in d.validation.get("warnings", []):
            console.print(f"[yellow]warning:[/] {w}")
    if not d.valid:
        message = f"dataset {d.id} failed validation:\n  " + "\n  ".join(d.reasons)
        if not allow_invalid:
            raise ValidationError(
                message + "\n(it is recorded; training on it needs --allow-invalid)", d.reasons
            )
        err_console.print(Text(message, style="yellow"))


@commands.command()
def train(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="model name (default: the only one declared)")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="dataset version (ID or SOURCE@N); default: newest")
    ] = None,
    allow_invalid: Annotated[
        bool,
        typer.Option(
            "--allow-invalid", help="train on a dataset that failed validation (recorded on the run)"
        ),
    ] = False,
    json: JSON = False,
) -> None:
    """Train, evaluate and gate the declared model, and register the result as a new version."""
    with busy("training…"):
        result = project_from(ctx).train(model, dataset=dataset, allow_invalid=allow_invalid)
    v = result.version
    if json:
        print_json(
            {
                "run": result.run_id,
                "version": v.ref,
                "status": v.status.value,
                "metrics": result.metrics,
                "gates": [g.to_json() for g in result.gates],
            }
        )
    else:
        table(
            f"{v.ref} ({v.status.value}) from run {result.run_id[:8]}",
            ["metric", "value"],
            [[k, fmt(val)] for k, val in result.metrics.items() if k != "confusion_matrix"],
        )
        if result.gates:
            table(
                "gates",
                ["rule", "result", "detail"],
                [[g.rule, "pass" if g.passed else "FAIL", g.detail] for g in result.gates],
            )
    if not result.passed:
        failed = "; ".join(g.detail for g in result.gates if not g.passed)
        raise GateFailedError(f"{v.ref} is registered as rejected: {failed}")
    if not json:
        console.print(f"promote it with: mlfactory models promote {v.name} {v.version} --alias production")


class BadRows(StrEnum):
    """What `predict` does with a row that fails its input check."""

    FAIL = "fail"
    SKIP = "skip"
    REPORT = "report"


@contextmanager
def _scoring_progress() -> Iterator[Callable[[ScoreProgress], None]]:
    """A progress bar on stderr (rows, rows per second) fed by the scoring run's callback."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # only `predict` shows one

    columns = (
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows · {task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("scoring", total=None, rate="0")

        def show(done: ScoreProgress) -> None:
            rate = f"{done.rows_per_second:,.0f}"
            bar.update(task, completed=done.rows_in, total=done.total_rows, rate=rate)

        yield show


@commands.command()
def predict(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="NAME@ALIAS, NAME/VERSION or NAME (= NAME@production)")],
    input: Annotated[
        str,
        typer.Option(
            "--input",
            help="Parquet or CSV file, a folder of them or a partitioned (key=value) folder; a path or a "
            "storage URL (s3://, gs://, az://)",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            help="where to write input + predictions: a .parquet/.csv file, or a folder of Parquet parts",
        ),
    ],
    on_bad_rows: Annotated[
        BadRows,
        typer.Option(
            help="a row failing its input check: stop (fail), drop it (skip), or drop it and write it with "
            "its reason to <output>.rejected.parquet (report)"
        ),
    ] = BadRows.REPORT,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="rows scored together; memory follows this, not the input's size")
    ] = 65_536,
) -> None:
    """Score a file, a folder or a partitioned dataset offline with a registered model version."""
    with _scoring_progress() as show:
        summary = project_from(ctx).predict_file(
            model, input, output, on_bad_rows=on_bad_rows.value, batch_rows=batch_rows, progress=show
        )
    console.print(f"scored {summary['rows']} rows with {summary['model']} → {summary['output']}")
    if summary["bad_rows"]:
        where = f": reported in {summary['rejected']}" if summary["rejected"] else " (skipped)"
        console.print(f"{summary['bad_rows']} bad row(s) not scored{where}")
    seconds = summary["seconds"]
    rate = summary["rows_in"] / seconds if seconds else 0.0
    console.print(f"{summary['rows_in']} rows read in {seconds:.1f} s ({rate:,.0f} rows/s)")


def main() -> None:
    """Entry point: run the app and turn mlfactory errors into one line and an exit code."""
    try:
        app()
    except MLFactoryError as exc:
        err_console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
