//! Reading the audit trail back: the admin's filtered list (`GET /api/audit/`) and a patient's
//! access log (`GET /api/patients/{id}/access-log/`), both newest first and paged.

use crate::audit::{placeholders, select_events, AuditEvent};
use crate::db::DbConnection;
use crate::error::StoreError;
use crate::page::{Listed, Page};
use crate::time::to_db;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

/// What `GET /api/audit/` filters on; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events that touched this patient record.
    pub patient: Option<i64>,
    /// Events of this user.
    pub actor: Option<i64>,
    /// Events of this action (its stored name).
    pub action: Option<String>,
    /// Events on this kind of record (its stored name).
    pub resource: Option<String>,
    /// Events on this record id.
    pub resource_id: Option<i64>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub until: Option<DateTime<Utc>>,
}

/// The WHERE clause of [`list`]: every filter as `(? IS NULL OR ...)`, bound in this order:
/// patient (twice), actor, action, resource, resource id, from, until (each twice).
const FILTER: &str = "WHERE (? IS NULL OR id IN \
     (SELECT event_id FROM audit_event_patients WHERE patient_id = ?)) \
     AND (? IS NULL OR actor = ?) AND (? IS NULL OR action = ?) \
     AND (? IS NULL OR resource = ?) AND (? IS NULL OR resource_id = ?) \
     AND (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?)";

/// Binds [`FILTER`]'s values to a query.
macro_rules! bind_filter {
    ($query:expr, $f:expr) => {{
        let from = $f.from.map(to_db);
        let until = $f.until.map(to_db);
        $query
            .bind::<Nullable<BigInt>, _>($f.patient)
            .bind::<Nullable<BigInt>, _>($f.patient)
            .bind::<Nullable<BigInt>, _>($f.actor)
            .bind::<Nullable<BigInt>, _>($f.actor)
            .bind::<Nullable<Text>, _>($f.action.clone())
            .bind::<Nullable<Text>, _>($f.action.clone())
            .bind::<Nullable<Text>, _>($f.resource.clone())
            .bind::<Nullable<Text>, _>($f.resource.clone())
            .bind::<Nullable<BigInt>, _>($f.resource_id)
            .bind::<Nullable<BigInt>, _>($f.resource_id)
            .bind::<Nullable<Timestamp>, _>(from)
            .bind::<Nullable<Timestamp>, _>(from)
            .bind::<Nullable<Timestamp>, _>(until)
            .bind::<Nullable<Timestamp>, _>(until)
    }};
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One page of the events `filter` selects, newest first (by id: the order they were recorded
/// in; no index but the primary key and the patient index serves the filters), and how
/// many it selects in all.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    page: Page,
) -> Result<Listed<AuditEvent>, StoreError> {
    let items_sql = select_events(conn, &format!("{FILTER} ORDER BY id DESC LIMIT ? OFFSET ?"));
    let items: Vec<AuditEvent> = crate::on_backend!(conn, |c| bind_filter!(
        diesel::sql_query(items_sql.as_str()),
        filter
    )
    .bind::<BigInt, _>(page.limit)
    .bind::<BigInt, _>(page.offset)
    .load(c))?;
    let count_sql = placeholders(
        conn,
        format!("SELECT COUNT(*) AS n FROM audit_events {FILTER}"),
    );
    let total: Count = crate::on_backend!(conn, |c| bind_filter!(
        diesel::sql_query(count_sql.as_str()),
        filter
    )
    .get_result(c))?;
    Ok(Listed {
        items,
        total: total.n,
    })
}

/// One line of a patient's access log: who did what to which of their records, when.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct AccessEntry {
    /// When the request was answered (UTC).
    #[diesel(sql_type = Timestamp)]
    pub at: NaiveDateTime,
    /// The actor's username now (`None` for an anonymous request or a removed account).
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_username: Option<String>,
    /// The actor's role at the time.
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
    /// What was done ([`crate::audit::Action::as_str`]).
    #[diesel(sql_type = Text)]
    pub action: String,
    /// On what kind of record ([`crate::audit::Resource::as_str`]).
    #[diesel(sql_type = Text)]
    pub resource: String,
    /// The record's id, for one-record requests.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub resource_id: Option<i64>,
    /// The client's address.
    #[diesel(sql_type = Text)]
    pub client: String,
}

/// The events the access log lists: answered requests (status 200-399; a refused request
/// disclosed nothing) and every export a receiver answered, whatever it answered (its
/// `status` is the receiver's answer: a webhook that answered 500 had the patient's data all
/// the same). An export no receiver answered (status 0: refused, timed out) is left out.
const ANSWERED: &str =
    "((e.status >= 200 AND e.status < 400) OR (e.action = 'export' AND e.status <> 0))";

/// One page of the answered requests that touched patient `patient`, newest first, and how
/// many there are in all.
pub fn access_log(
    conn: &mut DbConnection,
    patient: i64,
    page: Page,
) -> Result<Listed<AccessEntry>, StoreError> {
    let items_sql = placeholders(
        conn,
        format!(
            "SELECT e.at, u.username AS actor_username, e.actor_role, e.action, e.resource, \
             e.resource_id, e.client \
             FROM audit_event_patients p JOIN audit_events e ON e.id = p.event_id \
             LEFT JOIN users u ON u.id = e.actor \
             WHERE p.patient_id = ? AND {ANSWERED} \
             ORDER BY e.id DESC LIMIT ? OFFSET ?"
        ),
    );
    let items: Vec<AccessEntry> =
        crate::on_backend!(conn, |c| diesel::sql_query(items_sql.as_str())
            .bind::<BigInt, _>(patient)
            .bind::<BigInt, _>(page.limit)
            .bind::<BigInt, _>(page.offset)
            .load(c))?;
    let count_sql = placeholders(
        conn,
        format!(
            "SELECT COUNT(*) AS n FROM audit_event_patients p \
             JOIN audit_events e ON e.id = p.event_id WHERE p.patient_id = ? AND {ANSWERED}"
        ),
    );
    let total: Count = crate::on_backend!(conn, |c| diesel::sql_query(count_sql.as_str())
        .bind::<BigInt, _>(patient)
        .get_result(c))?;
    Ok(Listed {
        items,
        total: total.n,
    })
}
