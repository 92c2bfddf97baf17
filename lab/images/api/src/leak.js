'use strict';
// Deliberate memory leaks for the OOM drills: the three causes that the memory-leak runbook must
// tell apart. Each is a real leak of its kind, made the way application code makes it, and grows
// the process until the container's memory limit. All are off by default; one kind leaks at a
// time (switching a kind on stops the others), and nothing already leaked is ever freed.
//
//   cache        an unbounded in-process Map (a response cache whose keys never repeat); its
//                entries are 64 KiB strings, so it grows the V8 heap (heapUsed). With
//                NODE_HEAP_MB below the container limit, V8 hits its heap limit first: a heap
//                snapshot is written near the limit, then "JavaScript heap out of memory".
//   listeners    a listener added to a long-lived EventEmitter on every tick and never removed;
//                each closure holds a 100 KiB Buffer, so the growth is outside the heap
//                (external / arrayBuffers) and ends in a cgroup OOM kill.
//   connections  pg clients checked out of a separate pg.Pool (max 10, pg's default) and never
//                released. Once the 10 connections are held, every further checkout waits
//                forever (pg's default connectionTimeoutMillis is 0), keeping its caller's
//                64 KiB request context alive, as hung requests keep theirs: the pool's queue
//                grows until the OOM kill, while PostgreSQL shows 10 idle connections from
//                this API on top of its main pool.
//
// A timer adds the leak ten times a second, at the configured rate.

const { EventEmitter } = require('node:events');
const pg = require('pg');
const { describe } = require('./errors');

const MB = 1024 * 1024;
const TICK_MS = 100;
const CACHE_ENTRY_BYTES = 64 * 1024;
const LISTENER_BYTES = 100 * 1024;
const CONNECTION_CONTEXT_BYTES = 64 * 1024;
const LEAK_POOL_MAX = 10;
const FAILURE_LOG_INTERVAL_MS = 10_000;

const KINDS = ['cache', 'listeners', 'connections'];

function round1(n) {
  return Math.round(n * 10) / 10;
}

class Leaks {
  constructor(cfg, log) {
    this.cfg = cfg;
    this.log = log;
    this.kind = 'none';
    this.rate = 0; // MB/s for cache, items per second for listeners and connections
    this.carry = 0; // fractional items owed from earlier ticks
    this.seq = 0;
    this.timer = null;

    this.responseCache = new Map();
    this.cacheBytes = 0;
    this.scratch = Buffer.alloc(CACHE_ENTRY_BYTES);

    this.settingsEvents = new EventEmitter();
    this.settingsEvents.setMaxListeners(0); // no MaxListenersExceededWarning: let it grow silently
    this.listenerBytes = 0;

    this.leakPool = null; // created on first use, so an idle API opens no extra connection
    this.heldClients = [];
    this.waitingCheckouts = 0;
    this.failedCheckouts = 0;
    this.lastFailureLogAt = -Infinity;
  }

  // Set the rate of `kind` (0 stops it); any other kind that was leaking stops.
  set(kind, rate) {
    if (!KINDS.includes(kind)) throw new Error(`unknown leak kind ${kind}`);
    if (rate > 0) {
      if (this.kind !== kind) this.carry = 0;
      this.kind = kind;
      this.rate = rate;
      if (!this.timer) this.timer = setInterval(() => this.tick(), TICK_MS);
    } else if (this.kind === kind) {
      this.kind = 'none';
      this.rate = 0;
      clearInterval(this.timer);
      this.timer = null;
    }
    const unit = kind === 'cache' ? 'MB/s' : 'per second';
    this.log.warning(
      `memory leak ${kind} set to ${rate} ${unit} (leaked so far: ${this.leakedMb().toFixed(0)} MB in all kinds)`,
    );
  }

  tick() {
    const perSecond = this.kind === 'cache' ? (this.rate * MB) / CACHE_ENTRY_BYTES : this.rate;
    this.carry += (perSecond * TICK_MS) / 1000;
    const count = Math.floor(this.carry);
    this.carry -= count;
    for (let i = 0; i < count; i += 1) {
      this.seq += 1;
      if (this.kind === 'cache') this.addCacheEntry();
      else if (this.kind === 'listeners') this.addListener();
      else if (this.kind === 'connections') this.checkOutAndForget();
    }
  }

  addCacheEntry() {
    // latin1 decoding copies the bytes into a new, flat V8 string: real, touched heap memory.
    const body = this.scratch.fill(97 + (this.seq % 26)).toString('latin1');
    this.responseCache.set(`GET /courses?page=${this.seq}`, { storedAt: Date.now(), body });
    this.cacheBytes += CACHE_ENTRY_BYTES;
  }

  addListener() {
    // fill() writes every page, so the buffer counts in RSS and in the cgroup, not just reserved.
    const snapshot = Buffer.allocUnsafe(LISTENER_BYTES).fill(this.seq % 256);
    this.settingsEvents.on('settings-changed', () => snapshot.length);
    this.listenerBytes += LISTENER_BYTES;
  }

  checkOutAndForget() {
    if (!this.leakPool) {
      this.leakPool = new pg.Pool({
        connectionString: this.cfg.databaseUrl,
        application_name: `vedapi/${this.cfg.apiVersion}`,
        max: LEAK_POOL_MAX,
      });
      this.leakPool.on('error', () => {}); // held clients are never idle; absorb socket errors
    }
    const context = Buffer.allocUnsafe(CONNECTION_CONTEXT_BYTES).fill(this.seq % 256);
    this.waitingCheckouts += 1;
    this.leakPool.connect().then(
      (client) => {
        this.waitingCheckouts -= 1;
        client.on('error', () => {});
        this.heldClients.push({ client, context }); // never released
      },
      (err) => {
        this.waitingCheckouts -= 1;
        this.failedCheckouts += 1;
        const now = Date.now();
        if (now - this.lastFailureLogAt >= FAILURE_LOG_INTERVAL_MS) {
          this.lastFailureLogAt = now;
          this.log.warning(`leak pool: checkout failed (${describe(err)}); ${this.failedCheckouts} failed so far`);
        }
      },
    );
  }

  connectionBytes() {
    return (this.heldClients.length + this.waitingCheckouts) * CONNECTION_CONTEXT_BYTES;
  }

  leakedMb() {
    return (this.cacheBytes + this.listenerBytes + this.connectionBytes()) / MB;
  }

  // The active kind's rate in MB/s (what the Python API's leak_mb_per_sec meant).
  rateMbPerSec() {
    if (this.kind === 'cache') return this.rate;
    if (this.kind === 'listeners') return round1((this.rate * LISTENER_BYTES) / MB);
    if (this.kind === 'connections') return round1((this.rate * CONNECTION_CONTEXT_BYTES) / MB);
    return 0;
  }

  status() {
    const rateOf = (kind) => (this.kind === kind ? this.rate : 0);
    return {
      kind: this.kind,
      cache: {
        mb_per_sec: rateOf('cache'),
        entries: this.responseCache.size,
        mb: round1(this.cacheBytes / MB),
      },
      listeners: {
        per_second: rateOf('listeners'),
        count: this.settingsEvents.listenerCount('settings-changed'),
        mb: round1(this.listenerBytes / MB),
      },
      connections: {
        per_second: rateOf('connections'),
        pool_max: LEAK_POOL_MAX,
        held: this.heldClients.length,
        waiting: this.waitingCheckouts,
        failed: this.failedCheckouts,
        mb: round1(this.connectionBytes() / MB),
      },
    };
  }
}

module.exports = { Leaks, KINDS };
