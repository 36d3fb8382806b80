//! The host's durable state: actions and activation records in one SQLite file,
//! `<data_dir>/whisk.db`.
//!
//! Each entity is kept whole as its OpenWhisk JSON ([`crate::entity`]) next to the key columns
//! the queries need (namespace, name, activation id, start, updated), so that a field added to
//! an entity needs no migration. The schema's version is SQLite's `user_version`; [`Store::open`]
//! brings an older file up to date and refuses one written by a newer whisk.
//!
//! One connection behind a mutex serves the process: every call is a short statement or
//! transaction, and WAL lets readers in other processes (a backup, `sqlite3`) look on. The
//! methods are synchronous; async callers run them in `tokio::task::spawn_blocking`.
//!
//! Durability: `synchronous=NORMAL` in WAL mode, so a write that has returned survives the
//! process crashing or being killed; a power loss can take back the last moments of writes,
//! never corrupt the file.

use crate::entity::{bump_patch, now_millis, Action, Activation, FIRST_VERSION};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The file in the data directory that holds the store.
pub const DB_FILE: &str = "whisk.db";

/// How long a write waits for another process's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one entry per version: `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
/// Released entries never change; a change of schema is a new entry.
const MIGRATIONS: &[&str] = &[
    // 1: actions and activations as JSON documents with their key columns.
    "CREATE TABLE actions (
        namespace TEXT NOT NULL,
        name      TEXT NOT NULL,
        updated   INTEGER NOT NULL,
        doc       TEXT NOT NULL,
        PRIMARY KEY (namespace, name)
    ) WITHOUT ROWID;
    CREATE INDEX actions_by_updated ON actions (namespace, updated DESC, name);
    CREATE TABLE activations (
        namespace     TEXT NOT NULL,
        activation_id TEXT NOT NULL,
        name          TEXT NOT NULL,
        start         INTEGER NOT NULL,
        doc           TEXT NOT NULL,
        PRIMARY KEY (namespace, activation_id)
    );
    CREATE INDEX activations_by_start ON activations (namespace, start DESC);
    CREATE INDEX activations_by_name ON activations (namespace, name, start DESC);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// What can go wrong with the store. Each message names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the store {} has schema version {found}, newer than the {supported} this whisk \
         knows; hint: run a whisk at least as new as the one that wrote it, or point \
         the data directory elsewhere",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("store {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("store {}: the stored record of {what} is not valid JSON for it: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        what: String,
        source: serde_json::Error,
    },
    /// `put_action` without overwrite found the action already there (HTTP 409).
    #[error("the action {namespace}/{name} already exists")]
    Conflict { namespace: String, name: String },
}

/// Which activation records to list or count, as OpenWhisk's `GET …/activations` query asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationQuery {
    /// Only records of the entity with this name.
    pub name: Option<String>,
    /// Only records that started at or after this time (epoch ms).
    pub since: Option<u64>,
    /// Only records that started at or before this time (epoch ms).
    pub upto: Option<u64>,
    /// How many of the matching records to pass over, newest first.
    pub skip: u64,
    /// At most this many records; 0 means no limit (the API applies OpenWhisk's default and
    /// maximum before it gets here).
    pub limit: u64,
}

/// The store: open once per process and share (it is `Send + Sync`).
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating it and `data_dir` if need be) `data_dir/whisk.db` and brings its schema
    /// to [`SCHEMA_VERSION`].
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // journal_mode answers with the mode now in force, which is not WAL on file systems
        // that cannot do it; the store still works then, only without concurrent readers.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                "store {}: journal mode is {mode}, not WAL (the file system may not support it)",
                path.display()
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        migrate(&mut conn, &path)?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `action` under its namespace and name and returns it as stored.
    ///
    /// A new action gets version [`FIRST_VERSION`]. An existing one is an error
    /// ([`StoreError::Conflict`]) unless `overwrite`, in which case it is replaced by `action`
    /// with the previous version's patch number plus one. Either way `updated` becomes now.
    pub fn put_action(&self, mut action: Action, overwrite: bool) -> Result<Action, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let previous: Option<String> = tx
            .query_row(
                "SELECT doc FROM actions WHERE namespace = ?1 AND name = ?2",
                params![action.namespace, action.name],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        action.version = match previous {
            None => FIRST_VERSION.to_string(),
            Some(_) if !overwrite => {
                return Err(StoreError::Conflict {
                    namespace: action.namespace,
                    name: action.name,
                })
            }
            Some(doc) => {
                let old: Action = self.parse(&doc, || action_what(&action))?;
                bump_patch(&old.version)
            }
        };
        action.updated = now_millis();
        let doc = serde_json::to_string(&action).expect("an Action always serializes");
        tx.execute(
            "INSERT OR REPLACE INTO actions (namespace, name, updated, doc) VALUES (?1, ?2, ?3, ?4)",
            params![action.namespace, action.name, to_sql_int(action.updated), doc],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(action)
    }

    pub fn get_action(&self, namespace: &str, name: &str) -> Result<Option<Action>, StoreError> {
        self.one_doc(
            "SELECT doc FROM actions WHERE namespace = ?1 AND name = ?2",
            params![namespace, name],
            || format!("action {namespace}/{name}"),
        )
    }

    /// Removes the action and returns what it was, `None` if there was none.
    pub fn delete_action(&self, namespace: &str, name: &str) -> Result<Option<Action>, StoreError> {
        self.one_doc(
            "DELETE FROM actions WHERE namespace = ?1 AND name = ?2 RETURNING doc",
            params![namespace, name],
            || format!("action {namespace}/{name}"),
        )
    }

    /// The namespace's actions, most recently updated first (then by name), passing over
    /// `skip` and returning at most `limit` (0: no limit).
    pub fn list_actions(
        &self,
        namespace: &str,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<Action>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, doc FROM actions WHERE namespace = ?1
                 ORDER BY updated DESC, name LIMIT ?2 OFFSET ?3",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(
                params![namespace, sql_limit(limit), to_sql_int(skip)],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .map_err(|e| self.sql(e))?;
        let mut actions = Vec::new();
        for row in rows {
            let (name, doc) = row.map_err(|e| self.sql(e))?;
            actions.push(self.parse(&doc, || format!("action {namespace}/{name}"))?);
        }
        Ok(actions)
    }

    pub fn count_actions(&self, namespace: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM actions WHERE namespace = ?1",
                params![namespace],
                |row| row.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(from_sql_int(n))
    }

    /// Stores an activation record; once this returns it is on disk (see the module docs).
    /// A record with the same namespace and activation id replaces the earlier one.
    pub fn put_activation(&self, record: &Activation) -> Result<(), StoreError> {
        let doc = serde_json::to_string(record).expect("an Activation always serializes");
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO activations (namespace, activation_id, name, start, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    record.namespace,
                    record.activation_id,
                    record.name,
                    to_sql_int(record.start),
                    doc
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    pub fn get_activation(
        &self,
        namespace: &str,
        activation_id: &str,
    ) -> Result<Option<Activation>, StoreError> {
        self.one_doc(
            "SELECT doc FROM activations WHERE namespace = ?1 AND activation_id = ?2",
            params![namespace, activation_id],
            || format!("activation {namespace}/{activation_id}"),
        )
    }

    /// The namespace's activation records that match `query`, the latest start first (then
    /// by activation id, so that pages do not overlap), paged by its `skip` and `limit`.
    pub fn list_activations(
        &self,
        namespace: &str,
        query: &ActivationQuery,
    ) -> Result<Vec<Activation>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT activation_id, doc FROM activations WHERE {ACTIVATION_FILTER}
                 ORDER BY start DESC, activation_id DESC LIMIT ?5 OFFSET ?6"
            ))
            .map_err(|e| self.sql(e))?;
        let (since, upto) = query_bounds(query);
        let rows = stmt
            .query_map(
                params![
                    namespace,
                    query.name,
                    since,
                    upto,
                    sql_limit(query.limit),
                    to_sql_int(query.skip)
                ],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .map_err(|e| self.sql(e))?;
        let mut records = Vec::new();
        for row in rows {
            let (id, doc) = row.map_err(|e| self.sql(e))?;
            records.push(self.parse(&doc, || format!("activation {namespace}/{id}"))?);
        }
        Ok(records)
    }

    /// How many of the namespace's records match `query`'s name, since and upto (its skip and
    /// limit do not apply).
    pub fn count_activations(
        &self,
        namespace: &str,
        query: &ActivationQuery,
    ) -> Result<u64, StoreError> {
        let (since, upto) = query_bounds(query);
        let n: i64 = self
            .lock()
            .query_row(
                &format!("SELECT COUNT(*) FROM activations WHERE {ACTIVATION_FILTER}"),
                params![namespace, query.name, since, upto],
                |row| row.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(from_sql_int(n))
    }

    /// The connection. A panic elsewhere while it was held leaves it usable: any transaction
    /// then open was rolled back when it was dropped.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The one document `sql` selects (or deletes, `RETURNING doc`), parsed; `None` if
    /// there is none. `what` names it in an error.
    fn one_doc<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: impl FnOnce() -> String,
    ) -> Result<Option<T>, StoreError> {
        let doc: Option<String> = self
            .lock()
            .query_row(sql, params, |row| row.get(0))
            .optional()
            .map_err(|e| self.sql(e))?;
        doc.map(|doc| self.parse(&doc, what)).transpose()
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn parse<T: DeserializeOwned>(
        &self,
        doc: &str,
        what: impl FnOnce() -> String,
    ) -> Result<T, StoreError> {
        serde_json::from_str(doc).map_err(|source| StoreError::Corrupt {
            path: self.path.clone(),
            what: what(),
            source,
        })
    }
}

/// The WHERE clause shared by listing and counting activations: ?1 namespace, ?2 name or
/// NULL, ?3 since, ?4 upto.
const ACTIVATION_FILTER: &str =
    "namespace = ?1 AND (?2 IS NULL OR name = ?2) AND start >= ?3 AND start <= ?4";

fn query_bounds(query: &ActivationQuery) -> (i64, i64) {
    (
        query.since.map_or(i64::MIN, to_sql_int),
        query.upto.map_or(i64::MAX, to_sql_int),
    )
}

fn action_what(action: &Action) -> String {
    format!("action {}/{}", action.namespace, action.name)
}

/// SQLite integers are signed; our times and counts are far below `i64::MAX`, so clamping is
/// only a guard against nonsense input.
fn to_sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql_int(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// SQLite's LIMIT takes a negative number as "no limit".
fn sql_limit(limit: u64) -> i64 {
    if limit == 0 {
        -1
    } else {
        to_sql_int(limit)
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql_err = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let found: u32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(sql_err)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(step).map_err(sql_err)?;
        tracing::debug!("store {}: schema {from} -> {}", path.display(), from + 1);
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sql_err)?;
    tx.commit().map_err(sql_err)
}

#[cfg(test)]
mod tests;
