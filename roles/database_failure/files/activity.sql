-- Evidence: every session and every lock not granted or held by a blocker, as text tables.
\pset format aligned
\pset pager off
SELECT now() AS taken_at, current_setting('max_connections') AS max_connections,
       current_setting('superuser_reserved_connections') AS superuser_reserved;
SELECT pid, usename, application_name, client_addr, backend_type, state, wait_event_type, wait_event,
       backend_start, xact_start, query_start, state_change, pg_blocking_pids(pid) AS blocked_by,
       left(query, 300) AS query
FROM pg_stat_activity ORDER BY backend_type, state, pid;
SELECT l.pid, l.locktype, l.mode, l.granted, l.relation::regclass AS relation, l.transactionid,
       a.usename, a.state, left(a.query, 120) AS query
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.pid <> pg_backend_pid() AND (NOT l.granted OR l.locktype = 'relation')
ORDER BY l.granted, l.pid;
