'use strict';
// The vedfinance API stand-in: the Express app with the production API's endpoints, JSON shapes
// and failure modes (the same as the Python API in ../api, see ../README.md).

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const jwt = require('jsonwebtoken');
const Stripe = require('stripe');
const { HttpError, Unavailable, describe } = require('./errors');
const { isoTimestamp } = require('./db');
const { health } = require('./health');
const { KINDS } = require('./leak');
const { checkPasswordHash } = require('./passwords');
const { getLogger } = require('./logs');

const log = getLogger('vedapi');
const accessLog = getLogger('vedapi.access');

const TOKEN_TTL = 3600; // seconds: JWT exp and the Redis session TTL
const WEBHOOK_TOLERANCE_S = 300; // Stripe's default clock skew allowance
const JSON_LIMIT = '1mb';

// Flask's default messages, so clients and runbooks see the same 404/405 bodies.
const NOT_FOUND_DETAIL =
  'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.';
const NOT_ALLOWED_DETAIL = 'The method is not allowed for the requested URL.';

const jsonBody = express.json({ limit: JSON_LIMIT });
const rawBody = express.raw({ type: () => true, limit: JSON_LIMIT });

// The request's JSON object body, or a 400 (as Flask's get_json(silent=True) + the dict check).
function body(req) {
  const data = req.body;
  if (!data || typeof data !== 'object' || Array.isArray(data) || Buffer.isBuffer(data)) {
    throw new HttpError(400, 'bad request', 'expected a JSON object body');
  }
  return data;
}

// The first value of a query parameter (Express makes ?a=1&a=2 an array; Flask takes the first).
function queryParam(req, name) {
  const value = req.query[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function isNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

function courseJson(row) {
  return { id: row.id, title: row.title, category: row.category, price: row.price };
}

function paymentJson(row) {
  return {
    id: row.id,
    intent_id: row.intent_id,
    amount: row.amount,
    currency: row.currency,
    status: row.status,
    created_at: isoTimestamp(row.created_at),
    updated_at: isoTimestamp(row.updated_at),
  };
}

function createStripe(cfg) {
  const base = new URL(cfg.stripeApiBase);
  return new Stripe(cfg.stripeSecretKey, {
    // The stand-in (lab/images/stripe) instead of api.stripe.com.
    protocol: base.protocol.replace(/:$/, ''),
    host: base.hostname.replace(/^\[|\]$/g, ''),
    port: Number(base.port) || (base.protocol === 'https:' ? 443 : 80),
    // The API version python3-stripe 5.0 speaks, which the stand-in implements.
    apiVersion: '2022-11-15',
    // No retries (a failure is reported at once, as the drills expect) and no telemetry (no
    // request metrics, and no telemetry id file written into $HOME, which is $DATA_DIR).
    maxNetworkRetries: 0,
    telemetry: false,
    timeout: 10_000,
  });
}

function createApp(svc) {
  const { cfg, db, redis, leaks } = svc;
  const stripe = createStripe(cfg);
  const allowedOrigins = new Set(cfg.corsOrigins);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // Flask's jsonify sends no ETag; a 304 would hide the status in drills

  // -- request log + CORS -----------------------------------------------------------------------
  app.use((req, res, next) => {
    const t0 = process.hrtime.bigint();
    const origin = req.get('Origin');
    // The access line is written as the response is ended, before it is sent (as Flask's
    // after_request does): whoever got the answer finds its line already in the log.
    const end = res.end;
    res.end = function endAndLog(...args) {
      res.end = end;
      const ms = (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);
      accessLog.info(
        `${req.socket.remoteAddress} "${req.method} ${req.originalUrl.replace(/\?$/, '')}" ` +
          `${res.statusCode} ${ms}ms${origin ? ` origin=${origin}` : ''}`,
      );
      return end.apply(this, args);
    };

    const allowed = Boolean(origin) && allowedOrigins.has(origin.replace(/\/+$/, ''));
    if (origin) {
      res.append('Vary', 'Origin');
      if (allowed) {
        // the exact origin, never `*`: the browser sends the login's cookies and Authorization
        res.set('Access-Control-Allow-Origin', origin);
        res.set('Access-Control-Allow-Credentials', 'true');
      }
    }
    if (req.method === 'OPTIONS' && origin && req.get('Access-Control-Request-Method')) {
      if (allowed) {
        res.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        res.set('Access-Control-Allow-Headers', req.get('Access-Control-Request-Headers') || 'Authorization, Content-Type');
        res.set('Access-Control-Max-Age', '600');
      }
      res.status(204).end();
      return;
    }
    next();
  });

  // Each path answers its own methods; any other gets Flask's 405 (and OPTIONS its Allow list).
  function route(path, method, ...handlers) {
    const allow = method === 'get' ? 'GET, HEAD, OPTIONS' : 'OPTIONS, POST';
    app
      .route(path)
      [method](...handlers)
      .all((req, res) => {
        res.set('Allow', allow);
        if (req.method === 'OPTIONS') {
          res.status(200).end();
          return;
        }
        res.status(405).json({ error: 'method not allowed', detail: NOT_ALLOWED_DETAIL });
      });
  }

  // -- health -----------------------------------------------------------------------------------
  route('/health', 'get', async (req, res) => {
    const result = await health(svc, req);
    res.status(result.status).json(result.body);
  });

  // -- auth -------------------------------------------------------------------------------------
  // A hash (a promise of one) to check against when the email is unknown, so both cases cost one
  // PBKDF2 run and the timing does not reveal whether the user exists.
  const dummyHash = svc.dummyPasswordHash;

  route('/auth/login', 'post', jsonBody, async (req, res) => {
    const data = body(req);
    let { email } = data;
    const { password } = data;
    if (typeof email !== 'string' || typeof password !== 'string' || !email || !password) {
      res.status(400).json({ error: 'email and password are required' });
      return;
    }
    email = email.trim().toLowerCase();
    const row = await db.run(req, async (c) => {
      const result = await c.query('SELECT id, email, password_hash FROM users WHERE email = $1', [email]);
      return result.rows[0];
    });
    const ok = await checkPasswordHash(row ? row.password_hash : await dummyHash, password);
    if (!row || !ok) {
      log.info(`login refused for ${email}`);
      res.status(401).json({ error: 'invalid credentials' });
      return;
    }
    if (!cfg.jwtSecret) {
      // as jsonwebtoken itself refuses: "secretOrPrivateKey must have a value"
      log.error('login failed for ' + email + ': JWT_SECRET is not set (secretOrPrivateKey must have a value)');
      res.status(500).json({ error: 'login unavailable', detail: 'token signing is not configured' });
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const jti = crypto.randomUUID().replace(/-/g, '');
    const claims = { sub: String(row.id), email: row.email, iat: now, exp: now + TOKEN_TTL, jti };
    const token = jwt.sign(claims, cfg.jwtSecret, { algorithm: 'HS256' });
    const session = JSON.stringify({ user_id: row.id, email: row.email, iat: now });
    await redis.call((r) => r.set(`session:${jti}`, session, 'EX', TOKEN_TTL));
    log.info(`login ok for user ${row.id} (session ${jti})`);
    res.json({ token, token_type: 'Bearer', expires_in: TOKEN_TTL });
  });

  // The verified claims of the bearer token whose Redis session still exists, or the reason why not.
  async function currentClaims(req) {
    const header = req.get('Authorization') || '';
    const space = header.indexOf(' ');
    const scheme = space < 0 ? header : header.slice(0, space);
    const token = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme.toLowerCase() !== 'bearer' || !token) return { why: 'missing bearer token' };
    let claims;
    if (!cfg.jwtSecret) return { why: 'invalid token (token signing is not configured)' };
    try {
      claims = jwt.verify(token, cfg.jwtSecret, { algorithms: ['HS256'] });
    } catch (err) {
      return { why: `invalid token (${err.name}: ${err.message})` };
    }
    if (!claims || typeof claims !== 'object' || ['exp', 'sub', 'jti'].some((k) => claims[k] === undefined)) {
      return { why: 'invalid token (MissingRequiredClaimError: exp, sub and jti are required)' };
    }
    if (!(await redis.call((r) => r.exists(`session:${claims.jti}`)))) {
      return { why: 'session not found (expired or logged out)' };
    }
    return { claims };
  }

  route('/auth/me', 'get', async (req, res) => {
    const { claims, why } = await currentClaims(req);
    if (!claims) {
      res.status(401).json({ error: 'unauthorized', detail: why });
      return;
    }
    res.json({ id: Number.parseInt(claims.sub, 10), email: claims.email ?? null, jti: claims.jti, exp: claims.exp });
  });

  route('/auth/logout', 'post', async (req, res) => {
    const { claims, why } = await currentClaims(req);
    if (!claims) {
      res.status(401).json({ error: 'unauthorized', detail: why });
      return;
    }
    await redis.call((r) => r.del(`session:${claims.jti}`));
    res.json({ logged_out: true });
  });

  // -- payments ---------------------------------------------------------------------------------
  route('/payments', 'post', jsonBody, async (req, res) => {
    const data = body(req);
    const { amount, email } = data;
    let currency = data.currency === undefined ? 'usd' : data.currency;
    if (!Number.isInteger(amount) || amount <= 0) {
      res.status(400).json({ error: 'amount must be a positive integer (cents)' });
      return;
    }
    if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
      res.status(400).json({ error: 'currency must be a 3-letter ISO code' });
      return;
    }
    if (email !== undefined && email !== null && typeof email !== 'string') {
      res.status(400).json({ error: 'email must be a string' });
      return;
    }
    currency = currency.toLowerCase();
    const params = { amount, currency };
    if (email) Object.assign(params, { receipt_email: email, metadata: { email } });
    let intent;
    try {
      intent = await stripe.paymentIntents.create(params);
    } catch (err) {
      if (err instanceof Stripe.errors.StripeAuthenticationError) {
        // Stripe's message shows only the key's last 4 characters; the key itself is never logged.
        log.error(`stripe authentication failed (HTTP ${err.statusCode}): ${err.message}; check STRIPE_SECRET_KEY`);
        res.status(502).json({
          error: 'stripe authentication failed: the Stripe API rejected STRIPE_SECRET_KEY',
          upstream: 'stripe',
          stripe_error: 'authentication_error',
        });
        return;
      }
      if (err instanceof Stripe.errors.StripeConnectionError) {
        log.error(`stripe unreachable at ${cfg.stripeApiBase}: ${err.message}`);
        res.status(502).json({ error: 'stripe unreachable', upstream: 'stripe', detail: err.message });
        return;
      }
      if (err instanceof Stripe.errors.StripeError) {
        log.error(`stripe error ${err.type} (HTTP ${err.statusCode}): ${err.message}`);
        res.status(502).json({ error: `stripe error: ${err.message}`, upstream: 'stripe', stripe_error: err.type });
        return;
      }
      throw err;
    }
    // The webhook may already have arrived (auto-confirm): never downgrade a paid record.
    const row = await db.run(req, async (c) => {
      const result = await c.query(
        "INSERT INTO payments (intent_id, amount, currency, status) VALUES ($1, $2, $3, 'pending') " +
          'ON CONFLICT (intent_id) DO UPDATE ' +
          'SET amount = EXCLUDED.amount, currency = EXCLUDED.currency ' +
          'RETURNING id, status',
        [intent.id, amount, currency],
      );
      return result.rows[0];
    });
    log.info(`payment ${row.id} created: intent ${intent.id}, ${amount} ${currency}`);
    res.status(201).json({ id: row.id, intent_id: intent.id, client_secret: intent.client_secret, status: row.status });
  });

  route('/payments/:intent_id', 'get', async (req, res) => {
    const intentId = req.params.intent_id;
    const row = await db.run(req, async (c) => {
      const result = await c.query(
        'SELECT id, intent_id, amount, currency, status, created_at, updated_at FROM payments WHERE intent_id = $1',
        [intentId],
      );
      return result.rows[0];
    });
    if (!row) {
      res.status(404).json({ error: 'payment not found', intent_id: intentId });
      return;
    }
    res.json(paymentJson(row));
  });

  route('/webhooks/stripe', 'post', rawBody, async (req, res) => {
    const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let event;
    try {
      const signature = req.get('Stripe-Signature') || '';
      event = stripe.webhooks.constructEvent(payload, signature, cfg.stripeWebhookSecret, WEBHOOK_TOLERANCE_S);
    } catch (err) {
      if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
        log.warning(`stripe webhook rejected: ${err.message} (check STRIPE_WEBHOOK_SECRET)`);
        res.status(400).json({ error: 'invalid signature' });
        return;
      }
      if (err instanceof SyntaxError) {
        log.warning('stripe webhook rejected: payload is not valid JSON');
        res.status(400).json({ error: 'invalid payload' });
        return;
      }
      throw err;
    }
    if (!event || typeof event !== 'object' || typeof event.type !== 'string') {
      log.warning('stripe webhook rejected: payload is not a Stripe event');
      res.status(400).json({ error: 'invalid payload' });
      return;
    }
    const obj = (event.data && event.data.object) || {};
    if (!['id', 'amount', 'currency'].every((key) => typeof obj === 'object' && key in obj)) {
      log.warning(`stripe webhook ${event.id} rejected: the payment intent lacks id, amount or currency`);
      res.status(400).json({ error: 'malformed event: data.object needs id, amount and currency' });
      return;
    }
    if (typeof event.id !== 'string' || !event.id) {
      log.warning('stripe webhook rejected: the event has no id');
      res.status(400).json({ error: 'malformed event: no id' });
      return;
    }
    let sql;
    if (event.type === 'payment_intent.succeeded') {
      sql =
        "INSERT INTO payments (intent_id, amount, currency, status) VALUES ($1, $2, $3, 'paid') " +
        "ON CONFLICT (intent_id) DO UPDATE SET status = 'paid', updated_at = now() " +
        "WHERE payments.status <> 'paid'";
    } else if (event.type === 'payment_intent.payment_failed') {
      sql =
        "INSERT INTO payments (intent_id, amount, currency, status) VALUES ($1, $2, $3, 'failed') " +
        "ON CONFLICT (intent_id) DO UPDATE SET status = 'failed', updated_at = now() " +
        "WHERE payments.status NOT IN ('paid', 'failed')";
    } else {
      log.info(`stripe webhook ${event.id} (${event.type}) ignored`);
      res.json({ received: true });
      return;
    }
    // Each event id is recorded once, in the same transaction as its payment: a resent or
    // retried event changes nothing twice, and an event is never marked seen without its row.
    const outcome = await db.run(req, async (c) => {
      await c.query('BEGIN');
      try {
        const seen = await c.query(
          'INSERT INTO stripe_events (event_id, type, intent_id) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING',
          [event.id, event.type, obj.id],
        );
        if (seen.rowCount === 0) {
          await c.query('ROLLBACK');
          return 'already processed (event seen before, nothing changed)';
        }
        const changed = (await c.query(sql, [obj.id, obj.amount, obj.currency])).rowCount;
        await c.query('COMMIT');
        return changed ? 'recorded' : 'already recorded (no change)';
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
    log.info(`stripe webhook ${event.id} ${event.type} for ${obj.id}: ${outcome}`);
    res.json({ received: true });
  });

  // -- courses ----------------------------------------------------------------------------------
  route('/courses', 'get', async (req, res) => {
    const category = (queryParam(req, 'category') || '').trim();
    if (!category) {
      res.status(400).json({ error: 'category query parameter is required' });
      return;
    }
    const { rows, count, elapsed } = await db.run(req, async (c) => {
      const t0 = process.hrtime.bigint();
      const page = await c.query(
        'SELECT id, title, category, price FROM courses WHERE category = $1 ORDER BY id LIMIT 50',
        [category],
      );
      const total = await c.query('SELECT count(*) FROM courses WHERE category = $1', [category]);
      return { rows: page.rows, count: total.rows[0].count, elapsed: Number(process.hrtime.bigint() - t0) / 1e6 };
    });
    res.json({
      category,
      count,
      returned: rows.length,
      elapsed_ms: Math.round(elapsed * 100) / 100,
      courses: rows.map(courseJson),
    });
  });

  // The newest 25 courses of a category, written as an N+1 ON PURPOSE (the p1-slow-queries drill):
  // one query for the ids, then one query per course, as an ORM's lazy loading does.
  route('/courses/featured', 'get', async (req, res) => {
    const param = queryParam(req, 'category');
    const category = (param === undefined ? 'wealth-management' : param).trim();
    const { rows, elapsed } = await db.run(req, async (c) => {
      const t0 = process.hrtime.bigint();
      const ids = await c.query('SELECT id FROM courses WHERE category = $1 ORDER BY id DESC LIMIT 25', [category]);
      const courses = [];
      for (const { id } of ids.rows) {
        const one = await c.query('SELECT id, title, category, price FROM courses WHERE id = $1', [id]);
        courses.push(one.rows[0]);
      }
      return { rows: courses, elapsed: Number(process.hrtime.bigint() - t0) / 1e6 };
    });
    res.json({
      category,
      returned: rows.length,
      queries: rows.length + 1,
      elapsed_ms: Math.round(elapsed * 100) / 100,
      courses: rows.map(courseJson),
    });
  });

  // -- fault injection --------------------------------------------------------------------------
  // {"kind": "cache", "mb_per_sec": N} | {"kind": "listeners"|"connections", "per_second": N};
  // without a kind, {"mb_per_sec": N} is the cache leak (the Python API's only leak). 0 stops it.
  route('/debug/leak', 'post', jsonBody, (req, res) => {
    const data = body(req);
    const kind = data.kind === undefined ? 'cache' : data.kind;
    if (!KINDS.includes(kind)) {
      res.status(400).json({ error: `kind must be one of ${KINDS.join(', ')}` });
      return;
    }
    const field = kind === 'cache' ? 'mb_per_sec' : 'per_second';
    const rate = data[field];
    if (!isNumber(rate) || rate < 0) {
      res.status(400).json({ error: `${field} must be a number >= 0` });
      return;
    }
    leaks.set(kind, rate);
    res.json({
      leak_mb_per_sec: leaks.rateMbPerSec(),
      leaked_mb: Math.round(leaks.leakedMb() * 10) / 10,
      leak: leaks.status(),
    });
  });

  // -- errors -----------------------------------------------------------------------------------
  app.use((req, res) => {
    res.status(404).json({ error: 'not found', detail: NOT_FOUND_DETAIL });
  });

  // eslint-disable-next-line no-unused-vars -- Express recognises error handlers by their 4 arguments
  app.use((err, req, res, next) => {
    if (err instanceof Unavailable) {
      log.error(`${req.method} ${req.path}: dependency unavailable: ${err.message}`);
      res.status(503).json({ error: `${err.component} unavailable`, failed: [err.component], detail: err.detail });
      return;
    }
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.error, detail: err.detail });
      return;
    }
    if (err.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'bad request', detail: 'expected a JSON object body' });
      return;
    }
    if (err.expose && err.status >= 400 && err.status < 500) {
      // The body parser's other refusals: too large (413), unsupported charset (415)...
      res.status(err.status).json({ error: http.STATUS_CODES[err.status].toLowerCase(), detail: err.message });
      return;
    }
    log.exception(`${req.method} ${req.path}: unhandled error`, err);
    res.status(500).json({ error: 'internal error', detail: describe(err) });
  });

  return app;
}

module.exports = { createApp };
