//! Accounts.

use crate::db::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::on_backend;
use crate::page::{Listed, Page};
use crate::schema::{doctors, sessions, users};
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
    version: i64,
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
            version: self.version,
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

/// The key under which a username is unique and looked up: NFKC, then Unicode default case
/// folding ([`healthcare_domain::username_key`]).
pub fn username_key(username: &str) -> String {
    healthcare_domain::username_key(username)
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

/// What a request needs to know about its caller's account and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerFacts {
    /// Current role.
    pub role: Role,
    /// Whether the account is active.
    pub is_active: bool,
    /// The account's token version (tokens issued under another one are void).
    pub token_version: i64,
    /// The doctor record linked to the account.
    pub doctor: Option<DoctorId>,
    /// Whether the token's session exists, belongs to the account and is not revoked.
    pub session_live: bool,
}

/// role, is_active, token_version, linked doctor, live session id.
type CallerRow = (String, bool, i64, Option<i64>, Option<String>);

/// The caller's account facts and whether their session `sid` is live. One query.
pub fn caller(conn: &mut DbConnection, id: UserId, sid: &str) -> StoreResult<Option<CallerFacts>> {
    let row: Option<CallerRow> = on_backend!(conn, |c| {
        users::table
            .left_join(
                doctors::table.on(doctors::user_id
                    .eq(users::id.nullable())
                    .and(doctors::archived_at.is_null())),
            )
            .left_join(
                sessions::table.on(sessions::id
                    .eq(sid)
                    .and(sessions::user_id.eq(users::id))
                    .and(sessions::revoked_at.is_null())),
            )
            .filter(users::id.eq(id.0))
            .select((
                users::role,
                users::is_active,
                users::token_version,
                doctors::id.nullable(),
                sessions::id.nullable(),
            ))
            .get_result(c)
            .optional()
    })?;
    row.map(|(role, is_active, token_version, doctor, session)| {
        let role: Role = role
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("user {} role", id.0)))?;
        Ok(CallerFacts {
            role,
            is_active,
            token_version,
            doctor: doctor.map(DoctorId),
            session_live: session.is_some(),
        })
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

/// Applies an update. A new password, a deactivation or another role moves the account's token
/// version and revokes every session, so tokens issued before stop working everywhere.
pub fn update(conn: &mut DbConnection, id: UserId, changes: &UserUpdate) -> StoreResult<User> {
    let before = find(conn, id)?;
    let leaves_doctor = before.role == Role::Doctor.as_str()
        && changes
            .role
            .as_ref()
            .is_some_and(|r| *r != Role::Doctor.as_str());
    let admin = Role::Admin.as_str();
    let demoted = changes.role.as_ref().is_some_and(|r| *r != admin);
    if before.role == admin && before.is_active && (demoted || changes.is_active == Some(false)) {
        keep_an_admin(conn, id, if demoted { "role" } else { "is_active" })?;
    }
    let ends_sessions = changes.password_hash.is_some()
        || (changes.is_active == Some(false) && before.is_active)
        || changes.role.as_ref().is_some_and(|r| *r != before.role);
    let row: UserRow = if changes.email.is_none()
        && changes.role.is_none()
        && changes.is_active.is_none()
        && changes.password_hash.is_none()
    {
        before
    } else {
        // One statement, which bumps the version itself (the table's trigger then leaves it),
        // so the returned row has the version the change ends with.
        diesel::update(users::table.filter(users::id.eq(id.0)))
            .set((
                changes,
                users::token_version.eq(users::token_version + i64::from(ends_sessions)),
                users::version.eq(users::version + 1),
            ))
            .returning(users::all_columns)
            .get_result(conn)?
    };
    // After the UPDATE, which holds the account's row: a link made meanwhile has committed
    // (it holds the row while it reads the role, `doctors::check_user`) and is seen here.
    if leaves_doctor {
        refuse_while_linked(conn, id)?;
    }
    if ends_sessions {
        crate::tokens::revoke_user(conn, id)?;
    }
    row.to_domain()
}

/// Refuses to demote or deactivate active admin `id` unless another active admin remains. On
/// PostgreSQL the active admins' rows are held first, in id order, until the change commits:
/// of two admins demoting each other at once, the second waits, then finds itself the last one.
fn keep_an_admin(conn: &mut DbConnection, id: UserId, field: &'static str) -> StoreResult<()> {
    let admins = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::is_active.eq(true))
        .order(users::id)
        .select(users::id);
    let active: Vec<i64> = match conn {
        DbConnection::Postgresql(c) => admins.for_update().load(c)?,
        DbConnection::Sqlite(c) => admins.load(c)?,
    };
    if active.iter().any(|a| *a != id.0) {
        return Ok(());
    }
    Err(StoreError::Invalid {
        field,
        message: LAST_ADMIN.into(),
    })
}

/// Why the last active admin keeps the role and stays active.
pub const LAST_ADMIN: &str =
    "This is the last active admin account: make another account an admin first.";

/// Refuses to take the doctor role from an account a Doctor record is linked to (only a doctor
/// account may be linked, `doctors::check_user`): the link goes first.
fn refuse_while_linked(conn: &mut DbConnection, id: UserId) -> StoreResult<()> {
    let linked: Option<i64> = doctors::table
        .filter(doctors::user_id.eq(id.0))
        .filter(doctors::archived_at.is_null())
        .select(doctors::id)
        .first(conn)
        .optional()?;
    match linked {
        Some(doctor) => Err(StoreError::Invalid {
            field: "role",
            message: format!(
                "This account is linked to doctor {doctor}: set that doctor's user to null \
                 first."
            ),
        }),
        None => Ok(()),
    }
}

/// A user's own password change: stores the new hash and ends every other session of the
/// account (the one that made the change, `keep`, goes on).
pub fn change_password(
    conn: &mut DbConnection,
    id: UserId,
    password_hash: &str,
    keep: &str,
) -> StoreResult<()> {
    diesel::update(users::table.filter(users::id.eq(id.0)))
        .set(users::password_hash.eq(password_hash))
        .execute(conn)?;
    crate::tokens::revoke_user_sessions(conn, id, Some(keep), now())
}

/// Replaces a password hash by one of the same password at another cost (re-hash at login),
/// unless the password changed meanwhile (`old_hash` no longer stored). Sessions are untouched.
pub fn rehash_password(
    conn: &mut DbConnection,
    id: UserId,
    old_hash: &str,
    new_hash: &str,
) -> StoreResult<()> {
    diesel::update(
        users::table
            .filter(users::id.eq(id.0))
            .filter(users::password_hash.eq(old_hash)),
    )
    .set(users::password_hash.eq(new_hash))
    .execute(conn)?;
    Ok(())
}
