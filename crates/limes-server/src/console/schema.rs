//! The console's tables in the main store: people's accounts and their sessions. Created if
//! missing when the store opens (`Store::open` runs this after its own schema).

/// Statements run when a store is opened.
pub const SCHEMA: &str = r#"
-- People who sign in to the console: bound to one organisation and one role, like tokens.
CREATE TABLE IF NOT EXISTS users (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    org      TEXT NOT NULL,
    role     TEXT NOT NULL,
    hash     TEXT NOT NULL,      -- argon2id PHC string
    created  TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);

-- Signed-in sessions: the SHA-256 of the cookie's token, never the token.
CREATE TABLE IF NOT EXISTS sessions (
    hash     TEXT PRIMARY KEY,
    user_id  INTEGER NOT NULL,
    csrf     TEXT NOT NULL,
    created  REAL NOT NULL,      -- wall clock, seconds since the epoch
    expires  REAL NOT NULL
);

-- Browsers that signed in to an account: the SHA-256 of the device cookie's token. A name
-- locked by others' failed sign-ins still takes sign-ins from them (console/device.rs).
CREATE TABLE IF NOT EXISTS devices (
    hash     TEXT NOT NULL,
    user_id  INTEGER NOT NULL,
    seen     REAL NOT NULL,      -- last good sign-in, wall clock seconds since the epoch
    PRIMARY KEY (hash, user_id)
);
"#;
