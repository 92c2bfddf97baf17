-- Read-only probe of connections, idle sessions and lock waits, as one JSON line.
-- psql variables: app_user, other_roles (true/false), idle_age, idle_tx_age, lock_wait.
WITH clients AS (
  SELECT a.*, r.rolsuper, r.rolreplication
  FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
  WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
), terminable AS (
  SELECT pid, usename, application_name, state,
         round(extract(epoch FROM now() - state_change))::int AS state_seconds
  FROM clients
  WHERE NOT coalesce(rolsuper, true) AND NOT coalesce(rolreplication, true)
    AND (usename = :'app_user' OR :'other_roles' = 'true')
    AND ((state = 'idle' AND now() - state_change > make_interval(secs => :idle_age))
      OR (state IN ('idle in transaction', 'idle in transaction (aborted)')
          AND now() - state_change > make_interval(secs => :idle_tx_age)))
), blocked AS (
  SELECT pid, usename, pg_blocking_pids(pid) AS blocked_by,
         round(extract(epoch FROM now() - query_start))::int AS waiting_seconds, left(query, 200) AS query
  FROM clients
  WHERE wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0
    AND now() - query_start > make_interval(secs => :lock_wait)
), blockers AS (
  SELECT c.pid, c.usename, c.application_name, c.state, coalesce(c.rolsuper, true) AS superuser,
         round(extract(epoch FROM now() - c.xact_start))::int AS xact_seconds, left(c.query, 200) AS query
  FROM clients c WHERE c.pid IN (SELECT unnest(blocked_by) FROM blocked)
)
SELECT json_build_object(
  'max_connections', current_setting('max_connections')::int,
  'reserved', current_setting('superuser_reserved_connections')::int,
  'clients', (SELECT count(*) FROM clients) + 1,
  'by_state', (SELECT coalesce(json_object_agg(s, n), '{}') FROM
                 (SELECT coalesce(state, 'unknown') AS s, count(*) AS n FROM clients GROUP BY 1) x),
  -- slots left for non-superusers (every client counts, superusers and this probe included)
  'free', current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
          - (SELECT count(*) FROM clients) - 1,
  'terminable', (SELECT coalesce(json_agg(t), '[]') FROM terminable t),
  'blocked', (SELECT coalesce(json_agg(b), '[]') FROM blocked b),
  'blockers', (SELECT coalesce(json_agg(k), '[]') FROM blockers k)
);
