'use strict';
// Error types shared by the routes and the dependency wrappers.

// A dependency is down: answered with 503 and the dependency's name (postgres, redis).
class Unavailable extends Error {
  constructor(component, detail) {
    super(`${component}: ${detail}`);
    this.name = 'Unavailable';
    this.component = component;
    this.detail = detail;
  }
}

// A client error with its HTTP status and the Flask-style {"error", "detail"} body.
class HttpError extends Error {
  constructor(status, error, detail) {
    super(detail);
    this.name = 'HttpError';
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

// "<ErrorType>: <message>" on one line, at most 300 characters: what goes into logs and into the
// "error"/"detail" fields. PostgreSQL errors carry their SQLSTATE ("DatabaseError 53300: sorry,
// too many clients already"), which is what a runbook looks up.
function describe(err) {
  if (!err) return 'Error: no detail';
  let type = err.name && err.name !== 'error' ? err.name : 'Error';
  if (err.constructor && err.constructor.name === 'DatabaseError') type = `DatabaseError ${err.code}`;
  const text = String(err.message || err).split(/\s+/).filter(Boolean).join(' ') || 'no detail';
  return `${type}: ${text}`.slice(0, 300);
}

module.exports = { Unavailable, HttpError, describe };
