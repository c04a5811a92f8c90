//! Connections, the pool and the one write path that owns transactions.
//!
//! The backend is chosen from the URL scheme (`sqlite://`, `postgres://`, `postgresql://`); both
//! are served by one Diesel codebase through [`DbConnection`] (`#[derive(MultiConnection)]`).

use crate::error::StoreError;
use crate::writer::Writer;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use std::time::Duration;

#[allow(missing_docs)]
mod connection {
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// One database connection of either backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// PostgreSQL (production).
        Postgresql(PgConnection),
        /// SQLite (embedded default).
        Sqlite(SqliteConnection),
    }
}

pub use connection::{DbConnection, MultiBackend};

/// Runs a static (not boxed) Diesel query on the concrete connection inside a [`DbConnection`].
///
/// Through the multi-backend wrapper every call walks the query twice (to decide whether it may
/// be cached and to build its SQL text as the cache key); on the concrete connection the
/// statement cache is keyed by the query's type, so a hot query costs a hash lookup. The body is
/// compiled once per backend: `on_backend!(conn, |c| query.get_result(c))`.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// Runs `f` atomically inside a write: on PostgreSQL in a transaction (a savepoint when one is
/// open already), on SQLite as it is (every write there already runs in the writer's own
/// savepoint).
pub(crate) fn atomic<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConnection::Postgresql(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => f(conn),
    }
}

/// Runs `f` inside a write in a savepoint of its own: when it fails, what it wrote is undone and
/// the rest of the write goes on. On PostgreSQL a nested Diesel transaction; on SQLite, whose
/// writer opens its transaction and the job's savepoint with plain SQL (so Diesel sees no
/// transaction), a named `SAVEPOINT` of its own.
pub(crate) fn savepoint<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConnection::Postgresql(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => {
            conn.batch_execute("SAVEPOINT part")?;
            let result = f(conn);
            match &result {
                Ok(_) => conn.batch_execute("RELEASE part")?,
                Err(_) => conn.batch_execute("ROLLBACK TO part; RELEASE part")?,
            }
            result
        }
    }
}

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// SQLite's durability level (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// An acknowledged write survives a power cut.
    #[default]
    Full,
    /// Faster; a power cut may lose the last transactions (never corrupts).
    Normal,
}

impl std::str::FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            other => Err(format!("unknown SQLite sync mode {other:?} (full|normal)")),
        }
    }
}

/// Where the database is and how to connect to it.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://PATH`, `sqlite:///abs/path.db`, `postgres://...` or `postgresql://...`.
    pub url: String,
    /// Largest number of pooled connections.
    pub pool_size: u32,
    /// SQLite durability.
    pub sqlite_sync: SqliteSync,
    /// Connections the pool keeps open while idle (at most `pool_size`). 0 for a one-shot
    /// command: the pool then opens connections only when asked, so none is being opened on a
    /// background thread when the process exits (libpq's and OpenSSL's exit handlers crash a
    /// process that exits in the middle of a connect).
    pub min_idle: u32,
    /// A PostgreSQL read replica of `url` (`DATABASE_READ_URL`), for the reads that may lag.
    pub read_url: Option<String>,
    /// The replay lag above which the replica is not read.
    pub max_replica_lag: Duration,
}

impl DbConfig {
    /// A configuration with defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 8,
            sqlite_sync: SqliteSync::Full,
            min_idle: 1,
            read_url: None,
            max_replica_lag: Duration::from_millis(1000),
        }
    }
}

/// Reads the backend and the connection target out of a database URL.
pub fn parse_url(url: &str) -> Result<(Backend, String), StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() || path.contains(":memory:") {
            return Err(StoreError::Config(
                "sqlite:// needs a file path (an in-memory database cannot be pooled)".into(),
            ));
        }
        Ok((Backend::Sqlite, path.to_owned()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_owned()))
    } else {
        Err(StoreError::Config(format!(
            "unsupported DATABASE_URL scheme in {:?}: use sqlite://PATH or postgres://...",
            redact(url)
        )))
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Page cache of each pooled SQLite connection, KiB.
pub const READER_CACHE_KIB: u32 = 1024;
/// Page cache of the SQLite writer's connection, KiB (SQLite's default).
pub const WRITER_CACHE_KIB: u32 = 2000;

/// Opens connections of the configured backend and sets SQLite's PRAGMAs on each.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
    sync: SqliteSync,
}

impl Manager {
    fn open(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self.backend {
            Backend::Postgres => {
                PgConnection::establish(&self.target).map(DbConnection::Postgresql)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)?;
                let sync = match self.sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Normal => "NORMAL",
                };
                // Each connection keeps its own page cache: readers a small one (the OS caches
                // the file for all of them), the writer, which updates index pages all over
                // the file, SQLite's default of 2 MB (see `connect`).
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -{READER_CACHE_KIB};"
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A connection as the pool keeps it: the connection, and whether a statement on it failed
/// because the server went away (then the pool drops it instead of handing it out again).
pub struct PoolEntry {
    conn: DbConnection,
    lost: bool,
}

impl PoolEntry {
    /// Runs `f` on the connection, remembering whether it found the connection lost.
    fn run<T>(
        &mut self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = f(&mut self.conn);
        if matches!(result, Err(StoreError::ConnectionLost)) {
            self.lost = true;
        }
        result
    }
}

impl std::ops::Deref for PoolEntry {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolEntry {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PoolEntry;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<PoolEntry, Self::Error> {
        Ok(PoolEntry {
            conn: self.open()?,
            lost: false,
        })
    }

    fn is_valid(&self, entry: &mut PoolEntry) -> Result<(), Self::Error> {
        entry
            .conn
            .batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    /// Checked when a connection comes back: one whose server went away, or whose transaction
    /// could not be closed, is dropped and replaced rather than handed to the next request.
    fn has_broken(&self, entry: &mut PoolEntry) -> bool {
        entry.lost || diesel::r2d2::R2D2Connection::is_broken(&mut entry.conn)
    }
}

/// A pooled connection.
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The database: a connection pool plus the write path.
pub struct Database {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    /// SQLite allows one writer at a time: this process's writes go through one writer thread
    /// with group commit instead of fighting for the lock.
    writer: Option<Writer>,
    /// A PostgreSQL read replica, when one is configured.
    replica: Option<crate::replica::Replica>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects (failing fast with the real error) and builds the pool. Does not migrate.
    pub fn connect(config: &DbConfig) -> Result<Self, StoreError> {
        let (backend, target) = parse_url(&config.url)?;
        if backend == Backend::Sqlite {
            prepare_sqlite_file(&target)?;
        }
        let manager = Manager {
            backend,
            target,
            sync: config.sqlite_sync,
        };
        // Open one connection first so a bad URL or password is reported as it is, at once.
        let first = manager.open().map_err(|e| {
            StoreError::Config(format!("cannot connect to {}: {e}", redact(&config.url)))
        })?;
        let writer = match backend {
            Backend::Sqlite => {
                let mut first = first;
                // Each job of a batch runs in a savepoint, whose journal keeps the before-image
                // of every page the job changes that the batch had changed already (the tables'
                // and indexes' last pages, nearly every job): in memory, not a temporary file
                // written page by page.
                first.batch_execute(&format!(
                    "PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA temp_store = MEMORY"
                ))?;
                let checkpoints = manager.open().map_err(|e| {
                    StoreError::Config(format!("cannot connect to {}: {e}", redact(&config.url)))
                })?;
                Some(Writer::spawn(first, checkpoints)?)
            }
            Backend::Postgres => {
                drop(first);
                None
            }
        };
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size.max(1))
            .min_idle(Some(config.min_idle.min(config.pool_size.max(1))))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| StoreError::Config(format!("cannot build the pool: {e}")))?;
        let replica = match (&config.read_url, backend) {
            (None, _) => None,
            (Some(read_url), Backend::Postgres) => {
                let (read_backend, target) = parse_url(read_url)?;
                if read_backend != Backend::Postgres {
                    return Err(StoreError::Config(
                        "DATABASE_READ_URL must be a PostgreSQL URL".into(),
                    ));
                }
                let manager = Manager {
                    backend: Backend::Postgres,
                    target,
                    sync: config.sqlite_sync,
                };
                // Built lazily: a replica that is down at start is only out of use.
                let replica_pool = r2d2::Pool::builder()
                    .max_size(config.pool_size.max(1))
                    .min_idle(Some(0))
                    .test_on_check_out(false)
                    .connection_timeout(Duration::from_secs(1))
                    .build_unchecked(manager);
                Some(crate::replica::Replica::start(
                    replica_pool,
                    pool.clone(),
                    config.max_replica_lag,
                ))
            }
            (Some(_), Backend::Sqlite) => {
                return Err(StoreError::Config(
                    "DATABASE_READ_URL needs DATABASE_URL on PostgreSQL".into(),
                ))
            }
        };
        Ok(Self {
            pool,
            backend,
            writer,
            replica,
        })
    }

    /// Runs the read `f` on the read replica while it is in use (its lag under the bound, and
    /// answering), else on the primary; a replica that fails it is taken out of use and `f`
    /// runs on the primary. For reads that may show a past state a little (lists), never for a
    /// read in a write's path.
    pub fn read_replicated<T>(
        &self,
        f: impl Fn(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(replica) = self.replica.as_ref().filter(|r| r.state.usable()) {
            match replica.pool.get() {
                Ok(mut conn) => match conn.run(&f) {
                    Err(StoreError::ConnectionLost) => replica.state.failed(),
                    other => return other,
                },
                Err(_) => replica.state.failed(),
            }
        }
        self.read(f)
    }

    /// The read replica's state, when one is configured.
    pub fn replica(&self) -> Option<&crate::replica::ReplicaState> {
        self.replica.as_ref().map(|r| &*r.state)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The largest number of pooled connections.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// The pool now: `(open connections, idle ones)`.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// A connection from the pool (blocking; call from a blocking thread).
    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// On SQLite, copies the whole write-ahead log into the database file and empties it
    /// (`wal_checkpoint(TRUNCATE)`), waiting at most a second for other processes' readers:
    /// called when a process stops cleanly or a bulk load ends, so the next process to open the
    /// file has no log to read back (with 26 MB of log left behind, that read was a third of
    /// the start-up time). Nothing on PostgreSQL.
    pub fn checkpoint_wal(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.conn()?;
            conn.batch_execute(
                "PRAGMA busy_timeout = 1000; PRAGMA wal_checkpoint(TRUNCATE); \
                 PRAGMA busy_timeout = 10000",
            )?;
        }
        Ok(())
    }

    /// After a bulk load: on PostgreSQL `VACUUM ANALYZE` of the loaded tables, so the planner has
    /// statistics and the visibility map lets counts be index-only scans at once rather than
    /// after autovacuum's next pass, and `CLUSTER` of the list counters, which a bulk load
    /// updates once per row: the rewrite drops the million dead versions that otherwise spread
    /// a doctor's counters over thousands of pages, and puts each doctor's days side by side
    /// (a count then reads a few pages). Nothing on SQLite, whose statistics would make the
    /// bundled library re-prepare range queries on every call (docs/persistence.md).
    pub fn after_bulk_load(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            let mut conn = self.conn()?;
            // One statement each: VACUUM may not run in a multi-statement query (a transaction).
            conn.batch_execute("CLUSTER appointment_counts USING appointment_counts_pkey")?;
            conn.batch_execute(
                "VACUUM ANALYZE appointments, appointment_counts, patients, doctors, mappings",
            )?;
        }
        Ok(())
    }

    /// Applies pending migrations (each runs in its own transaction); returns their versions.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        crate::migrations::run_pending(&mut conn)
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction (reads).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn()?.run(f)
    }

    /// The SQLite writer thread, if this database has one: async callers queue writes on it
    /// with [`Writer::submit`] instead of holding a blocking thread while the batch commits.
    pub fn writer(&self) -> Option<&Writer> {
        self.writer.as_ref()
    }

    /// Runs `f`, which is atomic by itself (one statement, or a transaction it opens itself):
    /// on SQLite exactly like [`Database::write`]; on PostgreSQL on a pooled connection without
    /// a `BEGIN`/`COMMIT` around it, two round trips fewer for a one-statement change.
    pub fn write_single<T, F>(&self, mut f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(f),
            None => self.conn()?.run(|conn| again_on_contention(|| f(conn))),
        }
    }

    /// Runs `f` atomically and durably: on SQLite in its own SAVEPOINT of a group-committed
    /// IMMEDIATE transaction (the write lock is taken before the first read, so check-then-write
    /// is atomic across processes; see [`crate::writer`]); on PostgreSQL in a regular
    /// transaction on a pooled connection (where constraints arbitrate). Its changes are rolled
    /// back when `f` fails, and `Ok` is returned only once they are committed. A PostgreSQL
    /// transaction the server rolled back to break a deadlock runs again (at most
    /// [`CONTENTION_ATTEMPTS`] times in all), so `f` may be called more than once.
    pub fn write<T, F>(&self, mut f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(f),
            None => self
                .conn()?
                .run(|conn| again_on_contention(|| conn.transaction(&mut f))),
        }
    }
}

/// Mode of a SQLite database file this process creates: read and write for its owner only.
/// SQLite gives the `-wal` and `-shm` files it creates the database file's mode.
pub const SQLITE_FILE_MODE: u32 = 0o600;

/// The database file and the two files SQLite keeps beside it in WAL mode.
fn sqlite_files(path: &str) -> [String; 3] {
    [
        path.to_owned(),
        format!("{path}-wal"),
        format!("{path}-shm"),
    ]
}

/// Before SQLite opens `target`: creates the database file with [`SQLITE_FILE_MODE`] when it
/// does not exist yet (so neither it nor its `-wal`/`-shm` files get the process umask's
/// default, which leaves them readable by everyone), and logs a warning for each existing one
/// that group or others may read or write (it is left as it is: changing an operator's
/// permissions silently could break a deliberate setup). A `file:` URI is left to SQLite.
fn prepare_sqlite_file(target: &str) -> Result<(), StoreError> {
    if target.starts_with("file:") {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(SQLITE_FILE_MODE)
            .open(target)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Config(format!(
                    "cannot create the database file {target}: {e}"
                )))
            }
        }
        for path in sqlite_files(target) {
            if let Ok(meta) = std::fs::metadata(&path) {
                let mode = meta.permissions().mode();
                if let Some(message) = permission_warning(&path, mode) {
                    tracing::warn!("{message}");
                }
            }
        }
    }
    Ok(())
}

/// The warning for a database file with permission bits `mode`, or `None` when only its owner
/// may read or write it.
pub fn permission_warning(path: &str, mode: u32) -> Option<String> {
    (mode & 0o066 != 0).then(|| {
        format!(
            "database file {path} has mode {:04o}: group or others may read or write it \
             (patient data); restrict it with chmod 600",
            mode & 0o7777
        )
    })
}

/// How many times in all a PostgreSQL write runs when the server keeps rolling it back to
/// resolve contention ([`StoreError::Contention`]) before that error is the answer.
pub const CONTENTION_ATTEMPTS: u32 = 3;

/// Runs `attempt` again, after a short pause, while it fails with [`StoreError::Contention`]:
/// the server rolled the whole transaction back, so nothing of it was written, and the other
/// side of the deadlock has meanwhile been let through (a retried booking then meets the
/// committed winner and gets its plain conflict). Bookings do not deadlock with each other
/// (`appointments::hold_parties`); this covers what that ordering does not.
fn again_on_contention<T>(
    mut attempt: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(StoreError::Contention) if tries < CONTENTION_ATTEMPTS => {
                tracing::debug!(tries, "write rolled back to resolve contention; again");
                std::thread::sleep(Duration::from_millis(5 * u64::from(tries)));
                tries += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_open_to_group_or_others_are_warned_about() {
        assert_eq!(permission_warning("db", 0o100600), None);
        assert_eq!(permission_warning("db", 0o400), None);
        assert_eq!(permission_warning("db", 0o700), None);
        let warned = permission_warning("/srv/healthcare.db", 0o100644).unwrap_or_default();
        assert!(warned.contains("/srv/healthcare.db"), "{warned}");
        assert!(warned.contains("0644"), "{warned}");
        for open in [0o640, 0o620, 0o604, 0o602, 0o660, 0o666] {
            assert!(permission_warning("db", open).is_some(), "{open:o}");
        }
    }

    #[test]
    fn contention_runs_the_write_again_a_bounded_number_of_times() {
        let mut calls = 0;
        let twice_then_done = again_on_contention(|| {
            calls += 1;
            if calls < CONTENTION_ATTEMPTS {
                Err(StoreError::Contention)
            } else {
                Ok(calls)
            }
        });
        assert!(matches!(twice_then_done, Ok(n) if n == CONTENTION_ATTEMPTS));
        let mut calls = 0;
        let always: Result<(), _> = again_on_contention(|| {
            calls += 1;
            Err(StoreError::Contention)
        });
        assert!(matches!(always, Err(StoreError::Contention)));
        assert_eq!(calls, CONTENTION_ATTEMPTS);
        let mut calls = 0;
        let conflict: Result<(), _> = again_on_contention(|| {
            calls += 1;
            Err(StoreError::DoctorConflict)
        });
        assert!(matches!(conflict, Err(StoreError::DoctorConflict)));
        assert_eq!(calls, 1, "only contention is tried again");
    }
}
