"""`vedrun metrics`: runbook effectiveness."""

from __future__ import annotations

import click

from vedrun.cli.options import SinceType, emit_json, engine_of, json_option


@click.command()
@click.option("--since", type=SinceType(), default="30d", show_default=True,
              help="Period: 30d, 12h, 2w or a date.")
@json_option()
@click.pass_context
def metrics(ctx, since, as_json):
    """Runbook effectiveness: uses, MTTR, success rate."""
    from vedrun import metrics as effectiveness
    from vedrun.display.tables import metrics_table

    engine = engine_of(ctx)
    result = effectiveness.report(engine.incidents, engine.catalog, since)
    if as_json:
        emit_json(result.as_json())
    else:
        metrics_table(result)
