-- Blockers of sessions waiting on a lock for longer than lock_wait: cancel (action=cancel), or
-- terminate those whose transaction is older than max_age (action=terminate). Never a superuser,
-- a replication role or another role than the app's (unless other_roles).
WITH blockers AS (
  SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid
  FROM pg_stat_activity
  WHERE wait_event_type = 'Lock' AND now() - query_start > make_interval(secs => :lock_wait)
)
SELECT coalesce(json_agg(json_build_object('pid', a.pid, 'user', a.usename, 'state', a.state,
         'xact_seconds', round(extract(epoch FROM now() - a.xact_start))::int, 'query', left(a.query, 200),
         :'action', CASE WHEN :'action' = 'cancel' THEN pg_cancel_backend(a.pid)
                         ELSE pg_terminate_backend(a.pid) END)), '[]')
FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.pid IN (SELECT pid FROM blockers) AND a.pid <> pg_backend_pid()
  AND NOT r.rolsuper AND NOT r.rolreplication
  AND (a.usename = :'app_user' OR :'other_roles' = 'true')
  AND (:'action' = 'cancel' OR now() - a.xact_start > make_interval(secs => :max_age));
