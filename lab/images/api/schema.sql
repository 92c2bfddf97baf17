-- vedfinance schema and lab seed, as the lab API (vedrun/lab-api) expects it.
--
-- Run it as the owner, in database vedfinance, in autocommit mode (psql's default):
--   psql -v ON_ERROR_STOP=1 -U vedfinance -d vedfinance -f schema.sql
-- It is idempotent: tables and the index are created only when missing, the demo user only when
-- absent, and the 500,000 courses only when the table is empty (1.7-3.4 s on 2 cores).
--
-- Lab-only demo login: demo@vedfinance.test / lab-only-demo-password. The hash below is
-- werkzeug 2.2.2's default generate_password_hash('lab-only-demo-password') (pbkdf2:sha256,
-- 260000 iterations), computed once in vedrun/lab-api:dev; it is not a production credential.

CREATE TABLE IF NOT EXISTS users (
    id            serial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL
);

CREATE TABLE IF NOT EXISTS payments (
    id         serial PRIMARY KEY,
    intent_id  text NOT NULL UNIQUE,
    amount     integer NOT NULL CHECK (amount > 0),
    currency   text NOT NULL,
    status     text NOT NULL DEFAULT 'pending',   -- pending | paid | failed
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Each Stripe event the webhook handler has processed, once (a resent event changes nothing twice).
CREATE TABLE IF NOT EXISTS stripe_events (
    event_id    text PRIMARY KEY,
    type        text NOT NULL,
    intent_id   text,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS courses (
    id       serial PRIMARY KEY,
    title    text NOT NULL,
    category text NOT NULL,
    price    integer NOT NULL   -- cents
);

-- No-ops when the script already runs as vedfinance; hand the tables over when run as a superuser.
ALTER TABLE users OWNER TO vedfinance;
ALTER TABLE payments OWNER TO vedfinance;
ALTER TABLE stripe_events OWNER TO vedfinance;
ALTER TABLE courses OWNER TO vedfinance;

INSERT INTO users (email, password_hash)
VALUES ('demo@vedfinance.test',
        'pbkdf2:sha256:260000$jXvoGDETXqFc3K11$c268cfb7982fd4d8fcee5b4497f783b297d773d6a0636f67064da7ada7a554a5')
ON CONFLICT (email) DO NOTHING;

-- 500,000 courses in 50 categories of 10,000 rows each, stored contiguously and in category order
-- (ids 1-10000 'accounting', ..., 490001-500000 'wealth-management'), so a missing
-- courses_category_idx shows as a clear slowdown: a parallel sequential scan for the count and a
-- primary-key walk that filters up to 490,000 rows for the page.
INSERT INTO courses (title, category, price)
SELECT 'Course ' || g || ': ' || initcap(replace(c.cats[1 + (g - 1) / 10000], '-', ' ')),
       c.cats[1 + (g - 1) / 10000],
       900 + (g::bigint * 7919) % 20000
FROM generate_series(1, 500000) AS g,
     (SELECT ARRAY[
        'accounting', 'auditing', 'banking', 'behavioral-finance', 'bonds',
        'bookkeeping', 'budgeting', 'commodities', 'compliance', 'corporate-finance',
        'credit', 'crypto', 'debt', 'economics', 'entrepreneurship',
        'esg-investing', 'estate-planning', 'etfs', 'excel', 'financial-modeling',
        'financial-planning', 'fintech', 'forex', 'futures', 'index-funds',
        'insurance', 'investing', 'money-basics', 'mortgages', 'mutual-funds',
        'nonprofit-finance', 'options', 'payments', 'payroll', 'personal-finance',
        'private-equity', 'real-estate', 'retirement', 'risk-management', 'saving',
        'side-income', 'small-business', 'stocks', 'student-loans', 'taxes',
        'trading-psychology', 'treasury', 'valuation', 'venture-capital', 'wealth-management'
      ] AS cats) AS c
WHERE NOT EXISTS (SELECT 1 FROM courses);

-- The index behind GET /courses (WHERE category = $1 ORDER BY id LIMIT 50, and the count).
-- Its leading column is category; id second lets PostgreSQL read the first 50 rows of a category
-- in id order. With (category) alone the planner still walks the primary key for the page (it
-- assumes categories are spread evenly): 25-100 ms for late categories instead of 2-4 ms.
-- A runbook that recreates the index must use this exact definition.
CREATE INDEX IF NOT EXISTS courses_category_idx ON courses (category, id);

ANALYZE users;
ANALYZE payments;
ANALYZE courses;
