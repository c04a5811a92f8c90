//! Accounts.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{Listed, Page};
use crate::schema::{doctors, users};
use crate::time::{from_db, now, to_db};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use healthcare_domain::{DoctorId, Role, User, UserId};

/// A stored account row (with its password hash, which never leaves persistence and auth).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    id: i64,
    username: String,
    username_key: String,
    email: String,
    /// The bcrypt hash.
    pub password_hash: String,
    role: String,
    is_active: bool,
    date_joined: NaiveDateTime,
    /// Bumped by a password change, deactivation or role change (ends every session).
    pub token_version: i64,
}

impl UserRow {
    /// The account as the domain sees it.
    pub fn to_domain(&self) -> StoreResult<User> {
        let _ = &self.username_key;
        Ok(User {
            id: UserId(self.id),
            username: self.username.clone(),
            email: self.email.clone(),
            role: self
                .role
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("user {} role", self.id)))?,
            is_active: self.is_active,
            date_joined: from_db(self.date_joined),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct UserInsert<'a> {
    username: &'a str,
    username_key: &'a str,
    email: &'a str,
    password_hash: &'a str,
    role: &'a str,
    is_active: bool,
    date_joined: NaiveDateTime,
}

/// The case-insensitive key under which a username is unique.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Creates an account with a given role.
pub fn create(
    conn: &mut DbConnection,
    username: &str,
    email: &str,
    password_hash: &str,
    role: Role,
) -> StoreResult<User> {
    let row: UserRow = diesel::insert_into(users::table)
        .values(UserInsert {
            username,
            username_key: &username_key(username),
            email,
            password_hash,
            role: role.as_str(),
            is_active: true,
            date_joined: to_db(now()),
        })
        .returning(users::all_columns)
        .get_result(conn)?;
    row.to_domain()
}

/// Self-registration: the first account of an empty database becomes `admin`, later ones
/// `patient`. Call inside a write transaction: on SQLite the IMMEDIATE transaction serialises
/// registrations; on PostgreSQL an advisory lock does, so two first registrations cannot both
/// become admin.
pub fn register(
    conn: &mut DbConnection,
    username: &str,
    email: &str,
    password_hash: &str,
) -> StoreResult<User> {
    if let DbConnection::Postgresql(_) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(72731)").execute(conn)?;
    }
    let existing: i64 = users::table.count().get_result(conn)?;
    let role = if existing == 0 {
        Role::Admin
    } else {
        Role::Patient
    };
    create(conn, username, email, password_hash, role)
}

/// An account by id.
pub fn find(conn: &mut DbConnection, id: UserId) -> StoreResult<UserRow> {
    Ok(users::table.find(id.0).get_result(conn)?)
}

/// An account by username, case-insensitively.
pub fn find_by_username(conn: &mut DbConnection, username: &str) -> StoreResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::username_key.eq(username_key(username)))
        .get_result(conn)
        .optional()?)
}

/// What a request needs to know about its caller: current role, whether active, and the
/// doctor record linked to the account. One query.
pub fn caller(
    conn: &mut DbConnection,
    id: UserId,
) -> StoreResult<Option<(Role, bool, Option<DoctorId>)>> {
    let row: Option<(String, bool, Option<i64>)> = on_backend!(conn, |c| users::table
        .left_join(
            doctors::table.on(doctors::user_id
                .eq(users::id.nullable())
                .and(doctors::archived_at.is_null())),
        )
        .filter(users::id.eq(id.0))
        .select((users::role, users::is_active, doctors::id.nullable()))
        .get_result(c)
        .optional())?;
    row.map(|(role, active, doctor)| {
        let role: Role = role
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("user {} role", id.0)))?;
        Ok((role, active, doctor.map(DoctorId)))
    })
    .transpose()
}

/// All accounts, by id.
pub fn list(conn: &mut DbConnection, page: Page) -> StoreResult<Listed<User>> {
    let total: i64 = users::table.count().get_result(conn)?;
    let rows: Vec<UserRow> = users::table
        .order(users::id.asc())
        .limit(page.limit)
        .offset(page.offset)
        .load(conn)?;
    let items = rows
        .iter()
        .map(UserRow::to_domain)
        .collect::<StoreResult<_>>()?;
    Ok(Listed { items, total })
}

/// Changes an admin makes to an account (the password already hashed).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserUpdate {
    /// Email.
    pub email: Option<String>,
    /// Role code.
    pub role: Option<String>,
    /// Active.
    pub is_active: Option<bool>,
    /// New bcrypt hash.
    pub password_hash: Option<String>,
}

/// Applies an update; deactivating an account revokes its refresh tokens.
pub fn update(conn: &mut DbConnection, id: UserId, changes: &UserUpdate) -> StoreResult<User> {
    find(conn, id)?;
    let row: UserRow = if changes.email.is_none()
        && changes.role.is_none()
        && changes.is_active.is_none()
        && changes.password_hash.is_none()
    {
        find(conn, id)?
    } else {
        diesel::update(users::table.filter(users::id.eq(id.0)))
            .set(changes)
            .returning(users::all_columns)
            .get_result(conn)?
    };
    if changes.is_active == Some(false) || changes.password_hash.is_some() {
        crate::tokens::revoke_user(conn, id)?;
    }
    row.to_domain()
}
