'use strict';
// Redis (login sessions), through ioredis, with the Python API's failure behaviour: 1 s connect and
// command timeouts, so a stopped Redis fails a request at once and a paused (hung) one after 1 s,
// both as a 503 naming redis. ioredis reconnects in the background by itself.

const Redis = require('ioredis');
const { maskUrl } = require('./config');
const { Unavailable, describe } = require('./errors');

const TIMEOUT_MS = 1000;
const RECONNECT_MAX_DELAY_MS = 2000;
const ERROR_LOG_INTERVAL_MS = 30_000; // ioredis retries every 2 s while Redis is down

// ioredis reads redis:// and rediss:// URLs itself; unix:///path?db=N (redis-py's form) becomes
// a socket path option.
function connectionOptions(url) {
  const parsed = new URL(url);
  if (parsed.protocol !== 'unix:') return [url];
  return [{ path: decodeURIComponent(parsed.pathname), db: Number(parsed.searchParams.get('db') || 0) }];
}

class RedisStore {
  constructor(cfg, log) {
    this.log = log;
    this.where = maskUrl(cfg.redisUrl);
    this.lastError = null;
    this.lastErrorLoggedAt = -Infinity;
    this.client = new Redis(...connectionOptions(cfg.redisUrl), {
      connectTimeout: TIMEOUT_MS,
      commandTimeout: TIMEOUT_MS,
      // No offline queue: while Redis is unreachable a command fails at once (503) instead of
      // piling up in memory until the connection is back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 200, RECONNECT_MAX_DELAY_MS),
    });
    this.client.on('error', (err) => {
      this.lastError = err;
      const now = Date.now();
      if (now - this.lastErrorLoggedAt >= ERROR_LOG_INTERVAL_MS) {
        this.lastErrorLoggedAt = now;
        log.warning(`redis ${this.where}: ${describe(err)} (reconnecting in the background)`);
      }
    });
    this.client.on('ready', () => {
      if (this.lastError) log.info(`redis ${this.where}: connection restored`);
      this.lastError = null;
      this.lastErrorLoggedAt = -Infinity;
    });
  }

  // Resolves when connected, or after timeoutMs: start-up waits briefly so that the first
  // /health after `docker run` does not report a connection that is still being opened.
  waitReady(timeoutMs) {
    if (this.client.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // Run fn(client); any Redis failure becomes Unavailable('redis').
  async call(fn) {
    try {
      return await fn(this.client);
    } catch (err) {
      throw new Unavailable('redis', this.describeFailure(err));
    }
  }

  describeFailure(err) {
    if (/enableOfflineQueue/.test(err.message || '')) {
      const cause = this.lastError ? describe(this.lastError) : `connection ${this.client.status}`;
      return `ConnectionError: not connected to ${this.where} (${cause})`;
    }
    if (/Command timed out/.test(err.message || '')) {
      return `TimeoutError: no answer from ${this.where} within ${TIMEOUT_MS / 1000}s`;
    }
    return describe(err);
  }
}

module.exports = { RedisStore };
