'use strict';
// PostgreSQL: one bounded pg.Pool shared by all requests, and the sqlcommenter route tags.
//
// Pool semantics (the same as the Python API's psycopg_pool):
// - at most DB_POOL_MAX connections;
// - a request that waits longer than DB_POOL_TIMEOUT seconds for a connection gets a 503 naming
//   postgres (pg-pool's connectionTimeoutMillis, which also bounds opening a new connection);
// - the API starts and serves (503) while PostgreSQL is down: connections are opened on demand,
//   so it recovers by itself on the first request after PostgreSQL is back;
// - a pooled connection found broken (PostgreSQL restarted since it was pooled) is dropped and
//   the request is retried once on a fresh connection.

const pg = require('pg');
const { Unavailable, describe } = require('./errors');

const IDLE_TIMEOUT_MS = 60_000; // psycopg_pool's max_idle=60 in the Python API

// count(*) is a bigint: node-postgres returns bigints as strings, the Python API returns ints.
// timestamptz is kept as PostgreSQL's text so that isoTimestamp() can print it exactly as
// Python's datetime.isoformat() does (microseconds, "+00:00"); a JS Date would cut to ms.
const INT8_OID = 20;
const TIMESTAMPTZ_OID = 1184;
const TYPES = {
  getTypeParser(oid, format) {
    if (oid === INT8_OID) return (value) => Number(value);
    if (oid === TIMESTAMPTZ_OID) return (value) => value;
    return pg.types.getTypeParser(oid, format);
  },
};

// "2026-11-26 18:42:57.96912+00" -> "2026-11-26T18:42:57.969120+00:00" (Python's isoformat()).
function isoTimestamp(text) {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))?([+-]\d{2})(?::?(\d{2}))?(?::?(\d{2}))?$/.exec(text);
  if (!m) return text;
  const [, date, time, fraction, hours, minutes, seconds] = m;
  const micros = fraction ? `.${fraction.padEnd(6, '0')}` : '';
  return `${date}T${time}${micros}${hours}:${minutes || '00'}${seconds ? `:${seconds}` : ''}`;
}

// The statement with the route that sends it, as sqlcommenter writes it: a trailing
// /*route='%2Fcourses%2Ffeatured'*/ comment, URL-encoded. pg_stat_statements and pg_stat_activity
// then say which endpoint a statement comes from. encodeURIComponent leaves !'()* alone; they are
// encoded too (as Python's quote(safe="") does), so no route can close the comment or the quote.
function tagged(sql, route) {
  if (!route) return sql;
  const encoded = encodeURIComponent(route).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${sql} /*route='${encoded}'*/`;
}

// The Express route pattern that matched the request ("/payments/:intent_id"), or '' outside one.
function routeOf(req) {
  return req && req.route && typeof req.route.path === 'string' ? req.route.path : '';
}

// Errors that mean the connection, not the statement, failed: the socket broke, the server shut
// down or refused (SQLSTATE classes 08 connection, 53 resources such as 53300 too many clients,
// 57 operator intervention, 58 system). Such a connection is destroyed, never pooled again.
function isConnectionError(err) {
  if (err instanceof pg.DatabaseError) return /^(08|53|57|58)/.test(err.code || '');
  if (!err) return false;
  if (err.name === 'QueryTimeout') return true;
  if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return true; // ECONNRESET, EPIPE...
  return /Connection terminated|not queryable/.test(err.message || '');
}

class Database {
  constructor(cfg, log) {
    this.cfg = cfg;
    this.log = log;
    this.poolTimeoutMs = Math.round(cfg.dbPoolTimeout * 1000);
    this.pool = new pg.Pool({
      connectionString: cfg.databaseUrl,
      application_name: `vedapi/${cfg.apiVersion}`,
      max: cfg.dbPoolMax,
      min: 1,
      connectionTimeoutMillis: this.poolTimeoutMs,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      keepAlive: true,
      types: TYPES,
    });
    // An idle pooled connection that dies (PostgreSQL restarted or killed the backend) is
    // reported here and dropped by the pool. Without this listener Node would crash the process.
    this.pool.on('error', (err) => {
      log.warning(`postgres: idle pooled connection lost (${describe(err)}); it is dropped and reopened when needed`);
    });
    // A checked-out client whose socket dies emits 'error' as well as failing its query; the
    // query failure is what the request handles, so the event itself only has to be absorbed.
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  stats() {
    return {
      max: this.cfg.dbPoolMax,
      size: this.pool.totalCount,
      available: this.pool.idleCount,
      waiting: this.pool.waitingCount,
    };
  }

  // A pooled client, waiting at most waitMs (default: DB_POOL_TIMEOUT). Raises Unavailable.
  async acquire(waitMs) {
    const pending = this.pool.connect();
    let timer = null;
    const giveUp = waitMs
      ? new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('own wait timeout')), waitMs);
        })
      : null;
    try {
      return await (giveUp ? Promise.race([pending, giveUp]) : pending);
    } catch (err) {
      // A connection that arrives after we gave up goes straight back to the pool.
      if (giveUp) pending.then((client) => client.release(), () => {});
      throw new Unavailable('postgres', this.describeAcquireError(err, waitMs));
    } finally {
      clearTimeout(timer);
    }
  }

  describeAcquireError(err, waitMs) {
    const { size, waiting } = this.stats();
    if (err.message === 'own wait timeout' || err.message === 'timeout exceeded when trying to connect') {
      const seconds = (waitMs || this.poolTimeoutMs) / 1000;
      const pool = `pool max ${this.cfg.dbPoolMax}, ${size} open, ${waiting} waiting`;
      return `PoolTimeout: no connection within ${seconds}s (${pool})`;
    }
    if (/connection timeout/.test(err.message)) {
      return `ConnectTimeout: PostgreSQL did not complete the connection within ${this.poolTimeoutMs / 1000}s`;
    }
    return describe(err);
  }

  // Run fn(client) on a pooled connection and release it. client.query() tags every statement
  // with the route of `req`. Options: waitMs bounds the wait for a connection, timeoutMs bounds
  // fn itself (a connection that does not answer in time is destroyed, not pooled again: /health
  // uses this so a paused PostgreSQL cannot hold it). Connection failures raise
  // Unavailable('postgres'); SQL errors propagate as they are (500).
  async run(req, fn, { waitMs, timeoutMs } = {}) {
    const route = routeOf(req);
    for (let attempt = 1; ; attempt += 1) {
      const client = await this.acquire(waitMs);
      const taggedClient = { query: (sql, params) => client.query(tagged(sql, route), params) };
      let broken = null;
      try {
        return await withTimeout(fn(taggedClient), timeoutMs);
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        broken = err;
        if (attempt === 1 && err.name !== 'QueryTimeout') {
          this.log.warning(`postgres connection lost (${describe(err)}); retrying once on a fresh connection`);
          continue;
        }
        throw new Unavailable('postgres', describe(err));
      } finally {
        client.release(broken || undefined); // an error argument makes the pool destroy the client
      }
    }
  }
}

function withTimeout(promise, timeoutMs) {
  if (!timeoutMs) return promise;
  let timer = null;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`no answer within ${timeoutMs / 1000}s`);
      err.name = 'QueryTimeout';
      reject(err);
    }, timeoutMs);
  });
  promise.catch(() => {}); // it fails later, when the destroyed connection closes; nobody waits for it then
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

module.exports = { Database, isoTimestamp };
