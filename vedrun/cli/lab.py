"""`vedrun lab up|status|down` and `vedrun drill`: the drill lab."""

from __future__ import annotations

import click

from vedrun.cli.options import emit_json, engine_of, json_option
from vedrun.errors import Exit


@click.group()
def lab():
    """The drill lab: the production stack on this machine."""


@lab.command("up")
@click.pass_context
def lab_up(ctx):
    """Build what is missing and start the stack healthy."""
    from vedrun.display.operations import lab_status
    from vedrun.display.progress import TaskLines

    click.echo("Bringing the drill lab up (the first time builds the images: a few minutes)...")
    report = engine_of(ctx).lab.up(on_change=TaskLines().update)
    click.echo(f"Lab is up ({report.changed} change{'s' if report.changed != 1 else ''}).\n")
    lab_status(report.status)
    ctx.exit(Exit.OK if report.status.healthy else Exit.FAILED)


@lab.command("status")
@click.pass_context
def lab_status(ctx):
    """Each lab container and each health check of the lab's VPS."""
    from vedrun.display.operations import lab_status as show

    status = engine_of(ctx).lab.status()
    show(status)
    ctx.exit(Exit.OK if status.healthy else Exit.FAILED)


@lab.command("down")
@click.pass_context
def lab_down(ctx):
    """Remove the lab's containers and state (images stay as a cache)."""
    from vedrun.display.progress import TaskLines

    engine_of(ctx).lab.down(on_change=TaskLines().update)
    click.echo("Lab is down: no lab container, no lab state left.")


@click.command()
@click.argument("runbook_id", metavar="RUNBOOK")
@click.option("--fault", help="One fault to drill (default: every fault drilled for the runbook).")
@json_option("Print the results as JSON.")
@click.pass_context
def drill(ctx, runbook_id, fault, as_json):
    """Drill a runbook on the lab: inject a fault, run it, verify.

    Runs the Molecule drill scenario molecule/RUNBOOK-FAULT: prepare brings the lab up and
    injects the fault, the runbook runs against inventory/lab as in an incident, verify checks
    the service from outside. Each drill is recorded as a drill incident with its timeline and
    MTTR, next to real incidents in `vedrun metrics`.
    """
    from vedrun import drill as drills
    from vedrun.display.progress import PlainView
    from vedrun.display.runs import drill_result, drills_summary

    engine = engine_of(ctx)
    runbook = engine.catalog.get(runbook_id)
    results = drills.drill_all(
        engine, runbook.id, fault, watch=lambda plan: PlainView(err=as_json),
        say=lambda text: click.echo(text, err=as_json),
        done=None if as_json else lambda result: drill_result(result, runbook))
    if as_json:
        emit_json([result.as_json() for result in results])
    else:
        drills_summary(results)
    ctx.exit(max(result.report.exit_code for result in results))
