-- Schema of the fleet database (SQLite, WAL). Times are UTC epoch seconds.
-- PRAGMA user_version tracks the layout (3). database/db.py creates this in a new
-- file; database/migrate.py converts a version-1/2 file (per-miner index layout).
--
-- Time series are laid out for an SD card (docs/storage.md): every history table
-- is clustered by time (the rowid packs time and key), so a flush appends to the
-- end of each table instead of touching one index page per miner; fleet
-- totals are stored per round so fleet charts never aggregate per-miner rows; and
-- roll-ups come in tiers (5 minutes, 1 hour, 1 day) so any chart reads at most a
-- few thousand rows. A tier row keeps, per averaged value, the mean and how many
-- readings made it (n_<value>), so tiers fold into coarser ones exactly.

CREATE TABLE IF NOT EXISTS miners (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a removed miner's history rows age out
    ip            TEXT NOT NULL UNIQUE,
    port          INTEGER,                -- NULL = the family's default port (+ offset)
    family        TEXT NOT NULL,          -- detected once, stored, never re-detected per poll
    model         TEXT,
    name          TEXT,                   -- given here (add, browser); NULL = the config.yaml name, then the model
    algorithm     TEXT NOT NULL DEFAULT 'sha256d',
    credentials   TEXT,                   -- JSON {username, password}; never sent to a client
    source        TEXT NOT NULL DEFAULT 'manual',  -- manual | discovery | config
    added_ts      REAL NOT NULL,
    last_seen_ts  REAL,                   -- written with the history flush at most every 10 minutes
    -- Settings made in the browser or API (PATCH /api/miners/<ip>, docs/miners.md "Miner settings").
    -- database/migrate.py MINER_COLUMNS adds them to an older file. NULL limits = not set here: the
    -- config.yaml miners: entry applies, then the model table.
    tags          TEXT,                   -- JSON list of strings; NULL = none
    enabled       INTEGER NOT NULL DEFAULT 1,  -- 0 = not polled, not commanded; history kept
    notes         TEXT,
    location      TEXT,
    nominal_w     REAL,
    min_w         REAL,
    max_w         REAL,
    max_temp_c    REAL,
    autocontrol   INTEGER                 -- NULL = not set here, 0 = never commanded, 1 = commanded
);

-- History keys: every history table is a rowid table whose INTEGER PRIMARY KEY packs the
-- time and the series key, (time << bits) | key, so rows sort by time then key, a flush
-- appends at the end of each table (SQLite's quick balance: full pages, no sibling
-- rewrites; WITHOUT ROWID tables split like indexes and wrote ~40 % more pages), and a
-- row carries no separate time or key column. database/series.py spells these out:
--   raw tables: time = round start (or reading time) in milliseconds;
--   tiers: time = bucket start in seconds;
--   key: miners.id (20 bits) | algorithms.slot (8 bits) | nothing (battery).

-- Raw: one row per miner per full poll round (kept storage.raw_retention_days).
CREATE TABLE IF NOT EXISTS samples (
    id           INTEGER PRIMARY KEY,     -- (round start ms << 20) | miners.id (no foreign key: ids are never reused)
    hashrate_hs  REAL,
    power_w      REAL,                    -- NULL when the firmware reports none
    temp_c       REAL,
    fan_rpm      INTEGER                  -- fastest fan
);

-- The fleet's algorithms, numbered for the keys of the fleet tables.
CREATE TABLE IF NOT EXISTS algorithms (
    slot  INTEGER PRIMARY KEY CHECK (slot BETWEEN 1 AND 255),
    name  TEXT NOT NULL UNIQUE
);

-- Raw fleet totals: one row per full round and algorithm (kept like samples).
CREATE TABLE IF NOT EXISTS fleet_samples (
    id           INTEGER PRIMARY KEY,     -- (round start ms << 8) | algorithms.slot
    algorithm    TEXT NOT NULL,
    hashrate_hs  REAL,                    -- sum over the miners that answered; NULL if none gave one
    power_w      REAL,                    -- sum over the miners that report power; NULL if none does
    online       INTEGER NOT NULL         -- miners of this algorithm that answered
);

-- One row per new battery reading (kept storage.raw_retention_days).
CREATE TABLE IF NOT EXISTS battery_samples (
    id           INTEGER PRIMARY KEY,     -- measured_at in ms (the device's time where the source gives it)
    received_ts  REAL NOT NULL,
    soc_pct      REAL NOT NULL,
    pv_w         REAL NOT NULL,
    load_w       REAL NOT NULL,
    battery_w    REAL NOT NULL,           -- + = discharging
    grid_w       REAL,                    -- + = import; NULL = unknown
    source       TEXT NOT NULL,
    time_from    TEXT NOT NULL            -- device | device_change | received
);

-- Roll-up tiers, written as their buckets close (database/series.py). Kept
-- storage.rollup_retention_days (5m), hourly_retention_days (1h), daily_retention_days (1d).
-- id = (bucket start s << bits) | key, bits as in the raw table of the series.
CREATE TABLE IF NOT EXISTS miner_5m (
    id INTEGER PRIMARY KEY,
    hashrate_hs REAL, n_hashrate_hs INTEGER NOT NULL, power_w REAL, n_power_w INTEGER NOT NULL,
    temp_c REAL, fan_rpm INTEGER, n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS miner_1h (
    id INTEGER PRIMARY KEY,
    hashrate_hs REAL, n_hashrate_hs INTEGER NOT NULL, power_w REAL, n_power_w INTEGER NOT NULL,
    temp_c REAL, fan_rpm INTEGER, n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS miner_1d (
    id INTEGER PRIMARY KEY,
    hashrate_hs REAL, n_hashrate_hs INTEGER NOT NULL, power_w REAL, n_power_w INTEGER NOT NULL,
    temp_c REAL, fan_rpm INTEGER, n INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS fleet_5m (
    id INTEGER PRIMARY KEY, algorithm TEXT NOT NULL,
    hashrate_hs REAL, n_hashrate_hs INTEGER NOT NULL, power_w REAL, n_power_w INTEGER NOT NULL,
    online INTEGER, n INTEGER NOT NULL    -- online: the most miners that answered in one round
);
CREATE TABLE IF NOT EXISTS fleet_1h (
    id INTEGER PRIMARY KEY, algorithm TEXT NOT NULL,
    hashrate_hs REAL, n_hashrate_hs INTEGER NOT NULL, power_w REAL, n_power_w INTEGER NOT NULL,
    online INTEGER, n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_1d (
    id INTEGER PRIMARY KEY, algorithm TEXT NOT NULL,
    hashrate_hs REAL, n_hashrate_hs INTEGER NOT NULL, power_w REAL, n_power_w INTEGER NOT NULL,
    online INTEGER, n INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS battery_5m (
    id INTEGER PRIMARY KEY,
    soc_pct REAL, n_soc_pct INTEGER NOT NULL, pv_w REAL, n_pv_w INTEGER NOT NULL,
    load_w REAL, n_load_w INTEGER NOT NULL, battery_w REAL, n_battery_w INTEGER NOT NULL,
    grid_w REAL, n_grid_w INTEGER NOT NULL, n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS battery_1h (
    id INTEGER PRIMARY KEY,
    soc_pct REAL, n_soc_pct INTEGER NOT NULL, pv_w REAL, n_pv_w INTEGER NOT NULL,
    load_w REAL, n_load_w INTEGER NOT NULL, battery_w REAL, n_battery_w INTEGER NOT NULL,
    grid_w REAL, n_grid_w INTEGER NOT NULL, n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS battery_1d (
    id INTEGER PRIMARY KEY,
    soc_pct REAL, n_soc_pct INTEGER NOT NULL, pv_w REAL, n_pv_w INTEGER NOT NULL,
    load_w REAL, n_load_w INTEGER NOT NULL, battery_w REAL, n_battery_w INTEGER NOT NULL,
    grid_w REAL, n_grid_w INTEGER NOT NULL, n INTEGER NOT NULL
);

-- Share counters (services/shares.py): the last value of each miner's cumulative accepted/rejected
-- counters per pool and bucket; shares of a span are differences of consecutive values. Written
-- with the history flush, only for buckets in which the miner answered. Kept like miner_5m / miner_1h.
-- id = (bucket start in minutes << 36) | (miners.id << 16) | share_pools.id
CREATE TABLE IF NOT EXISTS share_pools (
    id    INTEGER PRIMARY KEY,
    url   TEXT NOT NULL,
    user  TEXT NOT NULL,
    UNIQUE (url, user)
);
CREATE TABLE IF NOT EXISTS shares_5m (id INTEGER PRIMARY KEY, accepted INTEGER, rejected INTEGER);
CREATE TABLE IF NOT EXISTS shares_1h (id INTEGER PRIMARY KEY, accepted INTEGER, rejected INTEGER);

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
    count     INTEGER NOT NULL DEFAULT 1,
    severity  TEXT NOT NULL DEFAULT 'info'  -- info | warning | critical (alerts; database/queries.py EVENT_SEVERITY)
);
-- Kept storage.events_retention_days and at most storage.events_max_rows (hourly maintenance).
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);

-- Small named state that must survive a restart (controller latch, overrides, EMS).
-- Never buffered: written in its own transaction the moment it changes.
CREATE TABLE IF NOT EXISTS state (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,            -- JSON
    updated_ts  REAL NOT NULL
);

-- The pool library (services/pool_sets.py, docs/pools.md): named sets of 1-3 pools applied to miners.
-- pools: JSON [{url, user, password}] in priority order; passwords are sent to miners, never to a client.
-- A file from before pool sets gets this table at its next open (database/db.py runs this file).
CREATE TABLE IF NOT EXISTS pool_sets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,  -- at most 64 characters (checked by the service)
    pools       TEXT NOT NULL,
    created_ts  REAL NOT NULL,
    updated_ts  REAL NOT NULL
);

-- Electricity prices as they applied (services/energy_cost.py, docs/prices.md "Cost per miner"): a source
-- holds only yesterday to tomorrow, so each slot is kept here once its time has come, for the cost of past
-- hours. One row per slot (24-96 a day); kept storage.hourly_retention_days.
CREATE TABLE IF NOT EXISTS price_history (
    start       INTEGER PRIMARY KEY,      -- slot start, epoch seconds
    end_ts      INTEGER NOT NULL,
    price_main  REAL NOT NULL,            -- main currency per kWh (EUR/kWh, GBP/kWh, USD/kWh...)
    source      TEXT NOT NULL
);
