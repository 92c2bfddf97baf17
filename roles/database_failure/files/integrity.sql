-- Read every table of the database in full (no index may answer for the heap), one statement per
-- table; a damaged data file makes its read fail; a locked table is reported, not waited for. ON_ERROR_STOP is off: each failure is reported
-- on stderr and the scan goes on. stdout: one "schema.table|rows" line per table read.
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
SET statement_timeout = :'timeout';
-- a table locked by someone else is skipped (lock timeout error), not waited for
SET lock_timeout = :'lock_timeout';
SELECT format('SELECT %L, count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1
\gexec
