//! Checklist templates: publishing immutable versions, and reading them.

use lantian_domain::checklist::{ChecklistTemplate, TemplateDraft};
use lantian_domain::subject::SubjectKind;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{StoreError, now_text, parse_time, sha256_hex};

/// Publishes `draft` as the next version of template `code` (version 1 if new). A later version
/// must keep the subject kind of the first.
pub fn publish(conn: &Connection, code: &str, draft: &TemplateDraft, by: Option<i64>) -> Result<ChecklistTemplate, StoreError> {
    if !lantian_domain::checklist::valid_template_code(code) {
        return Err(StoreError::Invalid(lantian_domain::ValidationError::new("template_code_invalid", "code", "template codes are 2 to 64 lowercase letters, digits or _")));
    }
    draft.validate()?;
    let existing: Option<(u32, String)> = conn
        .query_row(
            "SELECT version, subject_kind FROM checklist_templates WHERE code = ?1 ORDER BY version DESC LIMIT 1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let version = match &existing {
        Some((_, kind)) if kind != draft.subject_kind.as_str() => {
            return Err(StoreError::Conflict("template_kind_mismatch"));
        }
        Some((v, _)) => v + 1,
        None => 1,
    };
    let items = serde_json::to_string(&draft.items)?;
    let content_hash = sha256_hex(serde_json::to_string(draft)?.as_bytes());
    conn.execute(
        "INSERT INTO checklist_templates (code, version, subject_kind, title_zh, title_en, items, content_hash, published_at, published_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![code, version, draft.subject_kind.as_str(), draft.title_zh, draft.title_en, items, content_hash, now_text(), by],
    )?;
    get(conn, code, version)?.ok_or(StoreError::NotFound)
}

const COLUMNS: &str = "code, version, subject_kind, title_zh, title_en, items, content_hash, published_at";

fn decode(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, u32, String, String, String, String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

fn build(t: (String, u32, String, String, String, String, String, String)) -> Result<ChecklistTemplate, StoreError> {
    let (code, version, kind, title_zh, title_en, items, content_hash, published_at) = t;
    Ok(ChecklistTemplate {
        code,
        version,
        subject_kind: SubjectKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("subject kind {kind}")))?,
        title_zh,
        title_en,
        items: serde_json::from_str(&items)?,
        published_at: parse_time(&published_at)?,
        content_hash,
    })
}

pub fn get(conn: &Connection, code: &str, version: u32) -> Result<Option<ChecklistTemplate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM checklist_templates WHERE code = ?1 AND version = ?2");
    conn.query_row(&sql, params![code, version], decode).optional()?.map(build).transpose()
}

/// The latest version of every template.
pub fn latest(conn: &Connection) -> Result<Vec<ChecklistTemplate>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM checklist_templates t
         WHERE version = (SELECT max(version) FROM checklist_templates WHERE code = t.code) ORDER BY code"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<_> = stmt.query_map([], decode)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(build).collect()
}

/// Every version of one template, oldest first.
pub fn versions(conn: &Connection, code: &str) -> Result<Vec<ChecklistTemplate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM checklist_templates WHERE code = ?1 ORDER BY version");
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<_> = stmt.query_map([code], decode)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(build).collect()
}
