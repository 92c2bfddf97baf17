"""What the engineer sees: progress while a playbook runs, and every report and table.

Commands in vedrun/cli/ call a service and hand its result to a function here. Nothing here
runs a playbook or writes a record.
"""
