"""vedrun: incident-response runbooks as idempotent Ansible playbooks, run and timed."""

__version__ = "0.1.0"
