"""`mlfactory export` and `mlfactory import mlflow`: model versions to and from other platforms."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import console, print_json, table
from mlfactory.errors import ConfigError

JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
DEFAULT_TOLERANCE = 1e-4
import_app = typer.Typer(help="Bring models in from other platforms.", no_args_is_help=True)


class ExportFormat(StrEnum):
    MLFLOW = "mlflow"
    ONNX = "onnx"


def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME/VERSION, NAME@ALIAS or NAME (its production version)")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write it (must not hold anything)")
    ],
    format: Annotated[
        ExportFormat, typer.Option("--format", help="mlflow: a model directory; onnx: one .onnx file")
    ] = ExportFormat.MLFLOW,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help=f"onnx: the largest difference allowed from the answers (default {DEFAULT_TOLERANCE})"
        ),
    ] = None,
    json: JSON = False,
) -> None:
    """Write a model version for another runtime: an MLflow model directory (`mlflow models serve` answers
    as mlfactory does, nothing pickled) or an ONNX file checked against the model's own answers."""
    project = project_from(ctx)
    if format is ExportFormat.MLFLOW:
        if tolerance is not None:
            raise ConfigError(
                "--tolerance applies to --format onnx only (an MLflow export is the model itself)"
            )
        path = project.export_mlflow(ref, output)
        if json:
            print_json({"ref": ref, "format": format.value, "output": path})
        else:
            console.print(f"exported {ref} as an MLflow model to {path}")
            console.print(f"serve it with: mlflow models serve -m {path} --env-manager local")
        return
    report = project.export_onnx(ref, output, tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance)
    if json:
        print_json(report)
        return
    console.print(
        f"exported {report.ref} as ONNX to {report.output} ({report.size:,} bytes): on "
        f"{report.rows_checked} holdout rows it answers within {report.max_abs_diff:.2g} of the model "
        f"(tolerance {report.tolerance:g})"
    )


@import_app.command("mlflow")
def import_mlflow(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str,
        typer.Option(
            "--tracking-uri", help="MLflow's database, e.g. sqlite:///mlflow.db or postgresql://..."
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="the MLflow registered model to import")],
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="allow unpickling pickled models (it runs the code they hold); they are re-saved with skops",
        ),
    ] = False,
    json: JSON = False,
) -> None:
    """Import every version of an MLflow registered model not imported before, with its run's metrics,
    params and tags, its aliases (champion → production) and where it came from."""
    report = project_from(ctx).import_mlflow(tracking_uri, model, trust=trust)
    if json:
        print_json(report.to_dict())
        return
    if not report.imported:
        console.print(f"nothing new: MLflow versions {report.skipped} of {model} were imported before")
        return
    table(
        f"imported from MLflow {model}",
        ["MLflow version", "version", "run", "aliases"],
        [[v.mlflow_version, v.version, (v.run_id or "")[:8], ", ".join(v.aliases)] for v in report.imported],
    )
