"""`vedrun`: the command an on-call engineer types. Thin: parse, validate, call the engine.

Heavy imports (ansible, ansible-runner, rich, jinja2) happen inside the commands that need
them, so that `vedrun --help` and `vedrun incident list` start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vedrun.errors import Exit, VedrunError

STATIC_COMMANDS = ("list", "health", "incident", "metrics", "backup", "backups", "restore", "lab",
                   "drill")


class VedrunClickError(click.ClickException):
    """A domain error as Click prints it, with vedrun's exit code."""

    def __init__(self, error: VedrunError):
        super().__init__(str(error))
        self.exit_code = int(error.exit_code)


class MomentType(click.ParamType):
    """A time as typed at 3 a.m.: ISO 8601, HH:MM, `15m ago`."""

    name = "time"

    def convert(self, value, param, ctx):
        from vedrun.timeutil import parse_moment

        try:
            return parse_moment(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SinceType(click.ParamType):
    name = "period"

    def convert(self, value, param, ctx):
        from vedrun.timeutil import since

        try:
            return since(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class ExtraVarsType(click.ParamType):
    """`-e key=value` (repeatable) or `-e @vars.yml` (YAML or JSON)."""

    name = "k=v|@file"

    def convert(self, value, param, ctx):
        import yaml

        if isinstance(value, dict):
            return value
        if value.startswith("@"):
            path = Path(value[1:]).expanduser()
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except OSError as exc:
                self.fail(f"cannot read {path}: {exc.strerror}", param, ctx)
            except yaml.YAMLError as exc:
                self.fail(f"{path} is not valid YAML or JSON: {exc}", param, ctx)
            if not isinstance(data, dict):
                self.fail(f"{path} must hold a mapping of variable names to values", param, ctx)
            return data
        if value.lstrip().startswith("{"):
            try:
                data = json.loads(value)
            except ValueError as exc:
                self.fail(f"not valid JSON: {exc}", param, ctx)
            if isinstance(data, dict):
                return data
        key, sep, raw = value.partition("=")
        if not sep or not key.strip().isidentifier():
            self.fail(f"{value!r} is not key=value (a variable name, '=', a value) nor @file",
                      param, ctx)
        try:
            parsed = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            parsed = raw
        return {key.strip(): parsed if isinstance(parsed, bool | int | float | list | dict) else raw}


def _merge(dicts) -> dict:
    merged: dict = {}
    for item in dicts or ():
        merged.update(item)
    return merged


def _engine(ctx: click.Context):
    from vedrun.engine import Engine

    obj = ctx.find_root().obj or {}
    if "engine" not in obj:
        obj["engine"] = Engine(obj.get("project"), obj.get("home"))
    return obj["engine"]


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class RunbookGroup(click.Group):
    """The static commands plus one subcommand per runbook of the catalog."""

    def _catalog(self, ctx):
        from vedrun import catalog
        from vedrun.paths import find_project

        root = ctx.find_root()
        if "vedrun.catalog" not in root.meta:  # --help asks for every command: load once
            root.meta["vedrun.catalog"] = catalog.load(
                find_project((root.params or {}).get("project")))
        return root.meta["vedrun.catalog"]

    def list_commands(self, ctx):
        try:
            runbooks = list(self._catalog(ctx).runbooks)
        except VedrunError:
            runbooks = []
        return [*runbooks, *STATIC_COMMANDS]

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        try:
            runbook = self._catalog(ctx).runbooks.get(name)
        except VedrunError as exc:
            raise VedrunClickError(exc) from None
        return _runbook_command(runbook) if runbook else None

    def format_commands(self, ctx, formatter):
        commands = [(n, self.get_command(ctx, n)) for n in self.list_commands(ctx)]
        books = [(n, c) for n, c in commands if c is not None and n not in STATIC_COMMANDS]
        tools = [(n, c) for n, c in commands if c is not None and n in STATIC_COMMANDS]
        width = formatter.width - 6 - max((len(n) for n, _ in commands), default=0)
        for title, rows in (("Runbooks", books), ("Commands", tools)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl([(n, c.get_short_help_str(width)) for n, c in rows])

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VedrunError as exc:
            raise VedrunClickError(exc) from None


@click.group(cls=RunbookGroup)
@click.option("--project", type=click.Path(file_okay=False), envvar="VEDRUN_PROJECT",
              is_eager=True,  # read before --help, which lists the project's runbooks
              help="The vedrun repository (runbooks.yml, playbooks/). Default: found from the "
                   "working directory upwards. Env: VEDRUN_PROJECT.")
@click.option("--home", type=click.Path(file_okay=False), envvar="VEDRUN_HOME",
              help="Where incidents, evidence and INCIDENTS.md are kept. Default: "
                   "~/.local/share/vedrun. Env: VEDRUN_HOME.")
@click.version_option(package_name="vedrun")
@click.pass_context
def cli(ctx, project, home):
    """vedrun: incident runbooks that run.

    Pick the runbook for what you see, run it against the inventory; vedrun records the
    incident, times detection, mitigation and recovery, and reports MTTR against the target.

    \b
    Example:  vedrun p0-database-failure --limit prod
    """
    ctx.obj = {"project": project, "home": home}


# -- runbooks -------------------------------------------------------------------------------
def _runbook_command(runbook) -> click.Command:
    @click.command(
        name=runbook.id,
        short_help=f"{runbook.severity} {runbook.title}: {runbook.scenario}",
        help=(f"{runbook.severity} {runbook.title}: {runbook.scenario}.\n\n"
              f"Common causes: {', '.join(runbook.causes)}.\n\n"
              f"Quick actions: {', '.join(runbook.quick_actions)}.\n\n"
              "Runs the runbook's playbook (detect, mitigate, resolve, verify) against the "
              "inventory, records the incident and reports MTTR against the target."),
    )
    @click.option("-i", "--inventory", help="Inventory file or folder. Default: inventory/production.")
    @click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern), e.g. prod.")
    @click.option("--check", is_flag=True,
                  help="Ansible check mode: detect and report, change nothing, record no recovery.")
    @click.option("-e", "--extra-vars", "extra_vars", multiple=True, type=ExtraVarsType(),
                  help="Extra variables, key=value or @file.yml; repeatable.")
    @click.option("--incident", "incident_id", metavar="ID",
                  help="Join this open incident instead of opening a new one.")
    @click.option("--started-at", type=MomentType(),
                  help="When the incident began (the alert's time): ISO 8601, HH:MM or '15m ago'. "
                       "Default: now.")
    @click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
                  envvar="VEDRUN_VAULT_PASSWORD_FILE", help="Decrypts the inventory's vault.")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask before touching production hosts.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.pass_context
    def command(ctx, inventory, limit, check, extra_vars, incident_id, started_at,
                vault_password_file, yes, as_json):
        engine = _engine(ctx)
        plan = engine.plan(runbook.id, inventory=inventory, limit=limit, check=check)
        _confirm(plan, yes)
        if incident_id and started_at:
            raise click.UsageError("--started-at opens a new incident; it cannot be used with "
                                   "--incident (the incident already has its start).")
        extravars = _merge(extra_vars)
        outcome = _execute(engine, plan, extravars=extravars, incident_id=incident_id,
                           started_at=started_at, vault=vault_password_file, as_json=as_json)
        outcome = _answer_questions(engine, plan, outcome, extravars, vault_password_file, as_json)
        _finish(outcome, runbook, as_json)

    return command


def _confirm(plan, yes: bool) -> None:
    if not plan.needs_confirmation or yes:
        return
    hosts = ", ".join(plan.hosts)
    if not _can_ask():
        raise VedrunClickError(VedrunError(
            f"Refusing to run {plan.runbook.id} against production hosts ({hosts}) without "
            "confirmation, and there is no terminal to ask. Add --yes to confirm.",
            exit_code=Exit.USAGE))
    if not click.confirm(f"Run {plan.runbook.id} against production hosts: {hosts}?"):
        raise VedrunClickError(VedrunError("Not confirmed: nothing was run or recorded.",
                                           exit_code=Exit.ABORTED))


def _can_ask() -> bool:
    """A person is at a terminal to answer a question (tests replace this)."""
    return sys.stdin.isatty()


def _answer_questions(engine, plan, outcome, extravars, vault, as_json):
    """A runbook that stopped before a destructive step (a restore) asks here; yes re-runs it
    in the same incident with the confirming variable set. Without a terminal, the report says
    which -e answers it."""
    while outcome.outcome == "awaiting confirmation" and outcome.incident is not None:
        if as_json or not _can_ask():
            return outcome
        click.echo()
        for host, question in sorted(outcome.confirmations.items()):
            click.secho(f"{host}: {question.get('question', '')}", fg="yellow", bold=True)
        if not click.confirm("Go ahead?", default=False):
            click.echo("Not confirmed: nothing more was changed; the incident stays open.")
            return outcome
        extravars = {**extravars, **outcome.confirming_vars()}
        outcome = _execute(engine, plan, extravars=extravars, incident_id=outcome.incident["id"],
                           started_at=None, vault=vault, as_json=as_json)
    return outcome


def _execute(engine, plan, *, extravars, incident_id, started_at, vault, as_json,
             kind: str = "real"):
    from vedrun.display import LiveView, PlainView

    title = f"{plan.runbook.id} on {', '.join(plan.hosts)}{' (check mode)' if plan.check else ''}"
    live = sys.stdout.isatty() and not as_json
    view = LiveView(title) if live else PlainView(err=as_json)
    if not live:
        click.echo(f"{title}: running {plan.playbook.name}", err=as_json)

    def started(incident, run_id):
        if incident and not live:
            click.echo(f"Incident {incident['id']}, run #{run_id}", err=as_json)

    with view:
        return engine.execute(plan, extravars=extravars, incident_id=incident_id,
                              started_at=started_at, vault_password_file=Path(vault) if vault else None,
                              kind=kind, on_change=view.update, on_start=started)


def _finish(outcome, runbook, as_json: bool) -> None:
    from vedrun.display import report

    if as_json:
        _emit_json({
            "outcome": outcome.outcome,
            "exit_code": outcome.exit_code,
            "message": outcome.message,
            "incident": outcome.incident,
            "run": outcome.run,
            "mttr": [{"phase": r.phase, "seconds": r.seconds, "target": r.target,
                      "breached": r.breached} for r in outcome.mttr],
            "escalation": None if outcome.escalation is None else {
                "level": outcome.escalation.level, "name": outcome.escalation.name,
                "contacts": list(outcome.escalation.contacts)},
            "evidence_dir": outcome.evidence_dir,
            "artifacts_dir": outcome.artifacts_dir,
        })
    else:
        report(outcome, runbook)
    sys.exit(outcome.exit_code)


# -- backups ---------------------------------------------------------------------------
def _where_options(func):
    for option in reversed([
        click.option("-i", "--inventory", help="Inventory file or folder. Default: inventory/production."),
        click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern), e.g. prod."),
        click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
                     envvar="VEDRUN_VAULT_PASSWORD_FILE", help="Decrypts the inventory's vault."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]):
        func = option(func)
    return func


def _operation(ctx, playbook, *, inventory, limit, vault, extravars=None, check=False):
    return _engine(ctx).operation(playbook, inventory=inventory, limit=limit,
                                  extravars=extravars or {}, check=check,
                                  vault_password_file=Path(vault) if vault else None)


def _operation_failures(result) -> list[str]:
    state = result.state
    lines = [f"{host}: UNREACHABLE — {msg}" for host, msg in sorted(state.unreachable.items())]
    lines += [f"{f['host']}: {f['task']}: {f['msg']}" for f in state.failures]
    if not lines and result.rc != 0:
        lines.append(f"ansible ended with rc {result.rc} ({result.status}); see {result.artifacts_dir}")
    return lines


def _operation_exit(result) -> int:
    if result.state.unreachable:
        return Exit.UNREACHABLE
    return Exit.OK if result.rc == 0 else Exit.FAILED


def _size(num: int | None) -> str:
    value = float(num or 0)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@cli.command()
@_where_options
@click.option("--fetch", is_flag=True, help="Also copy the backup to this machine (<home>/backups/HOST/).")
@click.pass_context
def backup(ctx, inventory, limit, vault_password_file, as_json, fetch):
    """Take a verified backup of the database on each host.

    Runs playbooks/backup-database.yml: pg_dump in custom format inside the PostgreSQL
    container, row counts of every table in the same snapshot, SHA-256 and pg_restore --list;
    only then is the manifest written that makes it a verified backup. Retention removes the
    oldest beyond vedrun_postgres_backup_keep. Exit 0 when every host has a new verified backup."""
    engine = _engine(ctx)
    extravars = {"postgres_backup_fetch": fetch, "vedrun_backups_dir": str(engine.home / "backups")}
    result, hosts = _operation(ctx, "backup-database", inventory=inventory, limit=limit,
                               vault=vault_password_file, extravars=extravars)
    taken = result.state.results.get("vedrun_backups", {})
    failures = _operation_failures(result)
    if as_json:
        _emit_json({"backups": taken, "failures": failures, "rc": result.rc})
    else:
        for host in hosts:
            item = taken.get(host)
            if not item or not item.get("verified_at"):
                continue
            click.secho(f"{host}: backup {item['name']} verified", fg="green", bold=True)
            click.echo(f"  taken {item['taken_at']}, {_size(item.get('size_bytes'))}, "
                       f"{item.get('rows', 0):,} rows in {len(item.get('tables', {}))} tables, "
                       f"sha256 {item.get('sha256', '')[:16]}...")
            click.echo(f"  on the host: {item.get('path')}")
            if fetch:
                click.echo(f"  copied to:   {engine.home / 'backups' / host / item['file']}")
        for line in failures:
            click.secho(f"FAILED {line}", fg="red")
    sys.exit(_operation_exit(result))


@cli.command()
@_where_options
@click.pass_context
def backups(ctx, inventory, limit, vault_password_file, as_json):
    """List the verified backups on each host, newest first."""
    result, hosts = _operation(ctx, "list-backups", inventory=inventory, limit=limit,
                               vault=vault_password_file)
    listing = result.state.results.get("vedrun_backup_list", {})
    failures = _operation_failures(result)
    if as_json:
        _emit_json({"hosts": listing, "failures": failures, "rc": result.rc})
    else:
        for host in hosts:
            found = (listing.get(host) or {}).get("backups", [])
            if host not in listing:
                continue
            click.secho(f"{host}: {len(found)} verified backup(s)", bold=True)
            for item in found:
                click.echo(f"  {item['name']}  taken {item['taken_at']}  {_size(item.get('size_bytes')):>10}"
                           f"  {item.get('rows', 0):>10,} rows")
            for problem in (listing.get(host) or {}).get("problems", []):
                click.secho(f"  skipped {problem}", fg="yellow")
        for line in failures:
            click.secho(f"FAILED {line}", fg="red")
    sys.exit(_operation_exit(result))


@cli.command()
@_where_options
@click.option("--backup", "backup_name", default="latest", show_default=True,
              help="Backup to restore, by name (see `vedrun backups`), or latest.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask: for automation that has decided already.")
@click.option("--incident", "incident_id", metavar="ID", help="Note the restore in this incident's timeline.")
@click.pass_context
def restore(ctx, inventory, limit, vault_password_file, as_json, backup_name, yes, incident_id):
    """Replace the database with a verified backup (asks first).

    First a dry run names the backup on each host and checks its checksum and contents. After
    confirmation, playbooks/restore-database.yml restores it into a new database in one
    transaction, compares every table's rows with the manifest, and only then swaps it in. The
    live database is kept under a dated name (vedfinance_before_restore_...), never dropped.
    Writes made after the backup was taken are not in it."""
    engine = _engine(ctx)
    if incident_id:
        engine.store.incident(incident_id)  # an unknown id fails here, before anything runs
    variables = {"postgres_backup_name": backup_name}
    dry, hosts = _operation(ctx, "restore-database", inventory=inventory, limit=limit,
                            vault=vault_password_file, extravars=variables, check=True)
    planned = dry.state.results.get("vedrun_restores", {})
    failures = _operation_failures(dry)
    if failures or dry.rc != 0:
        for line in failures:
            click.secho(f"FAILED {line}", fg="red", err=as_json)
        raise VedrunClickError(VedrunError("Nothing was restored: the backup could not be used "
                                           "(see above).", exit_code=_operation_exit(dry) or Exit.FAILED))
    for host in hosts:
        item = planned.get(host, {})
        chosen = item.get("backup", {})
        click.secho(f"{host}: restore {chosen.get('name')} (taken {chosen.get('taken_at')}, "
                    f"{chosen.get('rows', 0):,} rows, {_size(chosen.get('size_bytes'))}) over "
                    f"{item.get('database')}; the current one is kept as "
                    f"{item.get('database')}_before_restore_<time>. "
                    f"Writes after {chosen.get('taken_at')} are lost.", fg="yellow", err=as_json)
    if not yes:
        if not _can_ask():
            raise VedrunClickError(VedrunError(
                "Refusing to restore without confirmation, and there is no terminal to ask. "
                "Add --yes once you have decided.", exit_code=Exit.USAGE))
        if not click.confirm("Restore now?", default=False):
            raise VedrunClickError(VedrunError("Not confirmed: nothing was restored.",
                                               exit_code=Exit.ABORTED))
    # exactly the backups the engineer was shown, even if a newer one appeared since
    variables = {"postgres_backup_restore_confirm": True,
                 "vedrun_restore_plan": {host: item["backup"]["name"] for host, item in planned.items()
                                         if item.get("backup", {}).get("name")}}
    result, _ = _operation(ctx, "restore-database", inventory=inventory, limit=limit,
                           vault=vault_password_file, extravars=variables)
    done = result.state.results.get("vedrun_restores", {})
    failures = _operation_failures(result)
    if incident_id:
        for host, item in sorted(done.items()):
            engine.store.add_note(incident_id, f"restore of {item['backup']['name']} on {host} "
                                  f"(recovery point {item.get('recovery_point')}); previous "
                                  f"database kept as {item.get('replaced_by')}")
        engine.render()
    if as_json:
        _emit_json({"restores": done, "failures": failures, "rc": result.rc})
    else:
        for host, item in sorted(done.items()):
            click.secho(f"{host}: restored {item['backup']['name']} in {item.get('seconds')} s; "
                        f"rows match the manifest; previous database kept as {item.get('replaced_by')}",
                        fg="green", bold=True)
        for line in failures:
            click.secho(f"FAILED {line}", fg="red")
    sys.exit(_operation_exit(result))


# -- list, health, metrics -------------------------------------------------------------------
@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@click.pass_context
def list_runbooks(ctx, as_json):
    """The runbooks and MTTR targets (the seed's table)."""
    from vedrun import catalog
    from vedrun.paths import find_project
    from vedrun.timeutil import human

    cat = catalog.load(find_project(ctx.obj.get("project")))
    if as_json:
        _emit_json({"severities": {n: {"meaning": s.meaning, "targets": s.targets}
                                   for n, s in cat.severities.items()},
                    "runbooks": [vars(r) for r in cat.runbooks.values()]})
        return
    for name, severity in cat.severities.items():
        books = [r for r in cat.runbooks.values() if r.severity == name]
        if not books:
            continue
        click.secho(f"\n{name} - {severity.meaning} (MTTR <{human(severity.targets['total'])}: "
                    f"detect {human(severity.targets['detection'])}, mitigate "
                    f"{human(severity.targets['mitigation'])}, recover "
                    f"{human(severity.targets['recovery'])})", bold=True)
        rows = [("Runbook", "Scenario", "Common Causes", "Quick Actions")] + [
            (f"{r.id}", r.scenario, ", ".join(r.causes), ", ".join(r.quick_actions)) for r in books]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for index, row in enumerate(rows):
            click.echo("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                click.echo("  " + "  ".join("-" * w for w in widths))


@cli.command()
@click.option("-i", "--inventory", help="Inventory file or folder. Default: inventory/production.")
@click.option("-l", "--limit", help="Only these hosts or groups.")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, type=ExtraVarsType(),
              help="Extra variables, key=value or @file.yml; repeatable.")
@click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
              envvar="VEDRUN_VAULT_PASSWORD_FILE")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def health(ctx, inventory, limit, extra_vars, vault_password_file, as_json):
    """Read-only health: API, PostgreSQL, Redis, containers.

    Runs playbooks/health.yml (API /health, pg_isready, redis ping, container states) and
    prints a status table. Exit 0 when every host is healthy."""
    engine = _engine(ctx)
    result = engine.health(inventory=inventory, limit=limit, extravars=_merge(extra_vars),
                           vault_password_file=Path(vault_password_file) if vault_password_file
                           else None)
    state = result.state
    healthy = {host: bool(checks) and all(c.get("ok") for c in checks.values())
               for host, checks in state.health.items()}
    ran_ok = result.rc == 0 and not state.unreachable
    all_green = ran_ok and bool(state.hosts) and all(healthy.get(h) for h in state.hosts)
    if as_json:
        _emit_json({"healthy": all_green, "hosts": state.health,
                    "unreachable": state.unreachable,
                    "failures": state.failures, "rc": result.rc})
    else:
        for host in sorted(state.hosts):
            if host in state.unreachable:
                click.secho(f"{host}: UNREACHABLE — {state.unreachable[host]}", fg="red", bold=True)
                continue
            checks = state.health.get(host, {})
            verdict = "healthy" if healthy.get(host) else "UNHEALTHY"
            click.secho(f"{host}: {verdict}", fg="green" if healthy.get(host) else "red", bold=True)
            width = max((len(name) for name in checks), default=5)
            for name, check in checks.items():
                mark = "ok  " if check.get("ok") else "FAIL"
                click.secho(f"  {mark}  {name:<{width}}  {check.get('detail', '')}",
                            fg=None if check.get("ok") else "red")
            if not checks:
                click.echo("  no health report (the health playbook failed before reporting)")
        for failure in state.failures:
            click.secho(f"FAILED on {failure['host']}: {failure['task']}: {failure['msg']}",
                        fg="red")
    if state.unreachable:
        sys.exit(Exit.UNREACHABLE)
    sys.exit(Exit.OK if all_green else Exit.FAILED)


@cli.command()
@click.option("--since", type=SinceType(), default="30d", show_default=True,
              help="Period: 30d, 12h, 2w or a date.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def metrics(ctx, since, as_json):
    """Runbook effectiveness: uses, MTTR, success rate."""
    from vedrun.metrics import compute
    from vedrun.timeutil import human

    engine = _engine(ctx)
    rows = compute(engine.store, engine.catalog, since=since)
    target = engine.catalog.success_rate_target
    if as_json:
        _emit_json({"since": since.isoformat(), "success_rate_target": target,
                    "runbooks": [r.as_dict() for r in rows]})
        return
    click.echo(f"Runbook effectiveness since {since:%Y-%m-%d %H:%M} UTC "
               f"(target: {target:.0%} success rate)")
    header = f"  {'Runbook':<20} {'Kind':<6} {'Times Used':>10} {'Avg MTTR':>9} {'Success Rate':>13}"
    click.echo(header)
    click.echo("  " + "-" * (len(header) - 2))
    for row in rows:
        if row.kind == "drill" and not row.times_used:
            continue  # drills show once a runbook has been drilled
        rate = "-" if row.success_rate is None else f"{row.success_rate:.0%}"
        below = row.success_rate is not None and row.success_rate < target
        click.secho(f"  {row.title:<20} {row.kind:<6} {row.times_used:>10} "
                    f"{human(row.avg_mttr_seconds):>9} {rate:>13}{'  below target' if below else ''}",
                    fg="red" if below else None)


# -- incidents -------------------------------------------------------------------------------
@cli.group()
def incident():
    """The incident log: log, list, show, update, resolve, rca."""


def _severity_choices(ctx) -> list[str]:
    return list(_engine(ctx).catalog.severities)


@incident.command("log")
@click.option("--severity", required=True, help="P0, P1 or P2 (from runbooks.yml).")
@click.option("--title", required=True, help="A brief description of what users see.")
@click.option("--runbook", help="The runbook you are following, if any.")
@click.option("--started-at", type=MomentType(), help="When it began. Default: now.")
@click.option("--note", help="A first note for the timeline.")
@click.option("--drill", is_flag=True, help="Record a drill, not a real incident.")
@click.option("--json", "as_json", is_flag=True, help="Print the new incident with its id.")
@click.pass_context
def incident_log(ctx, severity, title, runbook, started_at, note, drill, as_json):
    """Open a new incident."""
    engine = _engine(ctx)
    severity = severity.upper()
    if severity not in _severity_choices(ctx):
        raise click.BadParameter(f"{severity} is not one of {', '.join(_severity_choices(ctx))}",
                                 param_hint="--severity")
    if not title.strip():
        raise click.BadParameter("give a short description", param_hint="--title")
    if runbook:
        engine.catalog.get(runbook)
    record = engine.store.open_incident(severity=severity, title=title.strip(), runbook=runbook,
                                        kind="drill" if drill else "real", started_at=started_at,
                                        note=note)
    engine.render()
    if as_json:
        _emit_json(record)
    else:
        click.echo(f"Opened {record['id']} ({severity}): {record['title']}")


@incident.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only incidents not resolved.")
@click.option("--since", type=SinceType(), help="Only incidents started in this period: 30d, 2w...")
@click.option("--kind", type=click.Choice(["real", "drill"]), help="Only real incidents or drills.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incident_list(ctx, open_only, since, kind, as_json):
    """The incidents, newest first."""
    store = _store_only(ctx)
    rows = store.incidents(open_only=open_only, since=since, kind=kind)
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        click.echo("No incidents.")
        return
    click.echo(f"{'ID':<17} {'Sev':<4} {'Kind':<5} {'Status':<13} {'Started (UTC)':<17} "
               f"{'Outcome':<15} Title")
    for row in rows:
        click.echo(f"{row['id']:<17} {row['severity']:<4} {row['kind']:<5} {row['status']:<13} "
                   f"{row['started_at'][:16].replace('T', ' '):<17} {row['outcome'] or '-':<15} "
                   f"{row['title']}")


def _store_only(ctx):
    """The store without loading the catalog: listing must start fast."""
    from vedrun.paths import default_home
    from vedrun.store import Store

    home = (ctx.find_root().obj or {}).get("home")
    return Store(Path(home).expanduser() if home else default_home())


@incident.command("show")
@click.argument("incident_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incident_show(ctx, incident_id, as_json):
    """One incident: timeline, MTTR, runs and their evidence."""
    from vedrun import mttr
    from vedrun.timeutil import human

    engine = _engine(ctx)
    store = engine.store
    record = store.incident(incident_id)
    timeline = store.timeline(incident_id)
    runs = store.runs(incident_id)
    severity = engine.catalog.severities.get(record["severity"])
    rows = mttr.breakdown(record, severity.targets) if severity else []
    if as_json:
        _emit_json({"incident": record, "timeline": timeline, "runs": runs,
                    "mttr": [{"phase": r.phase, "seconds": r.seconds, "target": r.target,
                              "breached": r.breached} for r in rows]})
        return
    click.secho(f"{record['id']}  {record['severity']}  {record['title']}", bold=True)
    click.echo(f"  kind {record['kind']}, status {record['status']}, runbook "
               f"{record['runbook'] or '-'}, last outcome {record['outcome'] or '-'}")
    click.echo("\nTimeline (UTC)")
    for entry in timeline:
        click.echo(f"  {entry['at'][:19].replace('T', ' ')}  {entry['kind']:<10} {entry['text']}")
    if rows:
        click.echo(f"\nMTTR against {record['severity']} targets")
        for row in rows:
            verdict = "-" if row.seconds is None else ("BREACHED" if row.breached else "ok")
            click.echo(f"  {row.phase:<10} {human(row.seconds):>8}  target {human(row.target):>7}"
                       f"  {verdict}")
    click.echo("\nRuns")
    if not runs:
        click.echo("  none")
    for run in runs:
        click.echo(f"  #{run['id']} {run['runbook']}{' (check)' if run['check_mode'] else ''}: "
                   f"{run['outcome']} on {', '.join(run['hosts'])} "
                   f"[{run['started_at'][11:19]} - {(run['ended_at'] or '        ')[11:19]}]")
        if run["error"]:
            click.echo(f"      {run['error']}")
        exists = Path(run["evidence_dir"] or "").is_dir()
        click.echo(f"      evidence:  {run['evidence_dir']}{'' if exists else ' (none)'}")
        exists = Path(run["artifacts_dir"] or "").is_dir()
        click.echo(f"      artifacts: {run['artifacts_dir']}{'' if exists else ' (rotated away)'}")


@incident.command("update")
@click.argument("incident_id", metavar="ID")
@click.option("--note", help="Add a note to the timeline.")
@click.option("--status", type=click.Choice(["open", "investigating", "mitigated", "recovered",
                                             "resolved"]), help="Set the status.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incident_update(ctx, incident_id, note, status, as_json):
    """Add a note or change the status."""
    if not note and not status:
        raise click.UsageError("Nothing to update: give --note TEXT and/or --status STATUS.")
    engine = _engine(ctx)
    if note:
        engine.store.add_note(incident_id, note)
    if status:
        engine.store.set_status(incident_id, status)
    engine.render()
    record = engine.store.incident(incident_id)
    if as_json:
        _emit_json(record)
    else:
        click.echo(f"Updated {incident_id}: status {record['status']}")


@incident.command("resolve")
@click.argument("incident_id", metavar="ID")
@click.option("--note", help="What resolved it, for the timeline.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def incident_resolve(ctx, incident_id, note, as_json):
    """Mark an incident resolved."""
    engine = _engine(ctx)
    record = engine.store.resolve(incident_id, note)
    engine.render()
    if as_json:
        _emit_json(record)
    else:
        click.echo(f"Resolved {incident_id}. Next: `vedrun incident rca {incident_id}` "
                   "(an RCA is due within 24 hours for P0/P1).")


@incident.command("rca")
@click.argument("incident_id", metavar="ID")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
@click.pass_context
def incident_rca(ctx, incident_id, output):
    """An RCA draft in Markdown from the timeline, runs and evidence."""
    from vedrun.reports import atomic_write, render_rca

    engine = _engine(ctx)
    text = render_rca(engine.store, engine.catalog, incident_id, engine.project)
    if output:
        atomic_write(Path(output), text)
        click.echo(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


# -- the drill lab ---------------------------------------------------------------------------
@cli.group()
def lab():
    """The drill lab: the production stack on this machine."""


class _TaskLines:
    """`lab up|down` progress: a line as each task starts, and one per failure."""

    def __init__(self):
        self._task = ""
        self._failures = 0

    def update(self, state) -> None:
        for failure in state.failures[self._failures:]:
            click.secho(f"  FAILED {failure['task']}: {failure['msg']}", fg="red")
        self._failures = len(state.failures)
        if state.task and state.task != self._task:
            self._task = state.task
            click.echo(f"  {state.task}")


def _lab_table(project) -> bool:
    from vedrun.lab import status

    found, checks = status(project)
    if found:
        click.echo(f"{'container':<22} {'state':<10} status")
        for row in sorted(found, key=lambda r: r.get("Names", "")):
            click.echo(f"{row.get('Names', ''):<22} {row.get('State', ''):<10} {row.get('Status', '')}")
        click.echo()
    for check in checks:
        click.secho(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<16} {check.detail}",
                    fg=None if check.ok else "red")
    return all(check.ok for check in checks)


@lab.command("up")
@click.pass_context
def lab_up(ctx):
    """Build what is missing and start the stack healthy."""
    engine = _engine(ctx)
    click.echo("Bringing the drill lab up (the first time builds the images: a few minutes)...")
    result = engine.lab("present", on_change=_TaskLines().update)
    if result.rc != 0:
        for failure in result.state.failures:
            click.secho(f"FAILED {failure['task']}: {failure['msg']}", fg="red")
        raise VedrunClickError(VedrunError(
            f"The lab did not come up (ansible rc {result.rc}). Details: "
            f"{result.artifacts_dir / 'stdout'}"))
    changed = sum(c.changed for c in result.state.hosts.values())
    click.echo(f"Lab is up ({changed} change{'s' if changed != 1 else ''}).\n")
    sys.exit(Exit.OK if _lab_table(engine.project) else Exit.FAILED)


@lab.command("status")
@click.pass_context
def lab_status(ctx):
    """Each lab container and each service check."""
    from vedrun.paths import find_project

    healthy = _lab_table(find_project(ctx.find_root().obj.get("project")))
    sys.exit(Exit.OK if healthy else Exit.FAILED)


@lab.command("down")
@click.pass_context
def lab_down(ctx):
    """Remove the lab's containers and state (images stay as a cache)."""
    engine = _engine(ctx)
    result = engine.lab("absent", on_change=_TaskLines().update)
    if result.rc != 0:
        raise VedrunClickError(VedrunError(
            f"Removing the lab failed (ansible rc {result.rc}): {result.artifacts_dir / 'stdout'}"))
    from vedrun.lab import containers

    left = containers()
    if left:
        raise VedrunClickError(VedrunError(
            "Lab containers are still there: " + ", ".join(r.get("Names", "?") for r in left)))
    click.echo("Lab is down: no lab container, no lab state left.")


@cli.command()
@click.argument("runbook_id", metavar="RUNBOOK")
@click.option("--fault", help="One fault to drill (default: every fault drilled for the runbook).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def drill(ctx, runbook_id, fault, as_json):
    """Drill a runbook on the lab: inject a fault, run it, verify.

    Runs the Molecule drill scenario molecule/RUNBOOK-FAULT: prepare brings the lab up and
    injects the fault, the runbook runs against inventory/lab as in an incident, verify checks
    the service from outside. Each drill is recorded as a drill incident with its timeline and
    MTTR, next to real incidents in `vedrun metrics`.
    """
    from vedrun import drill as drills
    from vedrun.display import PlainView, report

    engine = _engine(ctx)
    runbook = engine.catalog.get(runbook_id)
    chosen = [fault] if fault else drills.faults(engine.project, runbook.id)
    if not chosen:
        raise click.UsageError(f"No drill scenarios for {runbook.id} (molecule/{runbook.id}-*/).")
    results = []
    for name in chosen:
        view = PlainView(err=as_json)
        result = drills.run(engine, runbook.id, name, on_change=view.update,
                            say=lambda text: click.echo(text, err=as_json))
        results.append(result)
        if not as_json:
            report(result.outcome, runbook)
            click.echo(f"  Independent verify: {'passed' if result.verified else 'FAILED'} "
                       f"(log: {result.log})\n")
    if as_json:
        _emit_json([{"fault": r.fault, "outcome": r.outcome.outcome, "verified": r.verified,
                     "exit_code": r.outcome.exit_code, "incident": r.outcome.incident,
                     "mttr": [{"phase": m.phase, "seconds": m.seconds, "target": m.target,
                               "breached": m.breached} for m in r.outcome.mttr],
                     "log": str(r.log)} for r in results])
    else:
        click.echo("Drills: " + ", ".join(
            f"{r.fault} {r.outcome.outcome}{'' if r.verified else ' (verify FAILED)'}"
            for r in results))
    sys.exit(max(r.outcome.exit_code for r in results))


def main() -> None:
    cli(prog_name="vedrun")


if __name__ == "__main__":
    main()
