"""The YAML vedrun reads on every run (the catalog, the runbook's playbook), parsed by libyaml
when PyYAML was built with it: the same data as `yaml.safe_load`, about ten times faster, which
is a few hundredths of a second off every run (issue 15, the overhead over ansible-playbook)."""

from __future__ import annotations

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str):
    """`yaml.safe_load`, by libyaml when it is there; raises yaml.YAMLError alike."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - SAFE_LOADER is a safe loader
