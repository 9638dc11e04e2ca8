//! PostgreSQL's side of [`crate::db`]: a blocking connection (the `postgres` crate; decision 0028)
//! with its statements prepared once, `?N` turned into `$N`, values bound to whatever type the
//! server inferred for a parameter, and columns read whatever integer or text type they have.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Arc;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::{Arg, Col, Error, Result};

/// Most statements kept prepared per connection; past it the cache starts again (filters that
/// build their SQL could otherwise grow it without end).
const CACHE: usize = 512;

pub(crate) struct PgConn {
    /// Always `Some` but while the connection is dropped.
    client: RefCell<Option<postgres::Client>>,
    cache: RefCell<HashMap<String, postgres::Statement>>,
}

/// How to reach the database: the URL as configured (`postgres://user@host:port/db`, with
/// `?sslmode=require` for TLS that verifies the server against the system's roots). Must not be
/// called on an async thread: the blocking client runs a small runtime of its own.
pub(crate) fn connect(url: &str) -> Result<PgConn> {
    let config: postgres::Config = url.parse()?;
    let client = match config.get_ssl_mode() {
        postgres::config::SslMode::Require => {
            config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls()?))?
        }
        // `disable` and `prefer` (the default): a private network between the nodes and the
        // database, as in docs/scale-out.md. `prefer` would need a certificate check that could
        // silently fall back; `require` says what is meant.
        _ => config.connect(postgres::NoTls)?,
    };
    Ok(PgConn {
        client: RefCell::new(Some(client)),
        cache: RefCell::new(HashMap::new()),
    })
}

/// TLS to the database on rustls with ring (no C crypto in the build), the system's roots; made
/// once per process.
fn tls() -> Result<rustls::ClientConfig> {
    static TLS: std::sync::OnceLock<std::result::Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| Error::Bind(format!("TLS: {e}")))
}

impl PgConn {
    fn client(&self) -> Result<std::cell::RefMut<'_, postgres::Client>> {
        let c = self.client.try_borrow_mut().map_err(|_| Error::Reentered)?;
        std::cell::RefMut::filter_map(c, Option::as_mut).map_err(|_| Error::Reentered)
    }

    /// Whether the connection has been lost (the server restarted, a failover, a network cut).
    pub(crate) fn is_closed(&self) -> bool {
        self.client
            .try_borrow()
            .map(|c| c.as_ref().is_none_or(postgres::Client::is_closed))
            .unwrap_or(false)
    }

    /// The statement for `sql` (written with `?N` parameters), prepared once per connection.
    pub(crate) fn prepare(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client()?.prepare(&translate(sql))?;
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= CACHE {
            cache.clear();
        }
        cache.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    pub(crate) fn execute(&self, stmt: &postgres::Statement, args: &[Arg<'_>]) -> Result<usize> {
        let n = self.client()?.execute(stmt, &refs(args))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) fn query(
        &self,
        stmt: &postgres::Statement,
        args: &[Arg<'_>],
    ) -> Result<Vec<postgres::Row>> {
        Ok(self.client()?.query(stmt, &refs(args))?)
    }

    pub(crate) fn query_opt(
        &self,
        stmt: &postgres::Statement,
        args: &[Arg<'_>],
    ) -> Result<Option<postgres::Row>> {
        // Not `query_opt`: that fails on a second row, where SQLite's `query_row` takes the first.
        let mut rows = self.client()?.query(stmt, &refs(args))?;
        Ok(if rows.is_empty() {
            None
        } else {
            Some(rows.swap_remove(0))
        })
    }

    /// Streams the rows of `stmt` through `f` without holding them all.
    pub(crate) fn for_each(
        &self,
        stmt: &postgres::Statement,
        args: &[Arg<'_>],
        mut f: impl FnMut(&postgres::Row) -> Result<()>,
    ) -> Result<()> {
        use fallible_iterator::FallibleIterator;
        let mut client = self.client()?;
        let mut rows = client.query_raw(stmt, refs(args))?;
        while let Some(r) = rows.next()? {
            f(&r)?;
        }
        Ok(())
    }

    /// Runs statements without parameters (transaction control, DDL).
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.client()?.batch_execute(sql)?)
    }
}

impl Drop for PgConn {
    /// Closing the blocking client runs its small runtime, which must not happen on an async
    /// thread (where the last clone of a store may well be dropped): there it closes on a thread
    /// of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.get_mut().take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("lantian-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

fn refs<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// `?N` (and a bare `?`) as `$N`, outside quoted text, and the one SQLite idiom the store uses for
/// a list parameter, `(SELECT value FROM json_each(?N))`, as PostgreSQL's
/// `json_array_elements_text`.
pub(crate) fn translate(sql: &str) -> String {
    const LIST: &str = "json_each(?";
    let mut out = String::with_capacity(sql.len() + 16);
    let bytes = sql.as_bytes();
    let mut i = 0;
    let mut next_bare = 1;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            let len = utf8_len(b);
            out.push_str(&sql[i..i + len]);
            if b == q {
                quote = None;
            }
            i += len;
            continue;
        }
        match b {
            b'\'' | b'"' => {
                quote = Some(b);
                out.push(b as char);
                i += 1;
            }
            b'j' if sql[i..].starts_with(LIST) => {
                let start = i + LIST.len();
                let end = start + sql[start..].bytes().take_while(u8::is_ascii_digit).count();
                out.push_str("json_array_elements_text(CAST($");
                out.push_str(&sql[start..end]);
                out.push_str(" AS json)");
                i = end;
            }
            b'?' => {
                let start = i + 1;
                let end = start + sql[start..].bytes().take_while(u8::is_ascii_digit).count();
                out.push('$');
                if end > start {
                    out.push_str(&sql[start..end]);
                } else {
                    out.push_str(&next_bare.to_string());
                    next_bare += 1;
                }
                i = end;
            }
            _ => {
                // Copy the whole UTF-8 character.
                let len = utf8_len(b);
                out.push_str(&sql[i..i + len]);
                i += len;
            }
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl ToSql for Arg<'_> {
    /// The value in the type the server inferred for the parameter: an integer binds to any
    /// integer type (range-checked), a boolean, a float or text; text to text or JSON; a float to
    /// a float. Anything else is a mistake in a statement, reported with both types.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match (*self, ty) {
            (Arg::Null, _) => Ok(IsNull::Yes),
            (Arg::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Arg::Int(v), &Type::INT4) => i32::try_from(v)?.to_sql(ty, out),
            (Arg::Int(v), &Type::INT2) => i16::try_from(v)?.to_sql(ty, out),
            (Arg::Int(v), &Type::BOOL) => (v != 0).to_sql(ty, out),
            (Arg::Int(v), &Type::FLOAT8) => (v as f64).to_sql(ty, out),
            (Arg::Int(v), &Type::FLOAT4) => (v as f32).to_sql(ty, out),
            (Arg::Int(v), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::UNKNOWN) => {
                v.to_string().as_str().to_sql(&Type::TEXT, out)
            }
            (Arg::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Arg::Real(v), &Type::FLOAT4) => (v as f32).to_sql(ty, out),
            (Arg::Real(v), &Type::TEXT | &Type::VARCHAR | &Type::UNKNOWN) => {
                super::sqlite::json_real(v)
                    .as_str()
                    .to_sql(&Type::TEXT, out)
            }
            (
                Arg::Text(s),
                &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN,
            ) => s.to_sql(&Type::TEXT, out),
            (Arg::Text(s), &Type::JSON) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Arg::Text(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Arg::Text(s), &Type::BYTEA) => s.as_bytes().to_sql(ty, out),
            (Arg::Blob(b), &Type::BYTEA) => b.to_sql(ty, out),
            (Arg::Invalid(why), _) => Err(why.into()),
            (a, ty) => Err(format!("cannot bind {a:?} to a parameter of type {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Column `i` of `row` as either engine's value: integers of every width and booleans as
/// integers (a flag is a 0/1 integer on SQLite), floats, text, bytes.
pub(crate) fn col(row: &postgres::Row, i: usize) -> Result<Col<'_>> {
    let ty = row
        .columns()
        .get(i)
        .ok_or_else(|| super::corrupt(i, "no such column".into()))?
        .type_()
        .clone();
    let err = |e: postgres::Error| super::corrupt(i, e.to_string());
    Ok(match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(err)?
            .map_or(Col::Null, Col::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(err)?
            .map_or(Col::Null, |v| Col::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(err)?
            .map_or(Col::Null, |v| Col::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(err)?
            .map_or(Col::Null, |v| Col::Int(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(err)?
            .map_or(Col::Null, Col::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(err)?
            .map_or(Col::Null, |v| Col::Real(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<&str>>(i)
            .map_err(err)?
            .map_or(Col::Null, Col::Text),
        Type::BYTEA => row
            .try_get::<_, Option<&[u8]>>(i)
            .map_err(err)?
            .map_or(Col::Null, Col::Blob),
        Type::JSON | Type::JSONB => {
            return Err(super::corrupt(
                i,
                format!("a {ty} column: cast it to text in the statement"),
            ));
        }
        other => {
            return Err(super::corrupt(
                i,
                format!("a column of type {other}: cast it in the statement"),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn parameters_become_dollar_numbers_outside_quoted_text() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?\" = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?\" = $12"
        );
        assert_eq!(translate("VALUES (?, ?)"), "VALUES ($1, $2)");
        assert_eq!(
            translate("SELECT x FROM t WHERE id IN (SELECT value FROM json_each(?3)) AND n = '水'"),
            "SELECT x FROM t WHERE id IN (SELECT value FROM json_array_elements_text(CAST($3 AS json))) AND n = '水'"
        );
    }
}
