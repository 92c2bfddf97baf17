'use strict';
// Entry point (`node src/main.js`, started by the entrypoint with the diagnostics flags): checks
// the configuration, then serves. A configuration error prints one line on stderr and exits 78.

const crypto = require('node:crypto');
const fs = require('node:fs');
const v8 = require('node:v8');
const expressVersion = require('express/package.json').version;
const config = require('./config');
const logs = require('./logs');
const { createApp } = require('./app');
const { Database } = require('./db');
const { Leaks } = require('./leak');
const { generatePasswordHash } = require('./passwords');
const { RedisStore } = require('./redis');

function loadConfigOrExit() {
  try {
    return config.load(process.env);
  } catch (err) {
    if (!(err instanceof config.ConfigError)) throw err;
    process.stderr.write(`vedapi: configuration error: ${err.message}\n`);
    process.exit(config.EX_CONFIG);
  }
  return null; // not reached: process.exit() does not return
}

// Where heap snapshots and reports go (set by the entrypoint's flags), and whether this process
// can write there. Node 18 writes SIGUSR2 snapshots to the working directory and exits when it
// cannot, so an unwritable working directory turns `kill -USR2` into a crash: say so at start.
function describeDiagnostics(log) {
  const flag = (name) => {
    const arg = process.execArgv.find((a) => a.startsWith(`--${name}=`));
    return arg ? arg.slice(name.length + 3) : null;
  };
  const heapLimitMb = Math.round(v8.getHeapStatistics().heap_size_limit / (1024 * 1024));
  const reportSignal = process.execArgv.includes('--report-on-signal') ? flag('report-signal') || 'SIGUSR2' : '-';
  log.info(
    `node ${process.version} pid=${process.pid} heap_limit_mb=${heapLimitMb} cwd=${process.cwd()} ` +
      `diagnostic_dir=${flag('diagnostic-dir') || '-'} report_directory=${flag('report-directory') || '-'} ` +
      `heap_snapshot_signal=${flag('heapsnapshot-signal') || '-'} report_signal=${reportSignal} ` +
      `heapsnapshot_near_heap_limit=${flag('heapsnapshot-near-heap-limit') || '-'}`,
  );
  const dirs = new Set([process.cwd(), flag('diagnostic-dir'), flag('report-directory')].filter(Boolean));
  for (const dir of dirs) {
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      log.warning(
        `diagnostics: ${dir} is not writable (${err.code}): heap snapshots or reports written there fail, ` +
          `and a SIGUSR2 snapshot in an unwritable working directory kills the process; ` +
          `start through the entrypoint, or: mkdir -p ${dir} && chown 10001:10001 ${dir}`,
      );
    }
  }
}

async function main() {
  const cfg = loadConfigOrExit();
  const logFile = logs.setup(cfg.dataDir);
  const log = logs.getLogger('vedapi');
  log.info(`starting vedapi: ${cfg.summary()} log_file=${logFile}`);
  describeDiagnostics(log);
  if (!cfg.jwtSecret) log.error('JWT_SECRET is not set: every login will fail (500) until it is');

  // Log what kills the process (then Node exits, and Docker restarts it if told to).
  process.on('uncaughtExceptionMonitor', (err, origin) => log.exception(`fatal ${origin}`, err));

  const svc = {
    cfg,
    log,
    db: new Database(cfg, log),
    redis: new RedisStore(cfg, log),
    leaks: new Leaks(cfg, logs.getLogger('vedapi.leak')),
    // Computed in the background (one PBKDF2 run) so that it does not delay serving.
    dummyPasswordHash: generatePasswordHash(crypto.randomBytes(16).toString('hex')),
  };
  const app = createApp(svc);
  await svc.redis.waitReady(1000);

  if (cfg.leakMbPerSec > 0) svc.leaks.set('cache', cfg.leakMbPerSec);
  if (cfg.leakAtStart) svc.leaks.set(cfg.leakAtStart.kind, cfg.leakAtStart.rate);

  // As PID 1 in a container, SIGTERM is ignored unless handled: `docker stop` would wait 10 s.
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      log.info(`received ${signal}, shutting down`);
      process.exit(0);
    });
  }

  const server = app.listen(cfg.apiPort, cfg.apiBind);
  server.on('listening', () => {
    log.info(
      `serving on http://${cfg.apiBind}:${cfg.apiPort} (node ${process.version}, express ${expressVersion}); ` +
        `ready ${process.uptime().toFixed(2)} s after start`,
    );
  });
  server.on('error', (err) => {
    log.error(`cannot listen on ${cfg.apiBind}:${cfg.apiPort}: ${err.message}`);
    process.exit(1);
  });
}

main().catch((err) => {
  process.stderr.write(`vedapi: start-up failed: ${(err && err.stack) || err}\n`);
  process.exit(1);
});
