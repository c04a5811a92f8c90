//! Pagination of list queries.

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page size.
pub const MAX_LIMIT: i64 = 1000;

/// A window into a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows at most.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list plus the number of rows in the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The rows of the page.
    pub items: Vec<T>,
    /// Rows in the whole (filtered) list.
    pub total: i64,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`, lower-cased, wrapped in `%`
/// (a substring).
pub fn like_pattern(search: &str) -> String {
    let mut out = prefix_pattern(search);
    out.insert(0, '%');
    out
}

/// As [`like_pattern`], for the values that start with `search`.
pub fn prefix_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    for c in search.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

diesel::define_sql_function! {
    /// SQL `lower(text)`, on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}
