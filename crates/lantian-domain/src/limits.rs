//! Text and count limits of what people type, in one place. Lengths count characters (Unicode
//! scalar values), never bytes: a Chinese note of 2000 characters is 2000, not 6000.

use crate::ValidationError;

/// A short free text: a review comment, what was done about an order, a request's or an
/// amendment's reason, an answer's note, an alert's note.
pub const NOTE_CHARS: usize = 2000;
/// A long free text: a text answer, an inspection's notes, an incident's description.
pub const TEXT_CHARS: usize = 4000;
/// A person's or a thing's name: a user's display name.
pub const NAME_CHARS: usize = 100;
/// Photos that one answer, incident or amendment may declare.
pub const PHOTOS_PER_ITEM: usize = 20;

/// Whether `text` has at most `max` characters.
pub fn within(text: &str, max: usize) -> bool {
    // `chars().count()` walks the whole string; a string of at most `max` bytes needs no walk.
    text.len() <= max || text.chars().count() <= max
}

/// A required text, trimmed: refused with `code` on `field` when empty or longer than `max`.
pub fn required<'a>(
    text: &'a str,
    max: usize,
    code: &'static str,
    field: &str,
    message: &str,
) -> Result<&'a str, ValidationError> {
    let t = text.trim();
    if t.is_empty() || !within(t, max) {
        return Err(ValidationError::new(code, field, message));
    }
    Ok(t)
}

/// An optional text, trimmed (blank is none): refused with `code` on `field` when longer than `max`.
pub fn optional(
    text: Option<String>,
    max: usize,
    code: &'static str,
    field: &str,
) -> Result<Option<String>, ValidationError> {
    let t = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if t.as_deref().is_some_and(|t| !within(t, max)) {
        return Err(ValidationError::new(
            code,
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let chinese = "整".repeat(NOTE_CHARS);
        assert!(chinese.len() > NOTE_CHARS);
        assert!(within(&chinese, NOTE_CHARS));
        assert!(!within(&format!("{chinese}改"), NOTE_CHARS));
    }

    #[test]
    fn required_text_is_trimmed_and_refused_when_blank_or_long() {
        assert_eq!(required("  ok ", 5, "c", "f", "m"), Ok("ok"));
        assert_eq!(
            required("   ", 5, "c", "f", "m").map_err(|e| e.code),
            Err("c")
        );
        assert_eq!(
            required("toolong", 5, "c", "f", "m").map_err(|e| e.field),
            Err("f".to_owned())
        );
        assert_eq!(optional(Some("  ".into()), 5, "c", "f"), Ok(None));
        assert_eq!(
            optional(Some("toolong".into()), 5, "too_long", "f").map_err(|e| e.code),
            Err("too_long")
        );
    }
}
