'use strict';
// Configuration from environment variables (see ../README.md for the full list).
//
// Secrets are read here and never logged or echoed: they are non-enumerable properties, so even
// a stray console.log(cfg) or JSON.stringify(cfg) leaves them out, and summary() is the only view
// of the configuration that is ever printed.

const net = require('node:net');
const { parse: parsePgConnectionString } = require('pg-connection-string');

const EX_CONFIG = 78; // sysexits.h: configuration error

// JWT_SECRET is not among them, as in production's API: without it the API starts, serves
// everything else, and every login fails with a 500 (the p1-login-failure runbook's first cause).
const REQUIRED_SECRETS = ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'];

const DEFAULTS = {
  API_PORT: '3001',
  API_BIND: '127.0.0.1',
  DATABASE_URL: 'postgresql://vedfinance@127.0.0.1:5432/vedfinance',
  DB_POOL_MAX: '5',
  DB_POOL_TIMEOUT: '3',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  CORS_ORIGINS: '',
  STRIPE_API_BASE: 'http://127.0.0.1:12111',
  DATA_DIR: '/data',
  API_VERSION: 'dev',
  API_LEAK_MB_PER_SEC: '0',
  API_LEAK: '',
  // The entrypoint turns this into --max-old-space-size; read here only to check and log it.
  NODE_HEAP_MB: '192',
};

class ConfigError extends Error {}

// Python-style quoting ('value'), as the Python API prints values in its configuration errors.
function quote(value) {
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

// True for an empty host (local default), a unix socket path, `localhost` or a 127/8 or ::1
// literal. Names are never resolved: a DNS lookup would itself leave loopback.
function isLoopbackHost(host) {
  if (!host) return true;
  const h = String(host).trim().replace(/^\[/, '').replace(/\]$/, '');
  if (h.startsWith('/') || h.toLowerCase() === 'localhost') return true;
  if (net.isIPv4(h)) return LOOPBACK.check(h, 'ipv4');
  if (net.isIPv6(h)) return LOOPBACK.check(h, 'ipv6');
  return false;
}

// The URL with any password replaced by `***` (safe to log).
function maskUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparseable>';
  }
  if (!parsed.password) return url;
  parsed.password = '***';
  return parsed.toString();
}

// Python prints floats as 3.0; keep the start-up line identical for integral values.
function formatNumber(n) {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function rawValue(env, name) {
  return (env[name] || DEFAULTS[name]).trim();
}

function parseInteger(env, name, lo, hi) {
  const raw = rawValue(env, name);
  if (!/^[+-]?\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got ${quote(raw)}`);
  const value = Number.parseInt(raw, 10);
  if (value < lo || value > hi) throw new ConfigError(`${name} must be between ${lo} and ${hi}, got ${value}`);
  return value;
}

// API_LEAK=<kind>:<rate> (cache:4, listeners:100, connections:50): a leak from the start, as a
// release whose code leaks brings it back after every restart.
function parseLeak(env) {
  const raw = rawValue(env, 'API_LEAK').trim();
  if (!raw) return null;
  const match = /^(cache|listeners|connections):(\d+(\.\d+)?)$/.exec(raw);
  if (!match || !(Number(match[2]) > 0)) {
    throw new ConfigError(`API_LEAK must be <cache|listeners|connections>:<rate > 0>, got ${quote(raw)}`);
  }
  return { kind: match[1], rate: Number(match[2]) };
}

function parseNumber(env, name, lo) {
  const raw = rawValue(env, name);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) {
    throw new ConfigError(`${name} must be a number, got ${quote(raw)}`);
  }
  const value = Number(raw);
  if (value < lo) throw new ConfigError(`${name} must be >= ${lo}, got ${value}`);
  return value;
}

// The PostgreSQL host(s) of DATABASE_URL. node-postgres only takes URLs (postgresql://, or
// socket:/path), not libpq's key=value strings, so anything else is refused here rather than
// misread later. The URL itself is never echoed: it may hold the password.
function databaseHosts(url) {
  if (!/^(postgres|postgresql):\/\//i.test(url) && !/^socket:/i.test(url)) {
    throw new ConfigError(
      'DATABASE_URL must be a postgresql:// URL (node-postgres does not read key=value connection strings), ' +
        'e.g. postgresql://vedfinance:PASS@127.0.0.1:5432/vedfinance',
    );
  }
  let params;
  try {
    params = parsePgConnectionString(url);
  } catch (err) {
    throw new ConfigError(`DATABASE_URL is not a valid PostgreSQL URL (${err.message})`);
  }
  return String(params.host || '')
    .split(',')
    .filter(Boolean);
}

function defineSecret(target, name, value) {
  Object.defineProperty(target, name, { value, enumerable: false });
}

// Read and validate the configuration. Throws ConfigError with a one-line message.
function load(env = process.env) {
  const missing = REQUIRED_SECRETS.filter((name) => !(env[name] || '').trim());
  if (missing.length) {
    throw new ConfigError(`missing required environment variable(s): ${missing.join(', ')} (refusing to start)`);
  }

  const cfg = {
    apiPort: parseInteger(env, 'API_PORT', 1, 65535),
    apiBind: rawValue(env, 'API_BIND'),
    dbPoolMax: parseInteger(env, 'DB_POOL_MAX', 1, 100),
    dbPoolTimeout: parseNumber(env, 'DB_POOL_TIMEOUT', 0.1),
    corsOrigins: rawValue(env, 'CORS_ORIGINS')
      .split(',')
      .map((o) => o.trim().replace(/\/+$/, ''))
      .filter(Boolean),
    stripeApiBase: rawValue(env, 'STRIPE_API_BASE').replace(/\/+$/, ''),
    dataDir: rawValue(env, 'DATA_DIR'),
    apiVersion: rawValue(env, 'API_VERSION'),
    leakMbPerSec: parseNumber(env, 'API_LEAK_MB_PER_SEC', 0),
    leakAtStart: parseLeak(env),
    nodeHeapMb: parseInteger(env, 'NODE_HEAP_MB', 32, 65536),
  };
  // URLs that may carry a password are secrets too: summary() prints them masked.
  defineSecret(cfg, 'databaseUrl', rawValue(env, 'DATABASE_URL'));
  defineSecret(cfg, 'redisUrl', rawValue(env, 'REDIS_URL'));
  defineSecret(cfg, 'jwtSecret', (env.JWT_SECRET || '').trim() ? env.JWT_SECRET : '');
  defineSecret(cfg, 'stripeSecretKey', env.STRIPE_SECRET_KEY.trim());
  defineSecret(cfg, 'stripeWebhookSecret', env.STRIPE_WEBHOOK_SECRET.trim());

  // Lab network rule: nothing talks to, or listens on, anything but 127.0.0.0/8.
  if (!isLoopbackHost(cfg.apiBind) || cfg.apiBind.startsWith('/')) {
    throw new ConfigError(`API_BIND must be a loopback address (lab network rule), got ${quote(cfg.apiBind)}`);
  }
  for (const host of databaseHosts(cfg.databaseUrl)) {
    if (!isLoopbackHost(host)) {
      throw new ConfigError(`DATABASE_URL host must be loopback (lab network rule), got ${quote(host)}`);
    }
  }
  let redis;
  try {
    redis = new URL(cfg.redisUrl);
  } catch {
    throw new ConfigError('REDIS_URL is not a valid URL, e.g. redis://127.0.0.1:6379/0');
  }
  const redisScheme = redis.protocol.replace(/:$/, '');
  if (!['redis', 'rediss', 'unix'].includes(redisScheme)) {
    throw new ConfigError(`REDIS_URL must be redis://, rediss:// or unix://, got ${quote(redisScheme)}`);
  }
  if (redisScheme !== 'unix' && !isLoopbackHost(redis.hostname)) {
    throw new ConfigError(`REDIS_URL host must be loopback (lab network rule), got ${quote(redis.hostname)}`);
  }
  let stripe;
  try {
    stripe = new URL(cfg.stripeApiBase);
  } catch {
    stripe = null;
  }
  if (!stripe || !['http:', 'https:'].includes(stripe.protocol) || !stripe.hostname) {
    throw new ConfigError(`STRIPE_API_BASE must be an http(s) URL, got ${quote(cfg.stripeApiBase)}`);
  }
  if (!isLoopbackHost(stripe.hostname)) {
    throw new ConfigError(`STRIPE_API_BASE host must be loopback (lab network rule), got ${quote(stripe.hostname)}`);
  }

  // One line describing the configuration, without any secret value.
  cfg.summary = () =>
    `version=${cfg.apiVersion} bind=${cfg.apiBind}:${cfg.apiPort} ` +
    `db=${maskUrl(cfg.databaseUrl)} pool_max=${cfg.dbPoolMax} ` +
    `pool_timeout=${formatNumber(cfg.dbPoolTimeout)}s redis=${maskUrl(cfg.redisUrl)} ` +
    `stripe_api_base=${cfg.stripeApiBase} cors_origins=${cfg.corsOrigins.join(',') || '-'} ` +
    `data_dir=${cfg.dataDir} leak_mb_per_sec=${formatNumber(cfg.leakMbPerSec)} ` +
    `leak=${cfg.leakAtStart ? `${cfg.leakAtStart.kind}:${cfg.leakAtStart.rate}` : '-'} node_heap_mb=${cfg.nodeHeapMb} ` +
    `jwt_secret=${cfg.jwtSecret ? 'set' : 'MISSING'}`;
  return Object.freeze(cfg);
}

module.exports = { EX_CONFIG, ConfigError, load, maskUrl, isLoopbackHost };
