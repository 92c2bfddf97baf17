"""Filter: which of the lab's data volumes belong to another lab."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: foreign_volumes
short_description: The volumes whose owner label names another lab folder
description:
  - The lab labels its data volumes with its folder (org.vedrun.lab.dir), where the passwords of
    the database inside them are. A volume with another folder, or none (an older vedrun),
    belongs to another lab.
positional: lab_dir
options:
  _input: {description: "Inspections of the existing volumes (Name, Labels).", type: list, required: true}
  lab_dir: {description: This lab's folder., type: str, required: true}
"""

EXAMPLES = r"""
foreign: "{{ infos | selectattr('exists') | map(attribute='volume') | vedrun.kit.foreign_volumes(lab_dir) }}"
"""

RETURN = r"""
_value: {description: "[{name, owner}] of the volumes of another lab ('' when unlabelled).", type: list}
"""

OWNER = "org.vedrun.lab.dir"


def foreign_volumes(volumes, lab_dir):
    if not isinstance(volumes, list):
        raise AnsibleFilterError("foreign_volumes: expected a list of volume inspections")
    found = []
    for volume in volumes:
        owner = (volume.get("Labels") or {}).get(OWNER, "")
        if owner != lab_dir:
            found.append({"name": volume.get("Name", "?"), "owner": owner})
    return found


class FilterModule:
    def filters(self):
        return {"foreign_volumes": foreign_volumes}
