//! Log lines that cannot be forged. Text logs write each event as one line; a field holding text
//! from outside (a username typed at the login, a header) could otherwise carry a newline and
//! write a line of its own that looks like the server's. Every control character inside a line is
//! written escaped (`\n`, `\r`, `\t`, `\u{1b}`), so one event stays one line whatever it logs.

use std::io::Write;

/// `line` (one formatted event, its trailing newline included) with every control character
/// before that newline escaped.
pub fn escape_line(line: &[u8]) -> Vec<u8> {
    let (body, end) = match line.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (line, &b""[..]),
    };
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len() + end.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(end);
    bytes
}

/// Standard error, one escaped line per write (the fmt layer writes each event whole).
pub struct EscapedStderr;

impl Write for EscapedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().lock().write_all(&escape_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The writer for `tracing_subscriber::fmt().with_writer(...)`.
pub fn escaped_stderr() -> EscapedStderr {
    EscapedStderr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newline_in_a_field_cannot_start_a_line_of_its_own() {
        let forged =
            b"WARN failed login username=a\n2026-12-01T00:00:00Z INFO admin logged in\x1b[0m\n";
        let out = String::from_utf8(escape_line(forged)).expect("utf-8");
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.ends_with('\n'));
        assert!(
            out.contains("username=a\\n2026") && out.contains("\\u{1b}[0m"),
            "{out}"
        );
        assert_eq!(escape_line(b"plain line\n"), b"plain line\n");
    }
}
