-- Schema of the fleet database (SQLite, WAL). Times are UTC epoch seconds.
-- PRAGMA user_version tracks the schema; database/db.py applies this file
-- (every statement is idempotent) and then any migration for older files.

CREATE TABLE IF NOT EXISTS miners (
    id            INTEGER PRIMARY KEY,
    ip            TEXT NOT NULL UNIQUE,
    port          INTEGER,                -- NULL = the family's default port (+ offset)
    family        TEXT NOT NULL,          -- detected once, stored, never re-detected per poll
    model         TEXT,
    name          TEXT,
    algorithm     TEXT NOT NULL DEFAULT 'sha256d',
    credentials   TEXT,                   -- JSON {username, password}; never sent to a client
    source        TEXT NOT NULL DEFAULT 'manual',  -- manual | discovery | config
    added_ts      REAL NOT NULL,
    last_seen_ts  REAL
);

-- One row per miner per successful poll (raw; kept storage.raw_retention_days).
CREATE TABLE IF NOT EXISTS samples (
    miner_id     INTEGER NOT NULL REFERENCES miners(id) ON DELETE CASCADE,
    ts           REAL NOT NULL,
    hashrate_hs  REAL,
    power_w      REAL,                    -- NULL when the firmware reports none
    temp_c       REAL,
    fan_rpm      INTEGER                  -- fastest fan
);
CREATE INDEX IF NOT EXISTS samples_miner_ts ON samples(miner_id, ts);
CREATE INDEX IF NOT EXISTS samples_ts ON samples(ts);

-- 5-minute averages (kept storage.rollup_retention_days), built hourly.
CREATE TABLE IF NOT EXISTS samples_5m (
    miner_id     INTEGER NOT NULL REFERENCES miners(id) ON DELETE CASCADE,
    bucket_ts    INTEGER NOT NULL,        -- start of the 5-minute bucket
    hashrate_hs  REAL,
    power_w      REAL,
    temp_c       REAL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (miner_id, bucket_ts)
);
CREATE INDEX IF NOT EXISTS samples_5m_ts ON samples_5m(bucket_ts);

-- Everything that happened: state changes, commands (who asked, outcome), discovery.
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY,
    ts        REAL NOT NULL,
    kind      TEXT NOT NULL,              -- miner_online, miner_offline, command, discovery, ...
    miner_ip  TEXT,
    actor     TEXT,                       -- session, token, controller, system
    message   TEXT NOT NULL,
    -- Refusals of unauthenticated callers (wrong EMS token, failed login, 401 write) are aggregated:
    -- one row per kind, source address and minute, with how many there were (services/failure_log.py).
    source    TEXT,                       -- the caller's address (aggregated rows only)
    count     INTEGER NOT NULL DEFAULT 1
);
-- Kept storage.events_retention_days and at most storage.events_max_rows (hourly maintenance).
-- Older files get source and count from database/db.py's migration.
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);

-- Small named state that must survive a restart (controller latch, overrides, EMS).
CREATE TABLE IF NOT EXISTS state (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,            -- JSON
    updated_ts  REAL NOT NULL
);

-- One row per new battery reading (kept storage.raw_retention_days, like samples).
CREATE TABLE IF NOT EXISTS battery_samples (
    ts           REAL NOT NULL,     -- measured_at (the device's time where the source gives it)
    received_ts  REAL NOT NULL,
    soc_pct      REAL NOT NULL,
    pv_w         REAL NOT NULL,
    load_w       REAL NOT NULL,
    battery_w    REAL NOT NULL,     -- + = discharging
    grid_w       REAL,              -- + = import; NULL = unknown
    source       TEXT NOT NULL,
    time_from    TEXT NOT NULL      -- device | device_change | received
);
CREATE INDEX IF NOT EXISTS battery_samples_ts ON battery_samples(ts);
