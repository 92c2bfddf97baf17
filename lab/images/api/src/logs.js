'use strict';
// Logging: every record goes to stdout and is appended to $DATA_DIR/logs/api.log, in the Python
// API's format ("2026-11-26 18:42:57,969 INFO vedapi.access ...") so the runbooks' greps work on
// both.
//
// The file survives the failure modes the drills inject: the log file being deleted or rotated
// (the path is stat'ed before each write and reopened when its inode changed, so a deleted file
// does not keep holding disk space), the directory being removed (it is recreated) and a full or
// read-only disk (the record still reaches stdout and one warning a minute goes to stderr;
// requests never fail because of logging). Writes are synchronous, as in the Python API, so lines
// keep their order and a crash does not lose the last ones.

const fs = require('node:fs');
const path = require('node:path');

const ERROR_REPORT_INTERVAL_MS = 60_000;

class ResilientLogFile {
  constructor(file) {
    this.file = file;
    this.fd = null;
    this.ino = null;
    this.dev = null;
    this.lastErrorAt = -Infinity;
  }

  write(text) {
    try {
      this.reopenIfMoved();
      if (this.fd === null) {
        fs.mkdirSync(path.dirname(this.file), { recursive: true });
        this.fd = fs.openSync(this.file, 'a');
        const st = fs.fstatSync(this.fd);
        this.dev = st.dev;
        this.ino = st.ino;
      }
      fs.writeSync(this.fd, text);
    } catch (err) {
      this.close();
      const now = Date.now();
      if (now - this.lastErrorAt >= ERROR_REPORT_INTERVAL_MS) {
        this.lastErrorAt = now;
        process.stderr.write(`vedapi: cannot write ${this.file}: ${err.message}\n`);
      }
    }
  }

  // Like Python's WatchedFileHandler: a file that was deleted or renamed (logrotate) is closed
  // and the path is opened again.
  reopenIfMoved() {
    if (this.fd === null) return;
    let st = null;
    try {
      st = fs.statSync(this.file);
    } catch {
      st = null;
    }
    if (!st || st.ino !== this.ino || st.dev !== this.dev) this.close();
  }

  close() {
    if (this.fd === null) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // a full disk can also fail the close; the descriptor is gone either way
    }
    this.fd = null;
  }
}

let logFile = null;

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

// Local time, as Python's logging asctime ("%Y-%m-%d %H:%M:%S,mmm").
function timestamp(d = new Date()) {
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},${pad(d.getMilliseconds(), 3)}`
  );
}

function emit(level, name, message) {
  const line = `${timestamp()} ${level} ${name} ${message}\n`;
  process.stdout.write(line);
  if (logFile) logFile.write(line);
}

// A named logger with Python's level names, so "grep ' ERROR vedapi '" finds the same lines.
function getLogger(name) {
  return {
    info: (message) => emit('INFO', name, message),
    warning: (message) => emit('WARNING', name, message),
    error: (message) => emit('ERROR', name, message),
    // The message, then the stack on the following lines (as Python's log.exception does).
    exception: (message, err) => emit('ERROR', name, `${message}\n${(err && err.stack) || err}`),
  };
}

// Start appending to $DATA_DIR/logs/api.log; returns the log file path.
function setup(dataDir) {
  const file = path.join(dataDir, 'logs', 'api.log');
  logFile = new ResilientLogFile(file);
  return file;
}

module.exports = { setup, getLogger };
