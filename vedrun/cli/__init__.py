"""`vedrun`: the command an on-call engineer types. Thin: parse, call one service, render.

One module per command family (runbooks, incidents, database, lab and drills, health,
metrics); the options they share are in options.py, the questions asked at a terminal in
terminal.py. Heavy imports (ansible, ansible-runner, rich, jinja2) happen inside the commands
that need them, so that `vedrun --help` and `vedrun incident list` start fast.
"""

from __future__ import annotations

import gc

import click

from vedrun.cli import database, health, incidents, lab, metrics, runbooks
from vedrun.cli.options import VedrunClickError
from vedrun.errors import VedrunError


class RunbookGroup(click.Group):
    """The registered commands plus one subcommand per runbook of the catalog."""

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
            books = list(self._catalog(ctx).runbooks)
        except VedrunError:
            books = []
        return [*books, *self.commands]

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        try:
            runbook = self._catalog(ctx).runbooks.get(name)
        except VedrunError as exc:
            raise VedrunClickError(exc) from None
        return runbooks.runbook_command(runbook) if runbook else None

    def format_commands(self, ctx, formatter):
        commands = [(n, self.get_command(ctx, n)) for n in self.list_commands(ctx)]
        books = [(n, c) for n, c in commands if c is not None and n not in self.commands]
        tools = [(n, c) for n, c in commands if c is not None and n in self.commands]
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


for _command in (runbooks.list_runbooks, health.health, incidents.incident, metrics.metrics,
                 database.backup, database.backups, database.restore, lab.lab, lab.drill):
    cli.add_command(_command)


def main() -> None:
    try:
        cli(prog_name="vedrun")
    finally:
        # At exit CPython's collector walks every object the imports made (ansible-runner,
        # click, Jinja2): 0.012 s of a runbook run's end, measured. Frozen, they are left to
        # the OS, as CPython leaves objects at exit anyway (no __del__ is promised then);
        # atexit handlers and weakref finalizers (temporary folders) still run.
        gc.freeze()


if __name__ == "__main__":
    main()
