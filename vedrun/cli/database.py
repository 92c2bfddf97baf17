"""`vedrun backup`, `vedrun backups`, `vedrun restore`: the database's verified backups."""

from __future__ import annotations

import click

from vedrun.cli import terminal
from vedrun.cli.options import emit_json, engine_of, inventory_options, json_option


@click.command()
@inventory_options
@json_option()
@click.option("--fetch", is_flag=True, help="Also copy the backup to this machine (<home>/backups/HOST/).")
@click.option("--prune", is_flag=True, help="Also remove the backups beyond the retention (production "
                                            "never does it unasked; other environments always do).")
@click.pass_context
def backup(ctx, where, as_json, fetch, prune):
    """Take a verified backup of the database on each host.

    Runs playbooks/backup-database.yml: pg_dump in custom format inside the PostgreSQL
    container, row counts of every table in the same snapshot, SHA-256 and pg_restore --list;
    only then is the manifest written that makes it a verified backup. Retention removes the
    oldest beyond vedrun_stack.postgres.backup_keep (in production only with --prune; it says
    what it would remove), never the newest. Exit 0 when every host has a new verified backup."""
    from vedrun.display.operations import backup_report

    report = engine_of(ctx).operations.backup(where, fetch=fetch, prune=prune)
    if as_json:
        emit_json(report.as_json())
    else:
        backup_report(report)
    ctx.exit(report.exit_code)


@click.command()
@inventory_options
@json_option()
@click.pass_context
def backups(ctx, where, as_json):
    """List the verified backups on each host, newest first."""
    from vedrun.display.operations import listing_report

    report = engine_of(ctx).operations.list_backups(where)
    if as_json:
        emit_json(report.as_json())
    else:
        listing_report(report)
    ctx.exit(report.exit_code)


@click.command()
@inventory_options
@json_option()
@click.option("--backup", "backup_name", default="latest", show_default=True,
              help="Backup to restore, by name (see `vedrun backups`), or latest.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask: for automation that has decided already.")
@click.option("--incident", "incident_id", metavar="ID", help="Note the restore in this incident's timeline.")
@click.pass_context
def restore(ctx, where, as_json, backup_name, yes, incident_id):
    """Replace the database with a verified backup (asks first).

    First a dry run names the backup on each host and checks its checksum and contents. After
    confirmation, playbooks/restore-database.yml restores it into a new database in one
    transaction, compares every table's rows with the manifest, and only then swaps it in. The
    live database is kept under a dated name (vedfinance_before_restore_...), never dropped.
    Writes made after the backup was taken are not in it."""
    from vedrun.display.operations import restore_report

    report = engine_of(ctx).operations.restore(
        where, backup_name=backup_name, incident_id=incident_id,
        confirm=terminal.restore_confirm(yes, as_json))
    if as_json:
        emit_json(report.as_json())
    else:
        restore_report(report)
    ctx.exit(report.exit_code)
