//! Checklist templates: publishing immutable versions, and reading them.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::checklist::{ChecklistTemplate, TemplateDraft};
use lantian_domain::subject::SubjectKind;

use crate::sync::{self, Group};
use crate::{StoreError, now_text, parse_time, sha256_hex};

/// Publishes `draft` as the next version of template `code` (version 1 if new). A later version
/// must keep the subject kind of the first.
pub fn publish(
    conn: &Tx,
    g: Group,
    code: &str,
    draft: &TemplateDraft,
    by: Option<i64>,
) -> Result<ChecklistTemplate, StoreError> {
    if !lantian_domain::checklist::valid_template_code(code) {
        return Err(StoreError::Invalid(lantian_domain::ValidationError::new(
            "template_code_invalid",
            "code",
            "template codes are 2 to 64 lowercase letters, digits or _",
        )));
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
    let t = get(conn, code, version)?.ok_or(StoreError::NotFound)?;
    publish_entity(conn, g, &t)?;
    Ok(t)
}

/// Puts a template version in the global scope, as `template` `code@version`.
pub fn publish_entity(conn: &Tx, g: Group, t: &ChecklistTemplate) -> Result<(), StoreError> {
    let id = format!("{}@{}", t.code, t.version);
    sync::put(conn, g, lantian_domain::sync::GLOBAL, "template", &id, t)
}

const COLUMNS: &str =
    "code, version, subject_kind, title_zh, title_en, items, content_hash, published_at";

fn decode(r: &crate::db::Row<'_>) -> crate::db::Result<ChecklistTemplate> {
    let kind: String = r.get(2)?;
    let items: String = r.get(5)?;
    let published_at: String = r.get(7)?;
    Ok(ChecklistTemplate {
        code: r.get(0)?,
        version: r.get(1)?,
        subject_kind: SubjectKind::parse(&kind)
            .ok_or_else(|| crate::corrupt(2, format!("subject kind {kind}")))?,
        title_zh: r.get(3)?,
        title_en: r.get(4)?,
        items: serde_json::from_str(&items).map_err(|e| crate::corrupt(5, e.to_string()))?,
        content_hash: r.get(6)?,
        published_at: parse_time(&published_at).map_err(|e| crate::corrupt(7, e.to_string()))?,
    })
}

pub fn get(conn: &Tx, code: &str, version: u32) -> Result<Option<ChecklistTemplate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM checklist_templates WHERE code = ?1 AND version = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![code, version], decode)
        .optional()?)
}

/// The latest version of every template.
pub fn latest(conn: &Tx) -> Result<Vec<ChecklistTemplate>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM checklist_templates t
         WHERE version = (SELECT max(version) FROM checklist_templates WHERE code = t.code) ORDER BY code"
    );
    let mut stmt = conn.prepare(&sql)?;
    Ok(stmt.query_map([], decode)?.collect::<Result<_, _>>()?)
}

/// Every version of one template, oldest first.
pub fn versions(conn: &Tx, code: &str) -> Result<Vec<ChecklistTemplate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM checklist_templates WHERE code = ?1 ORDER BY version");
    let mut stmt = conn.prepare(&sql)?;
    Ok(stmt.query_map([code], decode)?.collect::<Result<_, _>>()?)
}
