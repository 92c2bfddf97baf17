"""`vedrun health`: read-only health of every host."""

from __future__ import annotations

import click

from vedrun.cli.options import emit_json, engine_of, extra_vars_option, inventory_options, json_option


@click.command()
@inventory_options
@extra_vars_option
@json_option()
@click.pass_context
def health(ctx, where, extravars, as_json):
    """Read-only health: API, PostgreSQL, Redis, containers.

    Runs playbooks/health.yml (API /health, pg_isready, redis ping, container states) and
    prints a status table. Exit 0 when every host is healthy."""
    from vedrun.display.operations import HealthLines, health_report

    lines = None if as_json else HealthLines()
    report = engine_of(ctx).operations.health(where, extravars=extravars,
                                              on_change=lines.update if lines else None)
    if as_json:
        emit_json(report.as_json())
    else:
        health_report(report, shown=lines.shown)
    ctx.exit(report.exit_code)
