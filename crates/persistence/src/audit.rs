//! The audit trail (docs/audit.md): append-only events in `audit_events`, linked into one
//! SHA-256 hash chain by a single leased sealer, verified, exported and pruned.
//!
//! * [`record`] inserts events unsealed (`seq`, `prev_hash`, `hash` NULL) in the caller's
//!   transaction, one INSERT per batch, without any global lock.
//! * [`seal`] links the unsealed events into the chain in commit order: each gets the next
//!   position `seq`, the previous event's hash as `prev_hash`, and `hash` = SHA-256 of its
//!   [`canonical`] form (which includes `seq` and `prev_hash`). "Commit order" is:
//!   - SQLite: `id` order. One writer at a time (the write transaction is IMMEDIATE, across
//!     processes), and the id is taken inside it, so ids are committed in increasing order and
//!     the sealer, itself a write, sees every committed event.
//!   - PostgreSQL: ids are taken before commit, in any order across transactions, so every event
//!     also keeps its inserting transaction (`xid xid8 DEFAULT pg_current_xact_id()`). The sealer
//!     links only events whose `xid` is below the `xmin` of its snapshot
//!     (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction below it has finished, so
//!     no event can appear below that horizon later. They are linked in (`xid`, `id`) order: the
//!     order of the chain is the order of the inserting transactions' ids among finished ones.
//!     A transaction left open (anywhere on the cluster: the horizon is cluster-wide) holds back
//!     sealing of the events after it until it ends.
//! * [`verify`] walks the sealed events in chain order and names the first one that was changed,
//!   removed or inserted out of order.
//! * [`prune`] removes a prefix of the chain and leaves its last hash as the anchor
//!   (`audit_anchor`) so the rest still verifies; it is the only deletion path: the DELETE
//!   triggers refuse any delete unless the deleting transaction holds the one row of
//!   `audit_prune_permit` (see the migration `2025-01-07-000000_audit`).

use crate::db::{atomic, DbConnection};
use crate::error::StoreError;
use crate::schema::{audit_anchor, audit_event_patients, audit_events, audit_prune_permit};
use crate::time::{from_db, now, to_db};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use sha2::{Digest, Sha256};
use std::io::Write;

/// The `prev_hash` of the first event of a chain that was never pruned.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first element of every event's canonical form: the version of the form.
pub const CANONICAL_VERSION: &str = "healthcare-audit/1";

/// The name of the sealer's lease (see [`crate::leases`]).
pub const SEALER_LEASE: &str = "audit_sealer";

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read one record.
    Read,
    /// Listed or searched records.
    List,
    /// Created a record.
    Create,
    /// Changed a record.
    Update,
    /// Archived (soft-deleted) a record.
    Archive,
    /// Logged in.
    Login,
    /// A login refused (wrong password, unknown user, throttled).
    LoginFailed,
    /// Refreshed an access token.
    TokenRefresh,
    /// Logged out (revoked a session).
    Logout,
    /// Exported records.
    Export,
}

impl Action {
    /// Every action, in the order of the documentation.
    pub const ALL: [Action; 10] = [
        Action::Read,
        Action::List,
        Action::Create,
        Action::Update,
        Action::Archive,
        Action::Login,
        Action::LoginFailed,
        Action::TokenRefresh,
        Action::Logout,
        Action::Export,
    ];

    /// The action of a stored name.
    pub fn from_name(name: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::List => "list",
            Action::Create => "create",
            Action::Update => "update",
            Action::Archive => "archive",
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::TokenRefresh => "token_refresh",
            Action::Logout => "logout",
            Action::Export => "export",
        }
    }
}

/// What kind of record a request touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A patient record.
    Patient,
    /// A doctor record.
    Doctor,
    /// A doctor-patient mapping.
    Mapping,
    /// An appointment.
    Appointment,
    /// An account (logins, token refreshes and logouts too).
    User,
    /// A doctor's working hours.
    WorkingHours,
    /// A doctor's time off.
    TimeOff,
    /// A webhook subscription (its deliveries too).
    Webhook,
    /// An email notification about an appointment.
    Email,
    /// The audit trail itself (reads and exports of it).
    Audit,
}

impl Resource {
    /// Every kind of record, in the order of the documentation.
    pub const ALL: [Resource; 10] = [
        Resource::Patient,
        Resource::Doctor,
        Resource::Mapping,
        Resource::Appointment,
        Resource::User,
        Resource::WorkingHours,
        Resource::TimeOff,
        Resource::Webhook,
        Resource::Email,
        Resource::Audit,
    ];

    /// The kind of a stored name.
    pub fn from_name(name: &str) -> Option<Resource> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Patient => "patient",
            Resource::Doctor => "doctor",
            Resource::Mapping => "mapping",
            Resource::Appointment => "appointment",
            Resource::User => "user",
            Resource::WorkingHours => "working_hours",
            Resource::TimeOff => "time_off",
            Resource::Webhook => "webhook",
            Resource::Email => "email",
            Resource::Audit => "audit",
        }
    }
}

/// One event as a request records it (before it has an id or a place in the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// When the request was answered.
    pub at: DateTime<Utc>,
    /// The authenticated user, `None` for an anonymous or refused request.
    pub actor: Option<i64>,
    /// The actor's role (`admin`, `staff`, `doctor`, `patient`).
    pub actor_role: Option<String>,
    /// For `login_failed`: the username that was tried.
    pub attempted_username: Option<String>,
    /// The client's address.
    pub client: String,
    /// The request id (`X-Request-Id`).
    pub request_id: String,
    /// What was done.
    pub action: Action,
    /// On what kind of record.
    pub resource: Resource,
    /// The record's id, for one-record requests.
    pub resource_id: Option<i64>,
    /// Ids of the patient records the request touched or returned.
    pub patients: Vec<i64>,
    /// The query string of a list or search; secrets are removed by [`record`]
    /// ([`strip_secrets`]).
    pub query: String,
    /// The HTTP status answered.
    pub status: u16,
}

impl NewAuditEvent {
    /// An event of `action` on `resource` answered with `status`, now, everything else empty.
    pub fn new(action: Action, resource: Resource, status: u16) -> Self {
        Self {
            at: now(),
            actor: None,
            actor_role: None,
            attempted_username: None,
            client: String::new(),
            request_id: String::new(),
            action,
            resource,
            resource_id: None,
            patients: Vec::new(),
            query: String::new(),
            status,
        }
    }
}

/// Query parameters whose values are never stored (tokens, passwords, keys).
pub const SECRET_PARAMETERS: [&str; 8] = [
    "token",
    "access",
    "refresh",
    "access_token",
    "refresh_token",
    "password",
    "secret",
    "api_key",
];

/// The query string without the parameters named in [`SECRET_PARAMETERS`] (case-insensitive),
/// the others kept as they were sent, in their order.
pub fn strip_secrets(query: &str) -> String {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !SECRET_PARAMETERS
                .iter()
                .any(|secret| name.eq_ignore_ascii_case(secret))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The stored form of a patient id list: sorted, without duplicates, as a JSON array.
fn patients_text(ids: &[i64]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!("[{}]", list.join(","))
}

/// The ids of a stored patient list (what [`patients_text`] wrote).
pub fn parse_patients(text: &str) -> Vec<i64> {
    text.trim_matches(['[', ']'])
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

/// Most patient index rows one INSERT carries (two bound values each: well under SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters).
const INDEX_ROWS_PER_INSERT: usize = 10_000;

/// Most events one [`record`] call should carry (twelve bound values each).
pub const MAX_EVENTS_PER_RECORD: usize = 2_000;

/// `None` is NULL (not DEFAULT), so that SQLite gets one multi-row INSERT too.
#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
struct EventRow<'a> {
    at: NaiveDateTime,
    actor: Option<i64>,
    actor_role: Option<&'a str>,
    attempted_username: Option<&'a str>,
    client: &'a str,
    request_id: &'a str,
    action: &'static str,
    resource: &'static str,
    resource_id: Option<i64>,
    patients: String,
    query: String,
    status: i32,
}

/// Inserts `events` with one INSERT (plus one per 10,000 of their patient index rows), in the
/// caller's transaction: call it inside [`crate::Database::write`] with the change it records (or
/// in a write of its own for reads). Returns the new ids, in the order of `events`.
///
/// * **SQLite** (one writer at a time, and this runs inside the write): the events are sealed as
///   they are inserted. Their ids are taken here, after the highest ever given, and each gets
///   the next chain position, the previous hash and its own hash in the same INSERT, so the
///   chain needs no second write per event and is never behind. Events left unsealed (by an
///   older version) are sealed first, so the chain stays in commit order.
/// * **PostgreSQL**: unsealed, without any lock; the sealer links them in commit order
///   ([`seal`]).
pub fn record(conn: &mut DbConnection, events: &[NewAuditEvent]) -> Result<Vec<i64>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    if matches!(conn, DbConnection::Sqlite(_)) {
        return record_sealed(conn, events);
    }
    record_unsealed(conn, events)
}

/// A sealed event as SQLite's [`record`] inserts it.
#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
struct SealedRow<'a> {
    id: i64,
    #[diesel(embed)]
    event: EventRow<'a>,
    seq: i64,
    prev_hash: String,
    hash: String,
}

#[allow(missing_docs)]
mod sqlite_counter {
    diesel::table! {
        /// SQLite's own counter of `AUTOINCREMENT` tables: the highest id ever given.
        sqlite_sequence (name) {
            name -> Text,
            seq -> BigInt,
        }
    }
}
use sqlite_counter::sqlite_sequence;

/// Where SQLite's chain ends: the last id given, the last position and its hash.
#[derive(Debug, Clone)]
struct ChainEnd {
    id: i64,
    seq: i64,
    hash: String,
}

thread_local! {
    /// The chain's end as the last [`record_sealed`] of the writer's current transaction left
    /// it, with that transaction's number (`writer::current_transaction`): the next jobs of
    /// the same transaction continue from it without reading it again.
    static CHAIN_END: std::cell::RefCell<Option<(u64, ChainEnd)>> =
        const { std::cell::RefCell::new(None) };
}

/// SQLite: inserts `events` sealed (see [`record`]). Every statement here is static, so SQLite
/// keeps it prepared: one row at a time costs less than parsing a new multi-row INSERT.
fn record_sealed(
    conn: &mut DbConnection,
    events: &[NewAuditEvent],
) -> Result<Vec<i64>, StoreError> {
    let transaction = crate::writer::current_transaction();
    let known = CHAIN_END.with_borrow(|end| match (end, transaction) {
        (Some((t, end)), Some(now)) if *t == now => Some(end.clone()),
        _ => None,
    });
    let end = match known {
        Some(end) => end,
        None => chain_end(conn)?,
    };
    let DbConnection::Sqlite(c) = conn else {
        return record_unsealed(conn, events);
    };
    let (mut id, mut seq, mut prev) = (end.id, end.seq, end.hash);
    let mut ids = Vec::with_capacity(events.len());
    for e in events {
        id += 1;
        seq += 1;
        let row = event_row(e);
        let stored = AuditEvent {
            id,
            at: row.at,
            actor: row.actor,
            actor_role: row.actor_role.map(str::to_owned),
            attempted_username: row.attempted_username.map(str::to_owned),
            client: row.client.to_owned(),
            request_id: row.request_id.to_owned(),
            action: row.action.to_owned(),
            resource: row.resource.to_owned(),
            resource_id: row.resource_id,
            patients: row.patients.clone(),
            query: row.query.clone(),
            status: row.status,
            seq: None,
            prev_hash: None,
            hash: None,
            order_key: id,
        };
        let hash = event_hash(&stored, seq, &prev);
        let patients = parse_patients(&row.patients);
        let sealed = SealedRow {
            id,
            event: row,
            seq,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        };
        diesel::insert_into(audit_events::table)
            .values(&sealed)
            .execute(c)?;
        for patient in patients {
            diesel::insert_into(audit_event_patients::table)
                .values((
                    audit_event_patients::patient_id.eq(patient),
                    audit_event_patients::event_id.eq(id),
                ))
                .execute(c)?;
        }
        ids.push(id);
    }
    if let Some(transaction) = transaction {
        let end = ChainEnd {
            id,
            seq,
            hash: prev,
        };
        CHAIN_END.with_borrow_mut(|kept| *kept = Some((transaction, end)));
    }
    Ok(ids)
}

/// Drops the kept chain end: a write other than [`record_sealed`]'s moved it.
fn forget_chain_end() {
    CHAIN_END.with_borrow_mut(|kept| *kept = None);
}

/// SQLite: where the chain ends now, read from the database, with the events an older version
/// left unsealed sealed first (they come first in the chain).
fn chain_end(conn: &mut DbConnection) -> Result<ChainEnd, StoreError> {
    // No `LIMIT` in these lookups: the bundled SQLite compiles a statement with a bound
    // `LIMIT ?` again every time it runs (docs/persistence.md, "Statements without LIMIT").
    let unsealed: bool = crate::on_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        audit_events::table.filter(audit_events::seq.is_null())
    ))
    .get_result(c))?;
    if unsealed {
        seal(conn, usize::MAX)?;
    }
    let (seq, hash) = tip(conn)?;
    // AUTOINCREMENT's counter: the highest id ever given (a pruned id is never given again).
    let highest: Option<i64> = crate::on_backend!(conn, |c| sqlite_sequence::table
        .filter(sqlite_sequence::name.eq("audit_events"))
        .select(sqlite_sequence::seq)
        .get_result(c)
        .optional())?;
    Ok(ChainEnd {
        id: highest.unwrap_or(0),
        seq,
        hash,
    })
}

/// An event's stored columns.
fn event_row(e: &NewAuditEvent) -> EventRow<'_> {
    EventRow {
        at: to_db(e.at),
        actor: e.actor,
        actor_role: e.actor_role.as_deref(),
        attempted_username: e.attempted_username.as_deref(),
        client: &e.client,
        request_id: &e.request_id,
        action: e.action.as_str(),
        resource: e.resource.as_str(),
        resource_id: e.resource_id,
        patients: patients_text(&e.patients),
        query: strip_secrets(&e.query),
        status: i32::from(e.status),
    }
}

/// Inserts `events` unsealed, for the sealer to link ([`seal`]): what [`record`] does on
/// PostgreSQL, and what versions before sealing on insert did on SQLite (the tests use it to
/// exercise the sealer on both backends).
pub fn record_unsealed(
    conn: &mut DbConnection,
    events: &[NewAuditEvent],
) -> Result<Vec<i64>, StoreError> {
    forget_chain_end();
    let rows: Vec<EventRow<'_>> = events.iter().map(event_row).collect();
    if let DbConnection::Postgresql(c) = conn {
        return insert_unsealed_pg(c, &rows);
    }
    let inserted: Vec<(i64, String)> =
        crate::on_backend!(conn, |c| diesel::insert_into(audit_events::table)
            .values(&rows)
            .returning((audit_events::id, audit_events::patients))
            .get_results(c))?;
    let index: Vec<_> = inserted
        .iter()
        .flat_map(|(id, patients)| {
            parse_patients(patients).into_iter().map(move |patient| {
                (
                    audit_event_patients::patient_id.eq(patient),
                    audit_event_patients::event_id.eq(*id),
                )
            })
        })
        .collect();
    for chunk in index.chunks(INDEX_ROWS_PER_INSERT) {
        crate::on_backend!(conn, |c| diesel::insert_into(audit_event_patients::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(inserted.into_iter().map(|(id, _)| id).collect())
}

/// PostgreSQL: the events and their patient index rows in one statement (one round trip, and
/// no transaction of its own needed: a statement is atomic), the columns bound as arrays.
/// The statement's text never changes, so it is prepared once per connection and found again
/// by its type ([`InsertEventsPg`]); as `sql_query` it was parsed and planned for every batch.
fn insert_unsealed_pg(
    c: &mut diesel::PgConnection,
    rows: &[EventRow<'_>],
) -> Result<Vec<i64>, StoreError> {
    let insert = InsertEventsPg {
        at: rows.iter().map(|r| r.at).collect(),
        actor: rows.iter().map(|r| r.actor).collect(),
        actor_role: rows.iter().map(|r| r.actor_role).collect(),
        attempted_username: rows.iter().map(|r| r.attempted_username).collect(),
        client: rows.iter().map(|r| r.client).collect(),
        request_id: rows.iter().map(|r| r.request_id).collect(),
        action: rows.iter().map(|r| r.action).collect(),
        resource: rows.iter().map(|r| r.resource).collect(),
        resource_id: rows.iter().map(|r| r.resource_id).collect(),
        patients: rows.iter().map(|r| r.patients.as_str()).collect(),
        query: rows.iter().map(|r| r.query.as_str()).collect(),
        status: rows.iter().map(|r| r.status).collect(),
    };
    Ok(insert.load::<i64>(c)?)
}

/// The statement of [`insert_unsealed_pg`], with its twelve columns bound as arrays (borrowed
/// from the rows: nothing is copied to bind them).
struct InsertEventsPg<'a> {
    at: Vec<NaiveDateTime>,
    actor: Vec<Option<i64>>,
    actor_role: Vec<Option<&'a str>>,
    attempted_username: Vec<Option<&'a str>>,
    client: Vec<&'a str>,
    request_id: Vec<&'a str>,
    action: Vec<&'a str>,
    resource: Vec<&'a str>,
    resource_id: Vec<Option<i64>>,
    patients: Vec<&'a str>,
    query: Vec<&'a str>,
    status: Vec<i32>,
}

/// The statement's text is the same for every value, so one type names it in the cache.
impl diesel::query_builder::QueryId for InsertEventsPg<'_> {
    type QueryId = InsertEventsPg<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for InsertEventsPg<'_> {
    type SqlType = BigInt;
}

impl RunQueryDsl<diesel::PgConnection> for InsertEventsPg<'_> {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertEventsPg<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Nullable as N};
        out.push_sql(
            "WITH e AS (INSERT INTO audit_events (at, actor, actor_role, attempted_username, \
             client, request_id, action, resource, resource_id, patients, query, status) \
             SELECT * FROM UNNEST(",
        );
        out.push_bind_param::<Array<Timestamp>, _>(&self.at)?;
        out.push_sql("::timestamp[], ");
        out.push_bind_param::<Array<N<BigInt>>, _>(&self.actor)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<N<Text>>, _>(&self.actor_role)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<N<Text>>, _>(&self.attempted_username)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.client)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.request_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.action)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.resource)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<N<BigInt>>, _>(&self.resource_id)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.patients)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.query)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.status)?;
        out.push_sql(
            "::int[]) RETURNING id, patients), \
             i AS (INSERT INTO audit_event_patients (patient_id, event_id) \
             SELECT p::bigint, e.id FROM e, jsonb_array_elements_text(e.patients::jsonb) AS p) \
             SELECT id FROM e ORDER BY id",
        );
        Ok(())
    }
}

/// One stored event, as [`verify`], [`export`] and [`seal`] read it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct AuditEvent {
    /// Row id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// When the request was answered (UTC).
    #[diesel(sql_type = Timestamp)]
    pub at: NaiveDateTime,
    /// The authenticated user.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub actor: Option<i64>,
    /// The actor's role.
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
    /// The username tried by a failed login.
    #[diesel(sql_type = Nullable<Text>)]
    pub attempted_username: Option<String>,
    /// Client address.
    #[diesel(sql_type = Text)]
    pub client: String,
    /// Request id.
    #[diesel(sql_type = Text)]
    pub request_id: String,
    /// Action name ([`Action::as_str`]).
    #[diesel(sql_type = Text)]
    pub action: String,
    /// Resource name ([`Resource::as_str`]).
    #[diesel(sql_type = Text)]
    pub resource: String,
    /// The record's id.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub resource_id: Option<i64>,
    /// Patient ids, as stored (a sorted JSON array).
    #[diesel(sql_type = Text)]
    pub patients: String,
    /// The query string, secrets removed.
    #[diesel(sql_type = Text)]
    pub query: String,
    /// HTTP status.
    #[diesel(sql_type = Integer)]
    pub status: i32,
    /// Position in the chain (`None` until sealed).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub seq: Option<i64>,
    /// The previous event's hash (`None` until sealed).
    #[diesel(sql_type = Nullable<Text>)]
    pub prev_hash: Option<String>,
    /// This event's hash (`None` until sealed).
    #[diesel(sql_type = Nullable<Text>)]
    pub hash: Option<String>,
    /// The commit-order key: the id on SQLite, the inserting transaction's id on PostgreSQL.
    /// The chain's order is (`order_key`, `id`).
    #[diesel(sql_type = BigInt)]
    pub order_key: i64,
}

/// The columns every read of events selects, `order_key` last (per backend).
pub(crate) const COLUMNS: &str = "id, at, actor, actor_role, attempted_username, client, request_id, \
                       action, resource, resource_id, patients, query, status, seq, prev_hash, hash";

fn order_key_sql(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Sqlite(_) => "id",
        DbConnection::Postgresql(_) => "CAST(CAST(xid AS text) AS BIGINT)",
    }
}

/// `SELECT` of the event columns and the order key with `rest` (a `WHERE ... ORDER BY ...
/// LIMIT` with `?` placeholders, numbered for PostgreSQL here).
pub(crate) fn select_events(conn: &DbConnection, rest: &str) -> String {
    placeholders(
        conn,
        format!(
            "SELECT {COLUMNS}, {} AS order_key FROM audit_events {rest}",
            order_key_sql(conn)
        ),
    )
}

/// `sql` with its `?` placeholders numbered (`$1`, `$2`, ...) for PostgreSQL, as it is for
/// SQLite.
pub(crate) fn placeholders(conn: &DbConnection, sql: String) -> String {
    if !matches!(conn, DbConnection::Postgresql(_)) {
        return sql;
    }
    let mut numbered = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            numbered.push_str(&format!("${n}"));
        } else {
            numbered.push(ch);
        }
    }
    numbered
}

/// The event's time as it enters the canonical form: RFC 3339, UTC, microseconds.
pub(crate) fn canonical_time(at: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    // What `%Y-%m-%dT%H:%M:%S%.6fZ` writes, without parsing a format string per event.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() % 1_000_000_000 / 1000
    )
}

/// The canonical form of an event at chain position `seq` after `prev_hash`: a JSON array of
/// [`CANONICAL_VERSION`], `seq`, `id`, `at`, `actor`, `actor_role`, `attempted_username`,
/// `client`, `request_id`, `action`, `resource`, `resource_id`, `patients` (the stored text),
/// `query`, `status` and `prev_hash`, in that order, without spaces.
pub fn canonical(event: &AuditEvent, seq: i64, prev_hash: &str) -> String {
    // A tuple is written as a JSON array, exactly as `serde_json::json!([...])` would write it,
    // without building a `Value` first.
    serde_json::to_string(&(
        CANONICAL_VERSION,
        seq,
        event.id,
        canonical_time(event.at),
        event.actor,
        &event.actor_role,
        &event.attempted_username,
        &event.client,
        &event.request_id,
        &event.action,
        &event.resource,
        event.resource_id,
        &event.patients,
        &event.query,
        event.status,
        prev_hash,
    ))
    .unwrap_or_default()
}

/// SHA-256 of the canonical form, lower-case hex.
pub fn event_hash(event: &AuditEvent, seq: i64, prev_hash: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(canonical(event, seq, prev_hash).as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

/// The chain's start: the anchor a prune left, else position 0 and [`GENESIS`].
fn anchor(conn: &mut DbConnection) -> Result<(i64, String), StoreError> {
    let found: Option<(i64, String)> = crate::on_backend!(conn, |c| audit_anchor::table
        .select((audit_anchor::seq, audit_anchor::hash))
        .get_result(c)
        .optional())?;
    Ok(found.unwrap_or_else(|| (0, GENESIS.to_owned())))
}

/// The last sealed event's position and hash, else the anchor. (The highest position by
/// `max`, not by `ORDER BY ... LIMIT 1`: see [`chain_end`].)
fn tip(conn: &mut DbConnection) -> Result<(i64, String), StoreError> {
    let other = diesel::alias!(audit_events as highest);
    let highest = other
        .select(diesel::dsl::max(other.field(audit_events::seq)))
        .single_value();
    let last: Option<(Option<i64>, Option<String>)> =
        crate::on_backend!(conn, |c| audit_events::table
            .filter(audit_events::seq.eq(highest))
            .select((audit_events::seq, audit_events::hash))
            .get_result(c)
            .optional())?;
    match last {
        Some((Some(seq), Some(hash))) => Ok((seq, hash)),
        Some(_) => Err(StoreError::Corrupt(
            "a sealed audit event has no hash".into(),
        )),
        None => anchor(conn),
    }
}

/// Key of the PostgreSQL advisory lock that serialises sealing within a transaction (besides
/// the lease): `audit` in ASCII.
const SEAL_LOCK: i64 = 0x61_75_64_69_74;

/// Links at most `max` unsealed events into the chain, in commit order (see the module
/// documentation); returns how many. Run it in a write ([`crate::Database::write`]): on SQLite the
/// write transaction makes it the only writer, on PostgreSQL it takes a transaction-scoped
/// advisory lock first, so two sealers never link the same tip twice (and the unique index on
/// `seq` would refuse it if they did).
pub fn seal(conn: &mut DbConnection, max: usize) -> Result<usize, StoreError> {
    forget_chain_end();
    atomic(conn, |conn| {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        if let DbConnection::Postgresql(c) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(SEAL_LOCK)
                .execute(c)?;
            // The unsealed index keeps an entry for every event sealed since the last VACUUM
            // (sealing updates the row). A plain index scan marks the entries of dead rows so
            // the next pass skips them; a bitmap scan, which the planner picks for its small
            // estimate, never does and rereads them all: 18 ms instead of 1 ms per pass at
            // 150,000 events (EXPLAIN ANALYZE, docs/performance.md).
            diesel::sql_query("SET LOCAL enable_bitmapscan = off").execute(c)?;
        }
        let rest = match conn {
            DbConnection::Sqlite(_) => "WHERE seq IS NULL ORDER BY id LIMIT ?",
            DbConnection::Postgresql(_) => {
                "WHERE seq IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot()) \
                 ORDER BY xid, id LIMIT ?"
            }
        };
        let sql = select_events(conn, rest);
        let pending: Vec<AuditEvent> =
            crate::on_backend!(conn, |c| diesel::sql_query(sql.as_str())
                .bind::<BigInt, _>(limit)
                .load(c))?;
        if pending.is_empty() {
            return Ok(0);
        }
        let (mut seq, mut prev) = tip(conn)?;
        if let DbConnection::Postgresql(c) = conn {
            // One UPDATE for the whole batch (one round trip instead of one per event).
            let (mut ids, mut seqs, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![]);
            for event in &pending {
                seq += 1;
                let hash = event_hash(event, seq, &prev);
                ids.push(event.id);
                seqs.push(seq);
                prevs.push(std::mem::replace(&mut prev, hash.clone()));
                hashes.push(hash);
            }
            let updated = diesel::sql_query(
                "UPDATE audit_events AS e SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash \
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[]) \
                 AS v(id, seq, prev_hash, hash) WHERE e.id = v.id AND e.seq IS NULL",
            )
            .bind::<diesel::sql_types::Array<BigInt>, _>(&ids)
            .bind::<diesel::sql_types::Array<BigInt>, _>(&seqs)
            .bind::<diesel::sql_types::Array<Text>, _>(&prevs)
            .bind::<diesel::sql_types::Array<Text>, _>(&hashes)
            .execute(c)?;
            if updated != pending.len() {
                return Err(StoreError::Corrupt(format!(
                    "{} of {} audit events were sealed by someone else",
                    pending.len() - updated,
                    pending.len()
                )));
            }
            return Ok(pending.len());
        }
        for event in &pending {
            seq += 1;
            let hash = event_hash(event, seq, &prev);
            let target = audit_events::table
                .filter(audit_events::id.eq(event.id))
                .filter(audit_events::seq.is_null());
            let updated = crate::on_backend!(conn, |c| diesel::update(target)
                .set((
                    audit_events::seq.eq(seq),
                    audit_events::prev_hash.eq(&prev),
                    audit_events::hash.eq(&hash),
                ))
                .execute(c))?;
            if updated != 1 {
                return Err(StoreError::Corrupt(format!(
                    "audit event {} was sealed by someone else",
                    event.id
                )));
            }
            prev = hash;
        }
        Ok(pending.len())
    })
}

/// Takes (or renews) the sealer lease for `holder` and, when it holds it, seals at most `max`
/// events, in the caller's write transaction; `None` when another holder has the lease.
pub fn seal_leased(
    conn: &mut DbConnection,
    holder: &str,
    ttl: Duration,
    max: usize,
) -> Result<Option<usize>, StoreError> {
    if !crate::leases::take(conn, SEALER_LEASE, holder, ttl)? {
        return Ok(None);
    }
    seal(conn, max).map(Some)
}

/// Why [`verify`] failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken at this event.
    #[error("audit event {event}: {what}")]
    Broken {
        /// The id of the first event found changed, out of order, or after a removed one.
        event: i64,
        /// What is wrong with it.
        what: String,
    },
    /// The events could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many sealed events [`verify`] and [`export`] read at a time.
const PAGE: i64 = 1000;

/// Walks the sealed events in chain order from the anchor and checks, for each: its position
/// follows the previous one (no event removed, none added with a taken position), its
/// `prev_hash` is the previous event's hash, its hash is that of its content, and it comes
/// after the previous one in commit order; then that no unsealed event is older (in commit
/// order) than the last sealed one (none inserted into the past). Returns how many sealed
/// events it checked. Removal of the newest events leaves no trace in the chain itself: compare
/// the head ([`head`]) with one kept elsewhere for that.
pub fn verify(conn: &mut DbConnection) -> Result<usize, VerifyError> {
    let (mut seq, mut prev) = anchor(conn)?;
    // A prune removes every event up to its anchor: one still there means the anchor was moved
    // past events that were removed.
    let sql = select_events(
        conn,
        "WHERE seq IS NOT NULL AND seq <= ? ORDER BY seq LIMIT 1",
    );
    let behind: Option<AuditEvent> = crate::on_backend!(conn, |c| diesel::sql_query(sql.as_str())
        .bind::<BigInt, _>(seq)
        .get_result(c)
        .optional())
    .map_err(StoreError::from)?;
    if let Some(event) = behind {
        return Err(VerifyError::Broken {
            event: event.id,
            what: format!(
                "it is at chain position {}, at or before the prune anchor (position {seq}), \
                 which a prune leaves only after removing every event up to it: the anchor was \
                 moved past events that were removed",
                event.seq.unwrap_or_default()
            ),
        });
    }
    let mut last: Option<(i64, i64)> = None;
    let mut checked = 0usize;
    loop {
        let sql = select_events(
            conn,
            "WHERE seq IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?",
        );
        let page: Vec<AuditEvent> = crate::on_backend!(conn, |c| diesel::sql_query(sql.as_str())
            .bind::<BigInt, _>(seq)
            .bind::<BigInt, _>(PAGE)
            .load(c))
        .map_err(StoreError::from)?;
        if page.is_empty() {
            break;
        }
        for event in page {
            let broken = |what: String| VerifyError::Broken {
                event: event.id,
                what,
            };
            let at = event.seq.unwrap_or_default();
            if at != seq + 1 {
                return Err(broken(format!(
                    "its chain position is {at} but the previous event's is {seq}: \
                     the events between were removed"
                )));
            }
            let Some(hash) = event.hash.clone() else {
                return Err(broken("it is sealed but has no hash".into()));
            };
            if event.prev_hash.as_deref() != Some(prev.as_str()) {
                return Err(broken(format!(
                    "its prev_hash does not match the hash of the event before it (position \
                     {seq}): that event was removed or changed, or this one was inserted"
                )));
            }
            if event_hash(&event, at, &prev) != hash {
                return Err(broken(
                    "its content does not match its hash: it was changed".into(),
                ));
            }
            let key = (event.order_key, event.id);
            if last.is_some_and(|before| key <= before) {
                return Err(broken(
                    "it comes before the previous event in commit order: it was inserted out \
                     of order"
                        .into(),
                ));
            }
            last = Some(key);
            seq = at;
            prev = hash;
            checked += 1;
        }
    }
    if let Some(last) = last {
        let order = match conn {
            DbConnection::Sqlite(_) => "ORDER BY id",
            DbConnection::Postgresql(_) => "ORDER BY xid, id",
        };
        let sql = select_events(conn, &format!("WHERE seq IS NULL {order} LIMIT 1"));
        let oldest: Option<AuditEvent> =
            crate::on_backend!(conn, |c| diesel::sql_query(sql.as_str())
                .get_result(c)
                .optional())
            .map_err(StoreError::from)?;
        if let Some(event) = oldest {
            if (event.order_key, event.id) < last {
                return Err(VerifyError::Broken {
                    event: event.id,
                    what: "it is not sealed but older in commit order than sealed events: it \
                           was inserted out of order"
                        .into(),
                });
            }
        }
    }
    Ok(checked)
}

/// How many events are not linked into the chain yet.
pub fn unsealed(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(crate::on_backend!(conn, |c| audit_events::table
        .filter(audit_events::seq.is_null())
        .count()
        .get_result(c))?)
}

/// The last sealed event's position and hash (or the anchor's): keep it outside the database
/// to detect later removal of the newest events.
pub fn head(conn: &mut DbConnection) -> Result<(i64, String), StoreError> {
    tip(conn)
}

/// What the last prune left: the anchor `verify` starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneAnchor {
    /// The chain position of the last removed event.
    pub seq: i64,
    /// The date the events were older than.
    pub pruned_before: DateTime<Utc>,
    /// When the prune ran.
    pub pruned_at: DateTime<Utc>,
}

/// The anchor a prune left, if any (compare it with the prunes that were run).
pub fn pruned(conn: &mut DbConnection) -> Result<Option<PruneAnchor>, StoreError> {
    let found: Option<(i64, NaiveDateTime, NaiveDateTime)> =
        crate::on_backend!(conn, |c| audit_anchor::table
            .select((
                audit_anchor::seq,
                audit_anchor::pruned_before,
                audit_anchor::pruned_at
            ))
            .get_result(c)
            .optional())?;
    Ok(found.map(|(seq, before, at)| PruneAnchor {
        seq,
        pruned_before: from_db(before),
        pruned_at: from_db(at),
    }))
}

/// Writes the events with `since <= at < until` (all after `since` without `until`), sealed or
/// not, in id order, to `out` as NDJSON: one JSON object a line with the fields of
/// [`AuditEvent`] (`patients` as an array of ids, `at` in RFC 3339 UTC). Returns how many.
pub fn export(
    conn: &mut DbConnection,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    out: &mut dyn Write,
) -> Result<usize, StoreError> {
    let since = to_db(since);
    let until = until.map(to_db);
    let mut after = i64::MIN;
    let mut written = 0;
    loop {
        let sql = select_events(
            conn,
            "WHERE id > ? AND at >= ? AND (? IS NULL OR at < ?) ORDER BY id LIMIT ?",
        );
        let page: Vec<AuditEvent> = crate::on_backend!(conn, |c| diesel::sql_query(sql.as_str())
            .bind::<BigInt, _>(after)
            .bind::<Timestamp, _>(since)
            .bind::<Nullable<Timestamp>, _>(until)
            .bind::<Nullable<Timestamp>, _>(until)
            .bind::<BigInt, _>(PAGE)
            .load(c))?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for event in &page {
            let line = serde_json::json!({
                "id": event.id,
                "at": canonical_time(event.at),
                "actor": event.actor,
                "actor_role": event.actor_role,
                "attempted_username": event.attempted_username,
                "client": event.client,
                "request_id": event.request_id,
                "action": event.action,
                "resource": event.resource,
                "resource_id": event.resource_id,
                "patients": parse_patients(&event.patients),
                "query": event.query,
                "status": event.status,
                "seq": event.seq,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            });
            writeln!(out, "{line}")
                .map_err(|e| StoreError::Config(format!("cannot write the export: {e}")))?;
            written += 1;
        }
    }
    Ok(written)
}

/// What [`prune`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Events removed.
    pub removed: usize,
    /// The anchor now: the position and hash the chain goes on from.
    pub anchor_seq: i64,
}

/// Removes the sealed events before `before`: the longest prefix of the chain whose events are
/// all older than `before` (an event sealed after a newer one stays, with everything after it;
/// unsealed events stay). The last removed event's position and hash become the anchor, so the
/// rest still verifies. The deletes pass the append-only triggers because this transaction
/// holds the `audit_prune_permit` row (inserted first, deleted last: no other transaction ever
/// sees it). Run it in a write ([`crate::Database::write`]).
pub fn prune(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
    forget_chain_end();
    let before = to_db(before);
    atomic(conn, |conn| {
        let (anchor_seq, _) = anchor(conn)?;
        let first_kept: Option<i64> = crate::on_backend!(conn, |c| audit_events::table
            .filter(audit_events::seq.is_not_null())
            .filter(audit_events::at.ge(before))
            .select(diesel::dsl::min(audit_events::seq))
            .first(c))?;
        let upto = match first_kept {
            Some(first) => first - 1,
            None => crate::on_backend!(conn, |c| audit_events::table
                .select(diesel::dsl::max(audit_events::seq))
                .first::<Option<i64>>(c))?
            .unwrap_or(anchor_seq),
        };
        if upto <= anchor_seq {
            return Ok(Pruned {
                removed: 0,
                anchor_seq,
            });
        }
        let hash: Option<String> = crate::on_backend!(conn, |c| audit_events::table
            .filter(audit_events::seq.eq(upto))
            .select(audit_events::hash)
            .first(c))?;
        let hash = hash.ok_or_else(|| StoreError::Corrupt("sealed event without hash".into()))?;
        crate::on_backend!(conn, |c| diesel::insert_into(audit_prune_permit::table)
            .values((
                audit_prune_permit::id.eq(1),
                audit_prune_permit::upto_seq.eq(upto),
            ))
            .execute(c))?;
        let removed_ids = audit_events::table
            .filter(audit_events::seq.le(upto))
            .select(audit_events::id);
        crate::on_backend!(conn, |c| diesel::delete(
            audit_event_patients::table.filter(audit_event_patients::event_id.eq_any(removed_ids))
        )
        .execute(c))?;
        let removed = crate::on_backend!(conn, |c| diesel::delete(
            audit_events::table.filter(audit_events::seq.le(upto))
        )
        .execute(c))?;
        let stamp = to_db(now());
        crate::on_backend!(conn, |c| diesel::insert_into(audit_anchor::table)
            .values((
                audit_anchor::id.eq(1),
                audit_anchor::seq.eq(upto),
                audit_anchor::hash.eq(&hash),
                audit_anchor::pruned_before.eq(before),
                audit_anchor::pruned_at.eq(stamp),
            ))
            .on_conflict(audit_anchor::id)
            .do_update()
            .set((
                audit_anchor::seq.eq(upto),
                audit_anchor::hash.eq(&hash),
                audit_anchor::pruned_before.eq(before),
                audit_anchor::pruned_at.eq(stamp),
            ))
            .execute(c))?;
        crate::on_backend!(conn, |c| diesel::delete(audit_prune_permit::table)
            .execute(c))?;
        Ok(Pruned {
            removed,
            anchor_seq: upto,
        })
    })
}

#[cfg(test)]
mod tests {

    /// The canonical form is the JSON array `serde_json::json!` writes (escapes, nulls,
    /// non-ASCII), and the time is chrono's `%Y-%m-%dT%H:%M:%S%.6fZ`.
    #[test]
    fn canonical_form_is_the_documented_json_array() {
        let at = chrono::DateTime::parse_from_rfc3339("2025-01-07T10:11:12.123456789Z")
            .unwrap()
            .naive_utc();
        let event = AuditEvent {
            id: 7,
            at,
            actor: None,
            actor_role: Some("admin".into()),
            attempted_username: Some("\"Zoë\"\n\u{1}".into()),
            client: "10.0.0.1".into(),
            request_id: "r-1".into(),
            action: "read".into(),
            resource: "patient".into(),
            resource_id: Some(3),
            patients: "[3,17]".into(),
            query: "a=1&b=é".into(),
            status: 200,
            seq: None,
            prev_hash: None,
            hash: None,
            order_key: 7,
        };
        let expected = serde_json::json!([
            CANONICAL_VERSION,
            5,
            7,
            at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            null,
            "admin",
            "\"Zoë\"\n\u{1}",
            "10.0.0.1",
            "r-1",
            "read",
            "patient",
            3,
            "[3,17]",
            "a=1&b=é",
            200,
            GENESIS
        ])
        .to_string();
        assert_eq!(canonical(&event, 5, GENESIS), expected);
        assert_eq!(canonical_time(at), "2025-01-07T10:11:12.123456Z");
        let digest = Sha256::digest(expected.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(event_hash(&event, 5, GENESIS), hex);
    }

    use super::*;

    #[test]
    fn secrets_are_stripped_from_query_strings() {
        assert_eq!(strip_secrets("?page=2&token=abc&q=x"), "page=2&q=x");
        assert_eq!(strip_secrets("Password=1&search=doe"), "search=doe");
        assert_eq!(strip_secrets(""), "");
    }

    #[test]
    fn patient_lists_are_sorted_and_read_back() {
        assert_eq!(patients_text(&[3, 1, 3]), "[1,3]");
        assert_eq!(parse_patients("[1,3]"), vec![1, 3]);
        assert!(parse_patients("[]").is_empty());
    }
}
