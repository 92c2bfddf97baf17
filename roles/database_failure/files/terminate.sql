-- Terminate the sessions probe.sql calls terminable: never a superuser, a replication role or
-- another role than the app's (unless other_roles); only idle ones past the age thresholds.
SELECT coalesce(json_agg(json_build_object('pid', a.pid, 'user', a.usename, 'application', a.application_name,
         'state', a.state, 'state_seconds', round(extract(epoch FROM now() - a.state_change))::int,
         'terminated', pg_terminate_backend(a.pid))), '[]')
FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND NOT r.rolsuper AND NOT r.rolreplication
  AND (a.usename = :'app_user' OR :'other_roles' = 'true')
  AND ((a.state = 'idle' AND now() - a.state_change > make_interval(secs => :idle_age))
    OR (a.state IN ('idle in transaction', 'idle in transaction (aborted)')
        AND now() - a.state_change > make_interval(secs => :idle_tx_age)));
