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
        extra = item.as_dict()
        if extra.get("removed"):
            click.echo(f"  retention removed: {', '.join(extra['removed'])}")
        if extra.get("prunable"):
            click.secho(f"  retention would remove: {', '.join(extra['prunable'])} "
                        "(kept: add --prune to remove them)", fg="yellow")
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


def _host_health(host: str, checks: dict) -> None:
    """One host's verdict, then an `ok  `/`slow`/`FAIL` line per check."""
    healthy = bool(checks) and all(check.get("ok") for check in checks.values())
    click.secho(f"{host}: {'healthy' if healthy else 'UNHEALTHY'}",
                fg="green" if healthy else "red", bold=True)
    width = max((len(name) for name in checks), default=5)
    for name, check in checks.items():
        mark = "FAIL" if not check.get("ok") else ("slow" if check.get("slow") else "ok  ")
        click.secho(f"  {mark}  {name:<{width}}  {check.get('detail', '')}",
                    fg=None if check.get("ok") else "red")
    if not checks:
        click.echo("  no health report (the health playbook failed before reporting)")


class HealthLines:
    """`vedrun health` as it runs: each host's verdict as soon as its checks (or its
    unreachability) arrive, so that a check of many hosts streams instead of waiting for all."""

    def __init__(self):
        self.shown: set[str] = set()

    def update(self, state) -> None:
        for host, checks in list(state.health.items()):
            if host not in self.shown:
                self.shown.add(host)
                _host_health(host, checks)
        for host, message in list(state.unreachable.items()):
            if host not in self.shown:
                self.shown.add(host)
                click.secho(f"{host}: UNREACHABLE — {message}", fg="red", bold=True)


def health_report(report, shown: set[str] | frozenset[str] = frozenset()) -> None:
    """Per host: healthy or not, then a line per check (hosts already `shown` as they came are
    not repeated); the failed tasks; a one-line summary when there is more than one host."""
    for host in report.ran:
        if host in shown:
            continue
        if host in report.unreachable:
            click.secho(f"{host}: UNREACHABLE — {report.unreachable[host]}", fg="red", bold=True)
            continue
        _host_health(host, report.checks.get(host, {}))
    for failure in report.failures:
        click.secho(f"FAILED on {failure['host']}: {failure['task']}: {failure['msg']}", fg="red")
    if len(report.ran) > 1:
        healthy = sum(1 for host in report.ran if report.healthy(host))
        click.echo(f"{len(report.ran)} hosts: {healthy} healthy, {len(report.unreachable)} unreachable, "
                   f"{len(report.ran) - healthy - len(report.unreachable)} unhealthy")


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
