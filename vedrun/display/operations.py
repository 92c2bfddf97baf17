"""Reports of the operations: health, backups, their listing, restores, the lab's status."""

from __future__ import annotations

import click

from vedrun.operations import size


def _failures(report) -> None:
    for line in report.failure_lines():
        click.secho(f"FAILED {line}", fg="red")


def backup_report(report) -> None:
    """Each host's new verified backup: when, how big, its rows, where it is."""
    for host in report.hosts:
        item = report.backups.get(host)
        if item is None or not item.verified:
            continue
        click.secho(f"{host}: backup {item.name} verified", fg="green", bold=True)
        click.echo(f"  taken {item.taken_at}, {size(item.size_bytes)}, "
                   f"{item.rows:,} rows in {len(item.tables)} tables, "
                   f"sha256 {item.sha256[:16]}...")
        click.echo(f"  on the host: {item.path}")
        if report.fetched_to is not None:
            click.echo(f"  copied to:   {report.fetched_to / host / item.file}")
    _failures(report)


def listing_report(report) -> None:
    """Each host's verified backups, newest first, and the files skipped."""
    for host in report.hosts:
        listing = report.listings.get(host)
        if listing is None:
            continue
        click.secho(f"{host}: {len(listing.backups)} verified backup(s)", bold=True)
        for item in listing.backups:
            click.echo(f"  {item.name}  taken {item.taken_at}  {size(item.size_bytes):>10}"
                       f"  {item.rows:>10,} rows")
        for problem in listing.problems:
            click.secho(f"  skipped {problem}", fg="yellow")
    _failures(report)


def restore_report(report) -> None:
    for host, item in sorted(report.restores.items()):
        click.secho(f"{host}: restored {item.backup.name} in {item.seconds} s; rows match the "
                    f"manifest; previous database kept as {item.replaced_by}",
                    fg="green", bold=True)
    _failures(report)


def health_report(report) -> None:
    """Per host: healthy or not, then an `ok  ` or `FAIL` line per check."""
    for host in report.ran:
        if host in report.unreachable:
            click.secho(f"{host}: UNREACHABLE — {report.unreachable[host]}", fg="red", bold=True)
            continue
        checks = report.checks.get(host, {})
        healthy = report.healthy(host)
        click.secho(f"{host}: {'healthy' if healthy else 'UNHEALTHY'}",
                    fg="green" if healthy else "red", bold=True)
        width = max((len(name) for name in checks), default=5)
        for name, check in checks.items():
            mark = "ok  " if check.get("ok") else "FAIL"
            click.secho(f"  {mark}  {name:<{width}}  {check.get('detail', '')}",
                        fg=None if check.get("ok") else "red")
        if not checks:
            click.echo("  no health report (the health playbook failed before reporting)")
    for failure in report.failures:
        click.secho(f"FAILED on {failure['host']}: {failure['task']}: {failure['msg']}", fg="red")


def lab_status(status) -> None:
    """The lab's containers, then its VPS's health checks (or why there are none)."""
    if status.containers:
        click.echo(f"{'container':<22} {'state':<10} status")
        for row in sorted(status.containers, key=lambda r: r.get("Names", "")):
            click.echo(f"{row.get('Names', ''):<22} {row.get('State', ''):<10} {row.get('Status', '')}")
        click.echo()
    if status.health is None:
        click.secho(f"FAIL  {'lab':<16} not set up: run `vedrun lab up`", fg="red")
    else:
        health_report(status.health)
