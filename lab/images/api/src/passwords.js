'use strict';
// Password hashes in werkzeug's format, which the users table holds (schema.sql seeds one):
//   pbkdf2:<digest>:<iterations>$<salt>$<hex of PBKDF2-HMAC(password, salt)>
// e.g. pbkdf2:sha256:260000$jXvoGDETXqFc3K11$c268cf... (werkzeug 2.2's default). The salt is
// used as its UTF-8 text, the key length is the digest's size. crypto.pbkdf2 runs on libuv's
// thread pool, so a login (about 0.1-0.3 s of CPU) does not block other requests.

const crypto = require('node:crypto');
const { promisify } = require('node:util');

const pbkdf2 = promisify(crypto.pbkdf2);

const DEFAULT_ITERATIONS = 260000; // werkzeug 2.2's default, used when the hash omits the count
const SALT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function parseHash(stored) {
  const [method, salt, hex] = String(stored).split('$');
  if (!method || salt === undefined || !hex) return null;
  const [kind, digest, iterations] = method.split(':');
  if (kind !== 'pbkdf2' || !digest || !crypto.getHashes().includes(digest)) return null;
  const rounds = iterations ? Number.parseInt(iterations, 10) : DEFAULT_ITERATIONS;
  if (!Number.isInteger(rounds) || rounds < 1) return null;
  return { digest, rounds, salt, expected: Buffer.from(hex, 'hex') };
}

// True when `password` matches the werkzeug hash `stored`; false for a mismatch or a hash in a
// format this API does not know (scrypt:, plain text...).
async function checkPasswordHash(stored, password) {
  const parsed = parseHash(stored);
  if (!parsed || parsed.expected.length === 0) return false;
  const actual = await pbkdf2(password, parsed.salt, parsed.rounds, parsed.expected.length, parsed.digest);
  return crypto.timingSafeEqual(actual, parsed.expected);
}

// A werkzeug-style hash of a random password, as generate_password_hash() would make it.
async function generatePasswordHash(password, rounds = DEFAULT_ITERATIONS) {
  const bytes = crypto.randomBytes(16);
  const salt = Array.from(bytes, (b) => SALT_CHARS[b % SALT_CHARS.length]).join('');
  const key = await pbkdf2(password, salt, rounds, 32, 'sha256');
  return `pbkdf2:sha256:${rounds}$${salt}$${key.toString('hex')}`;
}

module.exports = { checkPasswordHash, generatePasswordHash };
