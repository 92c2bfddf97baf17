"""`python -m vedrun.cli`: the same as the `vedrun` command."""

from vedrun.cli import main

main()
