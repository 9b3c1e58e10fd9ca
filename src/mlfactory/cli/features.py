"""`mlfactory features list|show|materialize|get|skew`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import busy, console, fmt, print_json, table
from mlfactory.errors import ValidationError

app = typer.Typer(help="Feature views: definitions, online store, skew.", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is not an ISO time; write e.g. 2026-01-31 or 2026-01-31T12:00"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@app.command("list")
def list_views(ctx: typer.Context, json: JSON = False) -> None:
    """Feature views and services the project declares."""
    repo = project_from(ctx).features.repo
    views = [v.to_dict() for v in repo.views.values()]
    if json:
        print_json({"views": views, "services": [s.to_dict() for s in repo.services.values()]})
        return
    table(
        "feature views",
        ["name", "entity", "source", "features", "ttl", "code version"],
        [
            [
                v["name"],
                v["entity"]["name"],
                v["source"],
                ", ".join(v["features"]),
                "never" if v["ttl_seconds"] is None else f"{v['ttl_seconds']:g}s",
                v["code_version"],
            ]
            for v in views
        ],
    )
    table(
        "feature services",
        ["name", "features"],
        [[s.name, ", ".join(s.feature_names)] for s in repo.services.values()],
    )


@app.command("show")
def show(ctx: typer.Context, name: str, json: JSON = False) -> None:
    """One view: its definition, recorded code versions and online state."""
    d = project_from(ctx).features.describe(name)
    if json:
        print_json(d)
        return
    console.print(
        f"[bold]{d['name']}[/] entity {d['entity']['name']} {d['entity']['join_keys']}, "
        f"source {d['source']}, timestamp {d['timestamp']}, code version {d['code_version']}"
    )
    table(
        "features",
        ["name", "type", "default"],
        [[n, t, d["defaults"].get(n)] for n, t in d["features"].items()],
    )
    table(
        "recorded versions",
        ["code version", "recorded"],
        [[v["code_version"], fmt(v["created_at"])] for v in d["versions"]],
    )
    o = d["online"]
    console.print(f"online: {o['entities']} entities, watermark {fmt(o['watermark']) or 'none'}")


@app.command("materialize")
def materialize(
    ctx: typer.Context,
    views: Annotated[list[str] | None, typer.Argument(help="views (default: all)")] = None,
    since: Annotated[str | None, typer.Option(help="start from this time instead of the watermark")] = None,
    json: JSON = False,
) -> None:
    """Write the newest values per entity into the online store, incrementally from each view's watermark."""
    project = project_from(ctx)
    with busy("materializing…"):
        results = project.features.materialize(views or None, since=_time(since), actor=project.actor)
    if json:
        print_json(results)
        return
    table(
        "materialized",
        ["view", "rows read", "entities written", "watermark", "seconds"],
        [[r.view, r.rows_read, r.entities_written, fmt(r.watermark), f"{r.seconds:.2f}"] for r in results],
    )


@app.command("get")
def get(
    ctx: typer.Context,
    view: str,
    key: Annotated[list[str], typer.Option("--key", help="JOIN_KEY=VALUE, once per join key")],
    json: JSON = False,
) -> None:
    """One entity's values from the online store."""
    keys = {}
    for item in key:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(f"--key {item!r} must look like JOIN_KEY=VALUE")
        keys[name] = value
    rec = project_from(ctx).features.get_online(view, keys)
    if rec is None:
        from mlfactory.errors import NotFoundError

        raise NotFoundError(
            f"{keys} is not in the online store for view '{view}'; run `mlfactory features "
            "materialize` or check the key"
        )
    event = datetime.fromtimestamp(rec.event_us / 1e6, tz=UTC)
    if json:
        print_json({"values": rec.values, "event_time": event})
        return
    table(
        f"{view} {keys} (as of {fmt(event)})",
        ["feature", "value"],
        [[k, fmt(v)] for k, v in rec.values.items()],
    )


@app.command("skew")
def skew(
    ctx: typer.Context,
    model: str,
    since: Annotated[str | None, typer.Option(help="only predictions from this time on")] = None,
    json: JSON = False,
) -> None:
    """Compare the vectors the server used with an offline point-in-time recomputation; store the report."""
    project = project_from(ctx)
    report = project.features.skew(model, since=_time(since), actor=project.actor)
    if json:
        print_json(report)
        return
    table(
        f"skew of {model}: {report['rows']} predictions (report {report['id']})",
        ["feature", "compared", "mismatch rate", "largest difference"],
        [
            [n, s["compared"], f"{s['mismatch_rate']:.2%}", fmt(s["max_abs_diff"])]
            for n, s in report["features"].items()
        ],
    )
