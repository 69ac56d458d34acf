//! Prepared-statement reuse for the embedded SQLite stores. rusqlite's
//! `execute` and `query_row` prepare their SQL on every call, which was about
//! a tenth of the handler's CPU under load; these go through the
//! connection's statement cache instead.

use rusqlite::{Connection, Params, Result, Row};

/// Statements kept prepared per connection (the stores use about twenty).
pub const STATEMENT_CACHE: usize = 64;

pub trait Cached {
    fn exec_cached<P: Params>(&self, sql: &str, params: P) -> Result<usize>;
    fn query_row_cached<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<T>;
}

impl Cached for Connection {
    fn exec_cached<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
