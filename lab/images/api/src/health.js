'use strict';
// GET /health: three checks run concurrently within a 2.5 s budget, so a hung dependency
// (`docker pause`) cannot hold the answer.
//   postgres  SELECT 1 through the pool (waits at most 1.5 s for a connection, 0.9 s for the answer)
//   redis     PING, then a SET with a TTL: PING still answers when Redis refuses writes
//             (maxmemory, MISCONF), and sessions need writes
//   data_dir  writes, fsyncs and removes a 4 KiB file in $DATA_DIR
// 200 {"status":"ok",...} when all pass, otherwise 503 {"status":"fail","failed":[...],...}.

const crypto = require('node:crypto');
const fs = require('node:fs/promises');
const path = require('node:path');
const v8 = require('node:v8');
const { Unavailable, describe } = require('./errors');

const HEALTH_BUDGET_MS = 2500;
const PG_POOL_WAIT_MS = 1500;
const PG_QUERY_TIMEOUT_MS = 900;
const MB = 1024 * 1024;

function elapsedMs(t0) {
  return Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10;
}

async function checkPostgres(svc, req) {
  const t0 = process.hrtime.bigint();
  const value = await svc.db.run(req, async (c) => Object.values((await c.query('SELECT 1')).rows[0])[0], {
    waitMs: PG_POOL_WAIT_MS,
    timeoutMs: PG_QUERY_TIMEOUT_MS,
  });
  if (value !== 1) throw new Error(`SELECT 1 returned ${JSON.stringify(value)}`);
  return { ok: true, ms: elapsedMs(t0) };
}

async function checkRedis(svc) {
  const t0 = process.hrtime.bigint();
  await svc.redis.call((r) => r.ping());
  await svc.redis.call((r) => r.set('health:probe', String(Date.now() / 1000), 'EX', 30));
  return { ok: true, ms: elapsedMs(t0) };
}

async function checkDataDir(svc) {
  const t0 = process.hrtime.bigint();
  const dir = svc.cfg.dataDir;
  const file = path.join(dir, `.health-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    const fh = await fs.open(file, 'w');
    try {
      await fh.write(Buffer.alloc(4096, 'x'));
      await fh.sync();
    } finally {
      await fh.close();
    }
  } finally {
    await fs.rm(file, { force: true }).catch(() => {});
  }
  return { ok: true, ms: elapsedMs(t0), path: dir };
}

function withinBudget(promise, deadline) {
  let timer = null;
  const late = new Promise((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, error: `no answer within ${HEALTH_BUDGET_MS / 1000}s` }),
      Math.max(0, deadline - Date.now()),
    );
  });
  const settled = promise.then(
    (result) => result,
    (err) => ({ ok: false, error: err instanceof Unavailable ? err.detail : describe(err) }),
  );
  return Promise.race([settled, late]).finally(() => clearTimeout(timer));
}

function memoryNumbers() {
  const m = process.memoryUsage();
  const mb = (bytes) => Math.round((bytes / MB) * 10) / 10;
  return {
    rss_mb: mb(m.rss),
    heap_used_mb: mb(m.heapUsed),
    heap_total_mb: mb(m.heapTotal),
    heap_limit_mb: mb(v8.getHeapStatistics().heap_size_limit),
    external_mb: mb(m.external),
    array_buffers_mb: mb(m.arrayBuffers),
  };
}

async function health(svc, req) {
  const deadline = Date.now() + HEALTH_BUDGET_MS;
  const names = ['postgres', 'redis', 'data_dir'];
  const results = await Promise.all([
    withinBudget(checkPostgres(svc, req), deadline),
    withinBudget(checkRedis(svc), deadline),
    withinBudget(checkDataDir(svc), deadline),
  ]);
  const checks = {};
  names.forEach((name, i) => {
    checks[name] = results[i];
  });
  const failed = names.filter((name) => !checks[name].ok);
  checks.postgres.pool = svc.db.stats();
  const extra = {
    leak_mb_per_sec: svc.leaks.rateMbPerSec(),
    leaked_mb: Math.round(svc.leaks.leakedMb() * 10) / 10,
    leak: svc.leaks.status(),
    memory: memoryNumbers(),
  };
  if (failed.length) {
    svc.log.warning(`health check failed: ${failed.map((n) => `${n} (${checks[n].error})`).join(', ')}`);
    return { status: 503, body: { status: 'fail', version: svc.cfg.apiVersion, failed, checks, ...extra } };
  }
  return { status: 200, body: { status: 'ok', version: svc.cfg.apiVersion, checks, ...extra } };
}

module.exports = { health };
