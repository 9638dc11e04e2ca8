//! SQLite's side of [`crate::db`]: binding values, reading columns, and SQLite's own rendering of
//! values in `json_array` (what the evidence seals hash), reproduced so that both engines seal the
//! same text.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Arg, Col, Error, Result};

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Real(v) => ValueRef::Real(v),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
            Arg::Invalid(why) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(why.into()));
            }
        }))
    }
}

/// The arguments as rusqlite takes them.
pub(crate) fn bind<'a>(args: &'a [Arg<'a>]) -> Result<Vec<&'a dyn rusqlite::ToSql>> {
    for a in args {
        if let Arg::Invalid(why) = a {
            return Err(Error::Bind((*why).to_owned()));
        }
    }
    Ok(args.iter().map(|a| a as &dyn rusqlite::ToSql).collect())
}

pub(crate) fn col<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<Col<'r>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => Col::Null,
        ValueRef::Integer(v) => Col::Int(v),
        ValueRef::Real(v) => Col::Real(v),
        ValueRef::Text(t) => Col::Text(
            std::str::from_utf8(t).map_err(|e| super::corrupt(i, format!("not UTF-8: {e}")))?,
        ),
        ValueRef::Blob(b) => Col::Blob(b),
    })
}

/// A JSON string as SQLite's `json_array` writes it: `"` and `\` escaped, control characters as
/// `\b \f \n \r \t` or `\u00XX`, everything else as it is.
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs that need no escape are copied whole (a sealed row is mostly such text); every
    // character that needs one is ASCII, so a byte position is a character boundary.
    let mut run = 0;
    for (at, b) in s.bytes().enumerate() {
        // Most bytes need nothing: three comparisons for them, before the escapes' eight.
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        let short = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            b if b < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[run..at]);
        match short {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{b:04x}")),
        }
        run = at + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// A REAL as SQLite's `json_array` writes it. Its digits come from SQLite's own printf, whose
/// rounding of the last digits is its own (and has changed between SQLite versions), so the text
/// is asked of the SQLite compiled into this binary, in memory, on either engine: a photo sealed
/// on SQLite checks the same after a copy to PostgreSQL.
pub(crate) fn json_real(r: f64) -> String {
    thread_local! {
        static PRINTER: Option<rusqlite::Connection> = rusqlite::Connection::open_in_memory().ok();
    }
    let text = PRINTER.with(|c| {
        c.as_ref().and_then(|c| {
            c.query_row("SELECT json_array(?1)", [r], |row| row.get::<_, String>(0))
                .ok()
        })
    });
    match text {
        // "[...]" without its brackets.
        Some(t) if t.len() >= 2 => t[1..t.len() - 1].to_owned(),
        // An in-memory database that cannot open means no memory: the seal cannot be computed,
        // and a text no seal can match makes that visible rather than silently different.
        _ => format!("\"unrenderable real {r:e}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_json(conn: &rusqlite::Connection, v: rusqlite::types::Value) -> String {
        conn.query_row("SELECT json_array(?1)", [v], |r| r.get(0))
            .expect("json_array")
    }

    fn ours(c: Col<'_>) -> String {
        crate::db::json_array(&[c])
    }

    #[test]
    fn a_row_of_every_kind_of_value_renders_as_sqlite_json_array_renders_it() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let reals = [
            0.0,
            -0.0,
            0.1,
            1.0 / 3.0,
            1e15,
            1e17,
            5e-324,
            123.456,
            f64::INFINITY,
        ];
        for r in reals {
            let row = [
                Col::Text("uuid-1"),
                Col::Int(-7),
                Col::Null,
                Col::Real(r),
                Col::Text("{\"gps\":[36.4,115.9]}"),
            ];
            let expected: String = conn
                .query_row(
                    "SELECT json_array(?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params!["uuid-1", -7, None::<i64>, r, "{\"gps\":[36.4,115.9]}"],
                    |x| x.get(0),
                )
                .expect("json_array");
            assert_eq!(crate::db::json_array(&row), expected, "{r:e}");
        }
    }

    #[test]
    fn text_renders_as_sqlite_renders_it_in_json() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let mut samples: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .collect();
        samples.extend(
            [
                "水城羊肉馆",
                "\u{2028}\u{2029}",
                "😀 emoji",
                "\u{7f}\u{80}\u{9f}",
                "quote \" and \\ back",
                "",
                "{\"k\":[1,2]}",
            ]
            .map(str::to_owned),
        );
        for s in samples {
            assert_eq!(
                ours(Col::Text(&s)),
                sqlite_json(&conn, rusqlite::types::Value::Text(s.clone())),
                "{s:?}"
            );
        }
        for n in [0i64, -1, i64::MAX, i64::MIN, 42] {
            assert_eq!(
                ours(Col::Int(n)),
                sqlite_json(&conn, rusqlite::types::Value::Integer(n))
            );
        }
        assert_eq!(
            ours(Col::Null),
            sqlite_json(&conn, rusqlite::types::Value::Null)
        );
    }
}
