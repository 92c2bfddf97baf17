'use strict';
// Black-box test of vedrun/lab-api, run by test/run.sh (which starts PostgreSQL, Redis, the
// Stripe stand-in and the API under test, and passes their addresses and secrets in the
// environment). Tests run in order and build on each other (login before logout, leaks last).
// Extra API containers started here are named apinode-test-* and removed here; run.sh removes
// any that a crash leaves behind.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const E = process.env;
const API = E.API_URL;
const PREFIX = E.PREFIX;
const API_CTR = `${PREFIX}api`;
const PG_CTR = `${PREFIX}postgres`;
const REDIS_CTR = `${PREFIX}redis`;
const DEMO = { email: 'demo@vedfinance.test', password: 'lab-only-demo-password' };
const SECRETS = [E.JWT_SECRET, E.STRIPE_SECRET_KEY, E.STRIPE_WEBHOOK_SECRET, E.APP_PASSWORD];
const DB_POOL_MAX = 3; // as run.sh starts the API
const DB_POOL_TIMEOUT_S = 2;

// -- helpers --------------------------------------------------------------------------------------
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function request(base, method, urlPath, { headers = {}, body, timeoutMs = 15000 } = {}) {
  const url = new URL(urlPath, base);
  let payload = body;
  const allHeaders = { ...headers };
  if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    payload = JSON.stringify(body);
    allHeaders['Content-Type'] = allHeaders['Content-Type'] || 'application/json';
  }
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    // agent: false: one connection per request. Node's default keep-alive agent can reuse a
    // socket just as the server's 5 s keep-alive timeout closes it ("socket hang up").
    const req = http.request(url, { method, headers: allHeaders, timeout: timeoutMs, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, ms: Date.now() - t0 });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

const api = (method, urlPath, opts) => request(API, method, urlPath, opts);

function docker(...args) {
  const r = spawnSync('docker', args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return { rc: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

function dockerOk(...args) {
  const r = docker(...args);
  assert.equal(r.rc, 0, `docker ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function psql(sql) {
  return dockerOk('exec', PG_CTR, 'psql', '-U', 'postgres', '-d', 'vedfinance', '-At', '-c', sql).trim();
}

async function waitFor(what, fn, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  assert.fail(`${what}: not true within ${timeoutMs} ms (last: ${last && (last.message || JSON.stringify(last))})`);
  return null;
}

function apiLogLines() {
  return fs.readFileSync(path.join(E.WORK, 'data', 'logs', 'api.log'), 'utf8').split('\n');
}

// The environment of a working API, for the extra containers (ports 13002-13005).
function apiEnv(overrides = {}) {
  const env = {
    DATABASE_URL: E.DATABASE_URL,
    REDIS_URL: E.REDIS_URL,
    JWT_SECRET: E.JWT_SECRET,
    STRIPE_SECRET_KEY: E.STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: E.STRIPE_WEBHOOK_SECRET,
    STRIPE_API_BASE: E.STRIPE_API_BASE,
    ...overrides,
  };
  return Object.entries(env)
    .filter(([, v]) => v !== null)
    .flatMap(([k, v]) => ['-e', `${k}=${v}`]);
}

function removeContainer(name) {
  docker('rm', '-f', '-v', name);
}

// Stripe's signature scheme: v1 = hex HMAC-SHA256(secret, "<t>.<payload>").
function stripeSignature(payload, secret = E.STRIPE_WEBHOOK_SECRET, t = Math.floor(Date.now() / 1000)) {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

function intentEvent(type, intentId, amount = 4200) {
  return JSON.stringify(
    {
      id: `evt_test_${crypto.randomBytes(8).toString('hex')}`,
      object: 'event',
      type,
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: intentId, object: 'payment_intent', amount, currency: 'usd', status: 'succeeded' } },
    },
    null,
    2,
  );
}

function postWebhook(payload, signature) {
  const headers = { 'Content-Type': 'application/json; charset=utf-8' };
  if (signature !== undefined) headers['Stripe-Signature'] = signature;
  return api('POST', '/webhooks/stripe', { headers, body: payload });
}

async function health() {
  return api('GET', '/health', { timeoutMs: 10000 });
}

function containerMemMiB(name) {
  const usage = dockerOk('stats', '--no-stream', '--format', '{{.MemUsage}}', name).split('/')[0].trim();
  const m = /^([\d.]+)\s*([KMG]i?B)$/.exec(usage);
  assert.ok(m, `cannot read docker stats memory: ${usage}`);
  const factor = { KiB: 1 / 1024, MiB: 1, GiB: 1024, kB: 1 / 1024, MB: 1, GB: 1024 }[m[2]] || 1;
  return Number(m[1]) * factor;
}

function inspect(name, format) {
  return dockerOk('inspect', '-f', format, name).trim();
}

function diagnosticsFiles() {
  return dockerOk('exec', API_CTR, 'ls', '-1', '/data/diagnostics').split('\n').filter(Boolean);
}

const state = {};

// -- health and start-up ----------------------------------------------------------------------------
test('health: 200 with the shape of the Python API plus leak and memory numbers', async () => {
  const r = await health();
  assert.equal(r.status, 200, r.text);
  const h = r.json;
  assert.deepEqual(Object.keys(h), ['status', 'version', 'checks', 'leak_mb_per_sec', 'leaked_mb', 'leak', 'memory']);
  assert.equal(h.status, 'ok');
  assert.equal(h.version, 'test-run');
  assert.deepEqual(Object.keys(h.checks), ['postgres', 'redis', 'data_dir']);
  for (const name of ['postgres', 'redis', 'data_dir']) {
    assert.equal(h.checks[name].ok, true);
    assert.equal(typeof h.checks[name].ms, 'number');
  }
  assert.equal(h.checks.data_dir.path, '/data');
  assert.deepEqual(Object.keys(h.checks.postgres.pool), ['max', 'size', 'available', 'waiting']);
  assert.equal(h.checks.postgres.pool.max, DB_POOL_MAX);
  assert.equal(h.leak_mb_per_sec, 0);
  assert.equal(h.leaked_mb, 0);
  assert.equal(h.leak.kind, 'none');
  assert.deepEqual(Object.keys(h.leak), ['kind', 'cache', 'listeners', 'connections']);
  for (const key of ['rss_mb', 'heap_used_mb', 'heap_total_mb', 'heap_limit_mb', 'external_mb', 'array_buffers_mb']) {
    assert.equal(typeof h.memory[key], 'number', key);
  }
  // --max-old-space-size=192 (NODE_HEAP_MB default) bounds the old space; V8 adds the young generation.
  assert.ok(h.memory.heap_limit_mb >= 192 && h.memory.heap_limit_mb < 260, `heap limit ${h.memory.heap_limit_mb}`);
  // The redis check writes: the probe key exists with a TTL.
  const ttl = Number(dockerOk('exec', REDIS_CTR, 'redis-cli', 'ttl', 'health:probe').trim());
  assert.ok(ttl > 0 && ttl <= 30, `health:probe ttl ${ttl}`);
});

test('process: node is PID 1 as uid 10001 with the diagnostics flags', () => {
  const cmdline = dockerOk('exec', API_CTR, 'cat', '/proc/1/cmdline').split('\0').filter(Boolean);
  assert.equal(cmdline[0], 'node');
  for (const flag of [
    '--heapsnapshot-signal=SIGUSR2',
    '--report-on-signal',
    '--report-signal=SIGUSR1',
    '--diagnostic-dir=/data/diagnostics',
    '--report-directory=/data/diagnostics',
    '--heapsnapshot-near-heap-limit=1',
    '--max-old-space-size=192',
  ]) {
    assert.ok(cmdline.includes(flag), `missing ${flag} in ${cmdline.join(' ')}`);
  }
  // Node 18 writes SIGUSR2 snapshots into its working directory (and dies if it cannot).
  assert.match(docker('logs', API_CTR).stdout, /INFO vedapi node v18\.\d+\.\d+ pid=1 .*cwd=\/data\/diagnostics /);
  const status = dockerOk('exec', API_CTR, 'cat', '/proc/1/status');
  assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
  const owner = dockerOk('exec', API_CTR, 'stat', '-c', '%u', '/data', '/data/logs', '/data/diagnostics').trim().split('\n');
  assert.deepEqual(owner, ['10001', '10001', '10001']);
});

test('start-up checks: exit 78 with one line on stderr naming the problem, no secret printed', () => {
  const cases = [
    { name: 'STRIPE_SECRET_KEY unset', env: { STRIPE_SECRET_KEY: null }, expect: /missing required environment variable\(s\): STRIPE_SECRET_KEY/ },
    { name: 'API_BIND not loopback', env: { API_BIND: '0.0.0.0' }, expect: /API_BIND must be a loopback address.*'0\.0\.0\.0'/ },
    {
      name: 'DATABASE_URL not loopback',
      env: { DATABASE_URL: `postgresql://vedfinance:${E.APP_PASSWORD}@10.1.2.3:5432/vedfinance` },
      expect: /DATABASE_URL host must be loopback.*'10\.1\.2\.3'/,
    },
    { name: 'malformed DB_POOL_TIMEOUT', env: { DB_POOL_TIMEOUT: '3s' }, expect: /DB_POOL_TIMEOUT must be a number, got '3s'/ },
    { name: 'malformed API_LEAK', env: { API_LEAK: 'listeners' }, expect: /API_LEAK must be <cache\|listeners\|connections>:<rate > 0>, got 'listeners'/ },
    { name: 'malformed NODE_HEAP_MB', env: { NODE_HEAP_MB: 'lots' }, expect: /NODE_HEAP_MB must be an integer, got 'lots'/ },
  ];
  cases.forEach((c, i) => {
    const r = docker('run', '--rm', '--name', `${PREFIX}cfg-${i}`, '--network', 'host', ...apiEnv(c.env), E.IMAGE);
    assert.equal(r.rc, 78, `${c.name}: exit ${r.rc}, stderr ${r.stderr}`);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${c.name}: stderr has ${lines.length} lines: ${r.stderr}`);
    assert.match(lines[0], /^vedapi: configuration error: /);
    assert.match(lines[0], c.expect, c.name);
    assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
    for (const secret of SECRETS) assert.ok(!r.stderr.includes(secret), `${c.name}: a secret value was printed`);
  });
});

test('JWT_SECRET unset: the API starts, says so, and every login fails with a 500', async () => {
  const name = `${PREFIX}nojwt`;
  removeContainer(name);
  dockerOk('run', '-d', '--name', name, '--network', 'host', ...apiEnv({ JWT_SECRET: null, API_PORT: '13005' }), E.IMAGE);
  try {
    const base = 'http://127.0.0.1:13005';
    await waitFor('API without JWT_SECRET healthy', async () => (await request(base, 'GET', '/health')).status === 200, 15000);
    const login = await request(base, 'POST', '/auth/login', { body: DEMO });
    assert.equal(login.status, 500);
    assert.deepEqual(login.json, { error: 'login unavailable', detail: 'token signing is not configured' });
    const logs = docker('logs', name);
    assert.match(logs.stdout + logs.stderr, /jwt_secret=MISSING/);
    assert.match(logs.stdout + logs.stderr, /JWT_SECRET is not set: every login will fail/);
  } finally {
    removeContainer(name);
  }
});

test('start-up: a taken port exits 1 naming the address', () => {
  const r = docker('run', '--rm', '--name', `${PREFIX}port`, '--network', 'host', ...apiEnv({ API_PORT: E.API_PORT }), E.IMAGE);
  assert.equal(r.rc, 1, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`ERROR vedapi cannot listen on 127\\.0\\.0\\.1:${E.API_PORT}: .*EADDRINUSE`));
  for (const secret of SECRETS) assert.ok(!(r.stdout + r.stderr).includes(secret), 'a secret value was printed');
  assert.match(r.stdout, /starting vedapi: .*db=postgresql:\/\/vedfinance:\*\*\*@127\.0\.0\.1/);
});

// -- auth -------------------------------------------------------------------------------------------
test('login: demo user gets an HS256 JWT and a Redis session', async () => {
  const r = await api('POST', '/auth/login', { body: DEMO });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json), ['token', 'token_type', 'expires_in']);
  assert.equal(r.json.token_type, 'Bearer');
  assert.equal(r.json.expires_in, 3600);
  const [header, claims, signature] = r.json.token.split('.');
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url')), { alg: 'HS256', typ: 'JWT' });
  const c = JSON.parse(Buffer.from(claims, 'base64url'));
  assert.deepEqual(Object.keys(c).sort(), ['email', 'exp', 'iat', 'jti', 'sub']);
  assert.equal(c.email, DEMO.email);
  assert.equal(typeof c.sub, 'string');
  assert.equal(c.exp - c.iat, 3600);
  assert.match(c.jti, /^[0-9a-f]{32}$/);
  const expected = crypto.createHmac('sha256', E.JWT_SECRET).update(`${header}.${claims}`).digest('base64url');
  assert.equal(signature, expected, 'signed with JWT_SECRET');
  const ttl = Number(dockerOk('exec', REDIS_CTR, 'redis-cli', 'ttl', `session:${c.jti}`).trim());
  assert.ok(ttl > 3500 && ttl <= 3600, `session ttl ${ttl}`);
  const session = JSON.parse(dockerOk('exec', REDIS_CTR, 'redis-cli', 'get', `session:${c.jti}`));
  assert.deepEqual(Object.keys(session), ['user_id', 'email', 'iat']);
  state.token = r.json.token;
  state.claims = c;
});

test('login: wrong password and unknown email get 401, missing fields 400', async () => {
  const wrong = await api('POST', '/auth/login', { body: { email: DEMO.email, password: 'wrong' } });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.json, { error: 'invalid credentials' });
  const unknown = await api('POST', '/auth/login', { body: { email: 'nobody@vedfinance.test', password: 'x' } });
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.json, { error: 'invalid credentials' });
  // The unknown email costs a PBKDF2 run too (no timing oracle): within 3x of the wrong password.
  assert.ok(unknown.ms > wrong.ms / 3, `unknown ${unknown.ms} ms vs wrong ${wrong.ms} ms`);
  const missing = await api('POST', '/auth/login', { body: { email: DEMO.email } });
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.json, { error: 'email and password are required' });
  const notJson = await api('POST', '/auth/login', { body: '{nope', headers: { 'Content-Type': 'application/json' } });
  assert.equal(notJson.status, 400);
  assert.deepEqual(notJson.json, { error: 'bad request', detail: 'expected a JSON object body' });
});

test('auth/me: works with the token; bad or missing tokens get 401', async () => {
  const me = await api('GET', '/auth/me', { headers: { Authorization: `Bearer ${state.token}` } });
  assert.equal(me.status, 200, me.text);
  assert.deepEqual(me.json, {
    id: Number(state.claims.sub),
    email: DEMO.email,
    jti: state.claims.jti,
    exp: state.claims.exp,
  });
  const none = await api('GET', '/auth/me');
  assert.equal(none.status, 401);
  assert.deepEqual(none.json, { error: 'unauthorized', detail: 'missing bearer token' });
  const forged = `${state.token.split('.').slice(0, 2).join('.')}.${crypto.randomBytes(32).toString('base64url')}`;
  const bad = await api('GET', '/auth/me', { headers: { Authorization: `Bearer ${forged}` } });
  assert.equal(bad.status, 401);
  assert.match(bad.json.detail, /^invalid token \(JsonWebTokenError: invalid signature\)$/);
});

test('auth/logout: deletes the session, then /auth/me and logout get 401', async () => {
  const auth = { Authorization: `Bearer ${state.token}` };
  const out = await api('POST', '/auth/logout', { headers: auth });
  assert.equal(out.status, 200, out.text);
  assert.deepEqual(out.json, { logged_out: true });
  const me = await api('GET', '/auth/me', { headers: auth });
  assert.equal(me.status, 401);
  assert.deepEqual(me.json, { error: 'unauthorized', detail: 'session not found (expired or logged out)' });
  const again = await api('POST', '/auth/logout', { headers: auth });
  assert.equal(again.status, 401);
  assert.equal(dockerOk('exec', REDIS_CTR, 'redis-cli', 'exists', `session:${state.claims.jti}`).trim(), '0');
});

// -- CORS, 404/405 ------------------------------------------------------------------------------------
test('CORS: preflight from an allowed origin echoes it exactly, with Vary: Origin', async () => {
  for (const origin of ['https://app.vedfinance.test', 'http://127.0.0.1:3000']) {
    const r = await api('OPTIONS', '/auth/login', {
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,authorization',
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], origin);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.match(r.headers.vary || '', /\bOrigin\b/);
    assert.equal(r.headers['access-control-allow-methods'], 'GET, POST, OPTIONS');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type,authorization');
    assert.equal(r.headers['access-control-max-age'], '600');
    assert.equal(r.text, '');
  }
  const simple = await api('GET', '/health', { headers: { Origin: 'https://app.vedfinance.test' } });
  assert.equal(simple.headers['access-control-allow-origin'], 'https://app.vedfinance.test');
  assert.match(simple.headers.vary || '', /\bOrigin\b/);
});

test('CORS: a refused origin gets no CORS headers, only Vary: Origin', async () => {
  const r = await api('OPTIONS', '/auth/login', {
    headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers['access-control-allow-origin'], undefined);
  assert.equal(r.headers['access-control-allow-methods'], undefined);
  assert.equal(r.headers['access-control-allow-credentials'], undefined);
  assert.equal(r.headers['access-control-max-age'], undefined);
  assert.match(r.headers.vary || '', /\bOrigin\b/);
  const simple = await api('GET', '/health', { headers: { Origin: 'https://evil.example' } });
  assert.equal(simple.headers['access-control-allow-origin'], undefined);
  assert.match(simple.headers.vary || '', /\bOrigin\b/);
  const none = await api('GET', '/health');
  assert.equal(none.headers.vary, undefined);
});

test('unknown path 404 and wrong method 405 with Flask-style JSON', async () => {
  const nf = await api('GET', '/nope');
  assert.equal(nf.status, 404);
  assert.equal(nf.json.error, 'not found');
  const na = await api('GET', '/auth/login');
  assert.equal(na.status, 405);
  assert.equal(na.json.error, 'method not allowed');
  assert.equal(na.headers.allow, 'OPTIONS, POST');
});

// -- payments and webhooks ------------------------------------------------------------------------------
test('payments: an intent created through the Stripe stand-in, then paid by its signed webhook', async () => {
  const r = await api('POST', '/payments', { body: { amount: 1999, currency: 'USD', email: DEMO.email } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(Object.keys(r.json), ['id', 'intent_id', 'client_secret', 'status']);
  assert.match(r.json.intent_id, /^pi_/);
  assert.match(r.json.client_secret, new RegExp(`^${r.json.intent_id}_secret_`));
  assert.ok(['pending', 'paid'].includes(r.json.status));
  const intentId = r.json.intent_id;
  // The stand-in auto-confirms and delivers payment_intent.succeeded to the API.
  const paid = await waitFor(
    'payment paid by the webhook',
    async () => {
      const p = await api('GET', `/payments/${intentId}`);
      return p.status === 200 && p.json.status === 'paid' ? p : null;
    },
    15000,
  );
  assert.deepEqual(Object.keys(paid.json), ['id', 'intent_id', 'amount', 'currency', 'status', 'created_at', 'updated_at']);
  assert.equal(paid.json.amount, 1999);
  assert.equal(paid.json.currency, 'usd');
  assert.match(paid.json.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
  // The SDK sent the email as receipt_email and metadata[email].
  const intent = await request(E.STRIPE_URL, 'GET', `/v1/payment_intents/${intentId}`, {
    headers: { Authorization: `Bearer ${E.STRIPE_SECRET_KEY}` },
  });
  assert.equal(intent.json.receipt_email, DEMO.email);
  assert.deepEqual(intent.json.metadata, { email: DEMO.email });
  // Replaying the stand-in's event changes nothing.
  const events = await request(E.STRIPE_URL, 'GET', '/v1/events?type=payment_intent.succeeded&limit=100', {
    headers: { Authorization: `Bearer ${E.STRIPE_SECRET_KEY}` },
  });
  const event = events.json.data.find((e) => e.data.object.id === intentId);
  assert.ok(event, 'the stand-in recorded the event');
  const redeliver = await request(E.STRIPE_URL, 'POST', `/_standin/events/${event.id}/redeliver?wait=1`);
  assert.equal(redeliver.status, 200, redeliver.text);
  assert.equal(redeliver.json.delivered, true);
  const after = await api('GET', `/payments/${intentId}`);
  assert.equal(after.json.status, 'paid');
  assert.equal(after.json.updated_at, paid.json.updated_at, 'the replay did not touch the row');
  const lines = apiLogLines().filter((l) => l.includes(`stripe webhook ${event.id} `));
  assert.equal(lines.filter((l) => / recorded$/.test(l)).length, 1, lines.join('\n'));
  assert.equal(
    lines.filter((l) => /already processed \(event seen before, nothing changed\)$/.test(l)).length,
    1,
    lines.join('\n'),
  );
});

test('payments: validation errors 400, unknown intent 404', async () => {
  const cases = [
    [{ amount: -5 }, 'amount must be a positive integer (cents)'],
    [{ amount: '100' }, 'amount must be a positive integer (cents)'],
    [{ amount: 100, currency: 'dollars' }, 'currency must be a 3-letter ISO code'],
    [{ amount: 100, email: 42 }, 'email must be a string'],
  ];
  for (const [body, error] of cases) {
    const r = await api('POST', '/payments', { body });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { error });
  }
  const missing = await api('GET', '/payments/pi_does_not_exist');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { error: 'payment not found', intent_id: 'pi_does_not_exist' });
});

test('webhook: a signed event delivered twice is recorded once', async () => {
  const intentId = `pi_selftest_${crypto.randomBytes(6).toString('hex')}`;
  const payload = intentEvent('payment_intent.succeeded', intentId, 4200);
  const eventId = JSON.parse(payload).id;
  const first = await postWebhook(payload, stripeSignature(payload));
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.json, { received: true });
  const row1 = await api('GET', `/payments/${intentId}`);
  assert.equal(row1.json.status, 'paid');
  assert.equal(row1.json.amount, 4200);
  await sleep(50);
  const second = await postWebhook(payload, stripeSignature(payload));
  assert.equal(second.status, 200);
  const row2 = await api('GET', `/payments/${intentId}`);
  assert.deepEqual(row2.json, row1.json, 'second delivery changed the row');
  assert.equal(psql(`SELECT count(*) FROM payments WHERE intent_id = '${intentId}'`), '1');
  const lines = apiLogLines().filter((l) => l.includes(`stripe webhook ${eventId} `));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], / recorded$/);
  assert.match(lines[1], /already processed \(event seen before, nothing changed\)$/);
  assert.equal(psql(`SELECT count(*) FROM stripe_events WHERE event_id = '${eventId}'`), '1');
  // A late payment_failed (another event) never downgrades a paid payment.
  const failed = intentEvent('payment_intent.payment_failed', intentId, 4200);
  assert.equal((await postWebhook(failed, stripeSignature(failed))).status, 200);
  assert.equal((await api('GET', `/payments/${intentId}`)).json.status, 'paid');
  const failedId = JSON.parse(failed).id;
  assert.match(apiLogLines().filter((l) => l.includes(`stripe webhook ${failedId} `)).pop(), /already recorded \(no change\)$/);
  // Once its row is gone (a database restored to an older backup takes both), the same event
  // writes the row again: a resend brings a lost payment back.
  psql(`DELETE FROM payments WHERE intent_id = '${intentId}'; DELETE FROM stripe_events WHERE intent_id = '${intentId}'`);
  assert.equal((await postWebhook(payload, stripeSignature(payload))).status, 200);
  assert.equal((await api('GET', `/payments/${intentId}`)).json.status, 'paid');
  state.webhookIntent = intentId;
});

test('webhook: bad, missing or stale signatures get 400 and change nothing', async () => {
  const intentId = `pi_badsig_${crypto.randomBytes(6).toString('hex')}`;
  const payload = intentEvent('payment_intent.succeeded', intentId);
  const wrongSecret = await postWebhook(payload, stripeSignature(payload, 'whsec_wrong'));
  assert.equal(wrongSecret.status, 400);
  assert.deepEqual(wrongSecret.json, { error: 'invalid signature' });
  const missing = await postWebhook(payload);
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.json, { error: 'invalid signature' });
  const stale = await postWebhook(payload, stripeSignature(payload, E.STRIPE_WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 600));
  assert.equal(stale.status, 400);
  const tampered = await postWebhook(payload.replace('4200', '1'), stripeSignature(payload));
  assert.equal(tampered.status, 400);
  assert.equal((await api('GET', `/payments/${intentId}`)).status, 404);
  assert.ok(apiLogLines().some((l) => /WARNING vedapi stripe webhook rejected: .*check STRIPE_WEBHOOK_SECRET/.test(l)));
});

test('webhook: malformed events 400, other event types acknowledged', async () => {
  const malformed = JSON.stringify({ id: 'evt_x', type: 'payment_intent.succeeded', data: { object: { id: 'pi_x' } } });
  const m = await postWebhook(malformed, stripeSignature(malformed));
  assert.equal(m.status, 400);
  assert.deepEqual(m.json, { error: 'malformed event: data.object needs id, amount and currency' });
  const other = JSON.stringify({
    id: 'evt_other',
    type: 'charge.refunded',
    data: { object: { id: 'ch_x', amount: 1, currency: 'usd' } },
  });
  const o = await postWebhook(other, stripeSignature(other));
  assert.equal(o.status, 200);
  assert.deepEqual(o.json, { received: true });
});

// -- courses ---------------------------------------------------------------------------------------------
test('courses: 50 rows and count 10000 for wealth-management', async () => {
  const r = await api('GET', '/courses?category=wealth-management');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json), ['category', 'count', 'returned', 'elapsed_ms', 'courses']);
  assert.equal(r.json.category, 'wealth-management');
  assert.equal(r.json.count, 10000);
  assert.equal(r.json.returned, 50);
  assert.equal(r.json.courses.length, 50);
  assert.deepEqual(Object.keys(r.json.courses[0]), ['id', 'title', 'category', 'price']);
  assert.equal(r.json.courses[0].id, 490001);
  assert.ok(r.json.courses.every((c) => c.category === 'wealth-management'));
  assert.equal(typeof r.json.elapsed_ms, 'number');
  const missing = await api('GET', '/courses');
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.json, { error: 'category query parameter is required' });
});

test('courses/featured: 25 rows through 26 queries (the N+1 on purpose)', async () => {
  const r = await api('GET', '/courses/featured');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json), ['category', 'returned', 'queries', 'elapsed_ms', 'courses']);
  assert.equal(r.json.category, 'wealth-management');
  assert.equal(r.json.returned, 25);
  assert.equal(r.json.queries, 26);
  assert.equal(r.json.courses[0].id, 500000);
  assert.equal(r.json.courses[24].id, 499976);
  const other = await api('GET', '/courses/featured?category=accounting');
  assert.equal(other.json.courses[0].id, 10000);
});

test('SQL: every statement carries its Express route as a sqlcommenter comment', () => {
  const rows = psql("SELECT calls, query FROM pg_stat_statements WHERE query LIKE '%/*route=%' ORDER BY query")
    .split('\n')
    .map((line) => {
      const bar = line.indexOf('|');
      return { calls: Number(line.slice(0, bar)), query: line.slice(bar + 1) };
    });
  const find = (re) => rows.filter((r) => re.test(r.query));
  // pg_stat_statements shows statements normalised: constants (even 'pending' or SELECT 1) as $n.
  const expectations = [
    // [statement, how many distinct statements match, minimum calls of each]
    [/^SELECT \$1 \/\*route='%2Fhealth'\*\/$/, 1, 1],
    [/^SELECT id, email, password_hash FROM users WHERE email = \$1 \/\*route='%2Fauth%2Flogin'\*\/$/, 1, 1],
    [/^INSERT INTO payments .* RETURNING id, status \/\*route='%2Fpayments'\*\/$/, 1, 1],
    [/^SELECT id, intent_id, .* FROM payments WHERE intent_id = \$1 \/\*route='%2Fpayments%2F%3Aintent_id'\*\/$/, 1, 1],
    // payment_intent.succeeded and payment_intent.payment_failed
    [/^INSERT INTO payments .* \/\*route='%2Fwebhooks%2Fstripe'\*\/$/, 2, 1],
    [/^INSERT INTO stripe_events .* \/\*route='%2Fwebhooks%2Fstripe'\*\/$/, 1, 2],
    [/^SELECT id, title, category, price FROM courses WHERE category = \$1 ORDER BY id LIMIT \$2 \/\*route='%2Fcourses'\*\/$/, 1, 1],
    [/^SELECT count\(\*\) FROM courses WHERE category = \$1 \/\*route='%2Fcourses'\*\/$/, 1, 1],
    [/^SELECT id FROM courses WHERE category = \$1 ORDER BY id DESC LIMIT \$2 \/\*route='%2Fcourses%2Ffeatured'\*\/$/, 1, 2],
    [/^SELECT id, title, category, price FROM courses WHERE id = \$1 \/\*route='%2Fcourses%2Ffeatured'\*\/$/, 1, 50],
  ];
  for (const [re, statements, minCalls] of expectations) {
    const hits = find(re);
    assert.equal(hits.length, statements, `${re} matches ${hits.length} statements:\n${rows.map((r) => r.query).join('\n')}`);
    for (const hit of hits) assert.ok(hit.calls >= minCalls, `${re}: ${hit.calls} calls, expected >= ${minCalls}`);
  }
  // No statement from the API goes untagged (pg_stat_statements keys on the text without comments,
  // so an untagged twin would have been merged; check pg_stat_activity's last statements instead).
  const apps = psql("SELECT DISTINCT application_name FROM pg_stat_activity WHERE usename = 'vedfinance'").split('\n');
  assert.deepEqual(apps, ['vedapi/test-run']);
  const last = psql("SELECT query FROM pg_stat_activity WHERE application_name = 'vedapi/test-run'").split('\n');
  assert.ok(last.every((q) => /\/\*route='%2F[^']*'\*\/$/.test(q)), last.join('\n'));
});

test('logs: one access line per request on stdout and in $DATA_DIR/logs/api.log', async () => {
  const marker = `/courses?category=wealth-management&marker=${crypto.randomBytes(4).toString('hex')}`;
  await api('GET', marker, { headers: { Origin: 'https://app.vedfinance.test' } });
  const re = new RegExp(
    `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} INFO vedapi\\.access 127\\.0\\.0\\.1 "GET ${marker.replace(/[?.]/g, '\\$&')}" 200 \\d+\\.\\dms origin=https://app\\.vedfinance\\.test$`,
  );
  assert.equal(apiLogLines().filter((l) => re.test(l)).length, 1, 'access line in api.log');
  const stdout = docker('logs', API_CTR).stdout.split('\n');
  assert.equal(stdout.filter((l) => re.test(l)).length, 1, 'access line on stdout');
  const all = fs.readFileSync(path.join(E.WORK, 'data', 'logs', 'api.log'), 'utf8') + docker('logs', API_CTR).stdout;
  for (const secret of SECRETS) assert.ok(!all.includes(secret), 'a secret value was logged');
});

// -- dependencies failing --------------------------------------------------------------------------------
test('redis paused: /health 503 naming redis within ~1 s, 200 again after unpause', async () => {
  dockerOk('pause', REDIS_CTR);
  try {
    const r = await health();
    assert.equal(r.status, 503, r.text);
    assert.deepEqual(r.json.failed, ['redis']);
    assert.match(r.json.checks.redis.error, /^TimeoutError: no answer from redis:\/\/127\.0\.0\.1:\d+\/0 within 1s$/);
    assert.ok(r.ms < 2000, `took ${r.ms} ms`);
    const login = await api('POST', '/auth/login', { body: DEMO });
    assert.equal(login.status, 503);
    assert.equal(login.json.error, 'redis unavailable');
    assert.deepEqual(login.json.failed, ['redis']);
  } finally {
    dockerOk('unpause', REDIS_CTR);
  }
  await waitFor('health 200 after redis unpause', async () => (await health()).status === 200, 10000);
});

test('postgres paused: 503 naming postgres (health and pool timeout), recovers after unpause without restart', async () => {
  const before = inspect(API_CTR, '{{.State.StartedAt}} {{.RestartCount}} {{.State.Pid}}');
  dockerOk('pause', PG_CTR);
  let hung = [];
  try {
    const h = await health();
    assert.equal(h.status, 503, h.text);
    assert.deepEqual(h.json.failed, ['postgres']);
    assert.match(h.json.checks.postgres.error, /^(QueryTimeout|PoolTimeout|ConnectTimeout)/);
    assert.ok(h.ms <= 2800, `health took ${h.ms} ms`);
    state.pgPausedHealthMs = h.ms;
    // More concurrent requests than the pool holds: the ones waiting longer than DB_POOL_TIMEOUT
    // for a connection get 503 naming postgres.
    const t0 = Date.now();
    hung = Array.from({ length: DB_POOL_MAX + 2 }, () =>
      api('GET', '/courses?category=bonds', { timeoutMs: 20000 }).then((r) => ({ ...r, at: Date.now() - t0 })),
    );
    const first503 = await Promise.race(
      hung.map((p) => p.then((r) => (r.status === 503 ? r : new Promise(() => {})))).concat(sleep(8000).then(() => null)),
    );
    assert.ok(first503, 'no 503 within 8 s');
    assert.deepEqual(first503.json.failed, ['postgres']);
    assert.equal(first503.json.error, 'postgres unavailable');
    assert.ok(first503.at >= DB_POOL_TIMEOUT_S * 1000 - 200, `503 after ${first503.at} ms, before DB_POOL_TIMEOUT`);
    await sleep(1000);
  } finally {
    dockerOk('unpause', PG_CTR);
  }
  const results = await Promise.all(hung);
  const details = results.filter((r) => r.status === 503).map((r) => r.json.detail);
  assert.ok(details.some((d) => /^PoolTimeout: no connection within 2s \(pool max 3,/.test(d)), details.join('\n'));
  assert.ok(results.every((r) => r.status === 200 || r.status === 503), results.map((r) => r.status).join(','));
  const t0 = Date.now();
  await waitFor('health 200 after postgres unpause', async () => (await health()).status === 200, 15000, 200);
  state.pgRecoveryMs = Date.now() - t0;
  assert.equal(inspect(API_CTR, '{{.State.StartedAt}} {{.RestartCount}} {{.State.Pid}}'), before, 'the API was restarted');
  assert.equal((await api('GET', '/courses?category=bonds')).status, 200);
});

test('dependencies down at start: serves 503 naming postgres and redis; Stripe unreachable 502', async () => {
  const name = `${PREFIX}down`;
  removeContainer(name);
  dockerOk(
    'run', '-d', '--name', name, '--network', 'host',
    ...apiEnv({
      API_PORT: '13003',
      DATABASE_URL: `postgresql://vedfinance:${E.APP_PASSWORD}@127.0.0.1:1/vedfinance`,
      REDIS_URL: 'redis://127.0.0.1:2/0',
      STRIPE_API_BASE: 'http://127.0.0.1:3',
    }),
    E.IMAGE,
  );
  try {
    const base = 'http://127.0.0.1:13003';
    const h = await waitFor('down API answers', async () => request(base, 'GET', '/health'), 15000);
    assert.equal(h.status, 503);
    assert.deepEqual(h.json.failed, ['postgres', 'redis']);
    assert.match(h.json.checks.postgres.error, /ECONNREFUSED 127\.0\.0\.1:1/);
    assert.match(h.json.checks.redis.error, /^ConnectionError: not connected to redis:\/\/127\.0\.0\.1:2\/0/);
    assert.equal(h.json.checks.data_dir.ok, true);
    const login = await request(base, 'POST', '/auth/login', { body: DEMO });
    assert.equal(login.status, 503);
    assert.deepEqual(login.json.failed, ['postgres']);
    const pay = await request(base, 'POST', '/payments', { body: { amount: 500 } });
    assert.equal(pay.status, 502);
    assert.equal(pay.json.error, 'stripe unreachable');
    assert.equal(pay.json.upstream, 'stripe');
    assert.match(docker('logs', name).stdout, /ERROR vedapi stripe unreachable at http:\/\/127\.0\.0\.1:3: /);
  } finally {
    removeContainer(name);
  }
});

// -- diagnostics signals -----------------------------------------------------------------------------------
test('SIGUSR2 writes a V8 heap snapshot into $DATA_DIR/diagnostics', async () => {
  const before = new Set(diagnosticsFiles());
  dockerOk('kill', '--signal', 'SIGUSR2', API_CTR);
  const file = await waitFor(
    'heap snapshot file',
    async () => diagnosticsFiles().find((f) => !before.has(f) && f.endsWith('.heapsnapshot')),
    30000,
  );
  // Written synchronously by the main thread: once /health answers again, the file is complete.
  await waitFor('health after snapshot', async () => (await health()).status === 200, 30000);
  const text = dockerOk('exec', API_CTR, 'cat', `/data/diagnostics/${file}`);
  const snapshot = JSON.parse(text);
  assert.ok(snapshot.snapshot.node_count > 1000, 'snapshot has nodes');
  assert.match(file, /^Heap\.\d{8}\.\d{6}\.1\.0\.\d{3}\.heapsnapshot$/);
  state.heapSnapshotMb = Math.round(text.length / 1e5) / 10;
});

test('SIGUSR1 writes a Node diagnostic report into $DATA_DIR/diagnostics (the inspector stays off)', async () => {
  const before = new Set(diagnosticsFiles());
  dockerOk('kill', '--signal', 'SIGUSR1', API_CTR);
  const file = await waitFor(
    'report file',
    async () => diagnosticsFiles().find((f) => !before.has(f) && /^report\..*\.json$/.test(f)),
    20000,
  );
  await sleep(500);
  const report = JSON.parse(dockerOk('exec', API_CTR, 'cat', `/data/diagnostics/${file}`));
  assert.equal(report.header.event, 'SIGUSR1');
  assert.equal(report.header.trigger, 'Signal');
  assert.equal(report.header.processId, 1);
  assert.ok(Array.isArray(report.libuv) && report.libuv.length > 0);
  assert.equal((await health()).status, 200, 'API still serving');
  const inspector = spawnSync('ss', ['-ltnH', 'sport = :9229'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(inspector, '', 'SIGUSR1 must not open the inspector on 9229');
});

// -- memory leaks ------------------------------------------------------------------------------------------
// Each kind leaks in a fresh API container (256m, port 13002): memory that malloc or V8 already
// holds from earlier work (a heap snapshot, say) would be reused and hide the growth from the cgroup.
async function withFreshApi(fn) {
  const name = `${PREFIX}leak`;
  removeContainer(name);
  dockerOk(
    'run', '-d', '--name', name, '--network', 'host', '--memory', '256m', '--memory-swap', '256m',
    ...apiEnv({ API_PORT: '13002', API_VERSION: 'leak-test' }),
    E.IMAGE,
  );
  try {
    const base = 'http://127.0.0.1:13002';
    await waitFor('fresh API healthy', async () => (await request(base, 'GET', '/health')).status === 200, 15000);
    await sleep(1000);
    return await fn(base, name);
  } finally {
    removeContainer(name);
  }
}

// Leak `body` for `seconds`, stop it, and return /health and the container's memory before and after.
async function measureLeak(base, name, body, seconds) {
  const before = (await request(base, 'GET', '/health')).json;
  const memBefore = containerMemMiB(name);
  const on = await request(base, 'POST', '/debug/leak', { body });
  assert.equal(on.status, 200, on.text);
  await sleep(seconds * 1000);
  const field = body.kind === 'cache' ? 'mb_per_sec' : 'per_second';
  const off = await request(base, 'POST', '/debug/leak', { body: { kind: body.kind, [field]: 0 } });
  assert.equal(off.status, 200);
  await sleep(500);
  const after = (await request(base, 'GET', '/health')).json;
  const memAfter = containerMemMiB(name);
  return { before, after, on: on.json, grownMiB: Math.round((memAfter - memBefore) * 10) / 10 };
}

state.leaks = {};

test('leak cache: an unbounded Map grows the V8 heap and the container', async () => {
  await withFreshApi(async (base, name) => {
    const r = await measureLeak(base, name, { kind: 'cache', mb_per_sec: 10 }, 3);
    assert.equal(r.on.leak.kind, 'cache');
    assert.equal(r.on.leak_mb_per_sec, 10);
    const leaked = r.after.leak.cache.mb;
    assert.ok(leaked >= 25, `cache leaked ${leaked} MB`);
    assert.ok(r.after.leak.cache.entries >= 400);
    assert.equal(r.after.leaked_mb, leaked);
    const heapGrowth = Math.round((r.after.memory.heap_used_mb - r.before.memory.heap_used_mb) * 10) / 10;
    assert.ok(heapGrowth >= leaked * 0.8, `heap grew ${heapGrowth} MB for ${leaked} MB leaked`);
    assert.ok(r.grownMiB >= leaked * 0.6, `container grew ${r.grownMiB} MiB for ${leaked} MB leaked`);
    assert.equal(r.after.leak.kind, 'none');
    state.leaks.cache = { leaked_mb: leaked, heap_used_growth_mb: heapGrowth, container_growth_mib: r.grownMiB };
  });
});

test('leak listeners: closures on a long-lived EventEmitter grow external memory and the container', async () => {
  await withFreshApi(async (base, name) => {
    const r = await measureLeak(base, name, { kind: 'listeners', per_second: 100 }, 3);
    assert.equal(r.on.leak.kind, 'listeners');
    const { count, mb: leaked } = r.after.leak.listeners;
    assert.ok(count >= 250, `${count} listeners`);
    const external = Math.round((r.after.memory.array_buffers_mb - r.before.memory.array_buffers_mb) * 10) / 10;
    assert.ok(external >= leaked * 0.9, `arrayBuffers grew ${external} MB for ${leaked} MB`);
    assert.ok(r.grownMiB >= leaked * 0.6, `container grew ${r.grownMiB} MiB for ${leaked} MB`);
    const logs = docker('logs', name);
    assert.ok(!/MaxListenersExceededWarning/.test(logs.stdout + logs.stderr), 'setMaxListeners(0): no warning');
    state.leaks.listeners = { count, leaked_mb: leaked, array_buffers_growth_mb: external, container_growth_mib: r.grownMiB };
  });
});

test('leak connections: never-released pg clients; waiting checkouts pile up and grow memory', async () => {
  await withFreshApi(async (base, name) => {
    const countSql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vedapi/leak-test'";
    const openBefore = Number(psql(countSql));
    const r = await measureLeak(base, name, { kind: 'connections', per_second: 100 }, 3);
    assert.equal(r.on.leak.kind, 'connections');
    const c = r.after.leak.connections;
    assert.equal(c.held, c.pool_max);
    assert.ok(c.waiting >= 200, `${c.waiting} checkouts waiting`);
    const openAfter = Number(psql(countSql));
    assert.ok(openAfter >= openBefore + c.pool_max, `connections ${openBefore} -> ${openAfter}`);
    const idle = Number(psql(`${countSql} AND state = 'idle'`));
    assert.ok(idle >= c.pool_max, `${idle} idle connections`);
    const external = Math.round((r.after.memory.array_buffers_mb - r.before.memory.array_buffers_mb) * 10) / 10;
    assert.ok(external >= c.mb * 0.9, `arrayBuffers grew ${external} MB for ${c.mb} MB`);
    assert.ok(r.grownMiB >= c.mb * 0.6, `container grew ${r.grownMiB} MiB for ${c.mb} MB`);
    assert.equal((await request(base, 'GET', '/health')).status, 200, 'the main pool still works');
    state.leaks.connections = {
      held: c.held,
      waiting: c.waiting,
      leaked_mb: c.mb,
      array_buffers_growth_mb: external,
      container_growth_mib: r.grownMiB,
      pg_connections: `${openBefore} -> ${openAfter}`,
    };
  });
});

test('leak API: {"mb_per_sec": N} without a kind is the cache leak, as in the Python API', async () => {
  const bad = await api('POST', '/debug/leak', { body: { mb_per_sec: -1 } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, { error: 'mb_per_sec must be a number >= 0' });
  const badKind = await api('POST', '/debug/leak', { body: { kind: 'sockets', per_second: 1 } });
  assert.equal(badKind.status, 400);
  assert.deepEqual(badKind.json, { error: 'kind must be one of cache, listeners, connections' });
  const badRate = await api('POST', '/debug/leak', { body: { kind: 'listeners', mb_per_sec: 1 } });
  assert.equal(badRate.status, 400);
  assert.deepEqual(badRate.json, { error: 'per_second must be a number >= 0' });
  const on = await api('POST', '/debug/leak', { body: { mb_per_sec: 1 } });
  assert.equal(on.status, 200);
  assert.deepEqual(Object.keys(on.json), ['leak_mb_per_sec', 'leaked_mb', 'leak']);
  assert.equal(on.json.leak.kind, 'cache');
  assert.equal(on.json.leak_mb_per_sec, 1);
  await sleep(500);
  // Switching on another kind stops the first one.
  const other = await api('POST', '/debug/leak', { body: { kind: 'listeners', per_second: 1 } });
  assert.equal(other.json.leak.kind, 'listeners');
  assert.equal(other.json.leak.cache.mb_per_sec, 0);
  await api('POST', '/debug/leak', { body: { kind: 'listeners', per_second: 0 } });
  const h = (await health()).json;
  assert.equal(h.leak.kind, 'none');
  assert.equal(h.leak_mb_per_sec, 0);
  assert.ok(h.leaked_mb > 0, 'leaked memory is never freed');
});

test('leak to OOM: API_LEAK_MB_PER_SEC=4 in a 128m container ends in an OOM kill (and a bad Stripe key gets 502)', async () => {
  const name = `${PREFIX}oom`;
  removeContainer(name);
  const badKey = 'sk_test_wrongKey0000TAIL';
  const t0 = Date.now();
  // The cache leak starts at boot, as the Python API's API_LEAK_MB_PER_SEC does.
  dockerOk(
    'run', '-d', '--name', name, '--network', 'host', '--memory', '128m', '--memory-swap', '128m',
    ...apiEnv({ API_PORT: '13002', STRIPE_SECRET_KEY: badKey, API_LEAK_MB_PER_SEC: '4' }),
    E.IMAGE,
  );
  try {
    const base = 'http://127.0.0.1:13002';
    const h = await waitFor('oom API healthy', async () => {
      const r = await request(base, 'GET', '/health');
      return r.status === 200 ? r : null;
    }, 15000);
    assert.equal(h.json.leak.kind, 'cache');
    assert.equal(h.json.leak_mb_per_sec, 4);
    const pay = await request(base, 'POST', '/payments', { body: { amount: 500 } });
    assert.equal(pay.status, 502);
    assert.deepEqual(pay.json, {
      error: 'stripe authentication failed: the Stripe API rejected STRIPE_SECRET_KEY',
      upstream: 'stripe',
      stripe_error: 'authentication_error',
    });
    const logs = docker('logs', name).stdout;
    assert.match(logs, /ERROR vedapi stripe authentication failed \(HTTP 401\): Invalid API Key provided: sk_test_\*\*\*\*TAIL; check STRIPE_SECRET_KEY/);
    assert.ok(!logs.includes(badKey), 'the key was logged');

    await waitFor('container killed', async () => inspect(name, '{{.State.Running}}') === 'false', 60000, 250);
    state.oomSecondsAfterRun = Math.round((Date.now() - t0) / 100) / 10;
    assert.equal(inspect(name, '{{.State.OOMKilled}}'), 'true');
    assert.equal(inspect(name, '{{.State.ExitCode}}'), '137');
    assert.ok(state.oomSecondsAfterRun >= 5 && state.oomSecondsAfterRun <= 60, `OOM after ${state.oomSecondsAfterRun} s`);
  } finally {
    removeContainer(name);
  }
});

test('near the V8 heap limit (NODE_HEAP_MB=64) a heap snapshot is written before the heap OOM', async () => {
  const name = `${PREFIX}heap`;
  removeContainer(name);
  const dataDir = path.join(E.WORK, 'data-heap');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  dockerOk(
    'run', '-d', '--name', name, '--network', 'host', '--memory', '512m', '--memory-swap', '512m',
    '-v', `${dataDir}:/data`,
    ...apiEnv({ API_PORT: '13004', NODE_HEAP_MB: '64' }),
    E.IMAGE,
  );
  try {
    const base = 'http://127.0.0.1:13004';
    const h = await waitFor('heap API healthy', async () => {
      const r = await request(base, 'GET', '/health');
      return r.status === 200 ? r : null;
    }, 15000);
    assert.ok(h.json.memory.heap_limit_mb >= 64 && h.json.memory.heap_limit_mb < 128, `limit ${h.json.memory.heap_limit_mb}`);
    const t0 = Date.now();
    await request(base, 'POST', '/debug/leak', { body: { kind: 'cache', mb_per_sec: 8 } });
    await waitFor('container ended', async () => inspect(name, '{{.State.Running}}') === 'false', 90000, 250);
    state.heapOomSeconds = Math.round((Date.now() - t0) / 100) / 10;
    state.heapOomExit = inspect(name, '{{.State.ExitCode}} OOMKilled={{.State.OOMKilled}}');
    const snapshots = fs.readdirSync(path.join(dataDir, 'diagnostics')).filter((f) => f.endsWith('.heapsnapshot'));
    assert.equal(snapshots.length, 1, `snapshots: ${snapshots.join(', ')}`);
    const size = fs.statSync(path.join(dataDir, 'diagnostics', snapshots[0])).size;
    assert.ok(size > 1e6, `snapshot of ${size} bytes`);
    state.nearLimitSnapshotMb = Math.round(size / 1e5) / 10;
    const logs = docker('logs', name);
    assert.match(logs.stdout + logs.stderr, /JavaScript heap out of memory/);
    assert.equal(inspect(name, '{{.State.OOMKilled}}'), 'false', 'V8 ran out of heap before the cgroup limit');
    assert.notEqual(inspect(name, '{{.State.ExitCode}}'), '0');
  } finally {
    removeContainer(name);
  }
});

test('docker stop: SIGTERM is handled, exit 0 in well under a second', () => {
  const t0 = Date.now();
  dockerOk('stop', API_CTR);
  state.stopMs = Date.now() - t0;
  assert.equal(inspect(API_CTR, '{{.State.ExitCode}}'), '0');
  assert.ok(state.stopMs < 3000, `docker stop took ${state.stopMs} ms`);
  assert.match(docker('logs', API_CTR).stdout, /INFO vedapi received SIGTERM, shutting down/);
});

test('measurements (informational)', () => {
  console.log(`measured: ${JSON.stringify(state, (k, v) => (['token', 'claims'].includes(k) ? undefined : v))}`);
});
