-- Cancel the app role's runaway queries: the pids detect named, re-checked now (still the app's
-- role, still active, still past the age: a pid may have been reused), then wait up to :grace
-- seconds for them to end; a session whose query ignores the cancel is terminated (the app's only).
-- Variables: pids (comma-separated), app_role, min_age and grace (seconds). One JSON line out.
CREATE TEMP TABLE vedrun_targets AS
SELECT pid, query_start FROM pg_stat_activity
 WHERE pid = ANY (string_to_array(:'pids', ',')::int[])
   AND usename = :'app_role' AND state = 'active' AND backend_type = 'client backend'
   AND now() - query_start >= make_interval(secs => :'min_age'::float);
CREATE TEMP TABLE vedrun_grace AS SELECT :'grace'::float AS seconds;
SELECT count(pg_cancel_backend(pid)) AS cancelled FROM vedrun_targets \gset
DO $$
DECLARE
  deadline timestamptz := clock_timestamp() + make_interval(secs => (SELECT seconds FROM vedrun_grace));
BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();  -- pg_stat_activity is read once per transaction otherwise
    EXIT WHEN clock_timestamp() > deadline OR NOT EXISTS (
      SELECT 1 FROM pg_stat_activity a JOIN vedrun_targets t USING (pid)
       WHERE a.query_start = t.query_start AND a.state = 'active');
    PERFORM pg_sleep(0.2);
  END LOOP;
END $$;
-- Those still running, found first (MATERIALIZED) and only then terminated: a side-effect function
-- in a WHERE clause could be pushed down to the scan of pg_stat_activity and end every session.
WITH still AS MATERIALIZED (
  SELECT a.pid FROM pg_stat_activity a JOIN vedrun_targets t USING (pid)
   WHERE a.query_start = t.query_start AND a.state = 'active' AND a.usename = :'app_role'),
ended AS MATERIALIZED (SELECT pid, pg_terminate_backend(pid) AS done FROM still)
SELECT json_build_object(
  'cancelled', (SELECT coalesce(json_agg(pid), '[]') FROM vedrun_targets),
  'terminated', (SELECT coalesce(json_agg(pid), '[]') FROM ended WHERE done));
