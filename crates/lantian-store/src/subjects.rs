//! Subjects: insert, edit with optimistic versions, get, and filtered listing with a cursor.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::subject::{
    GeoPoint, Subject, SubjectAttributes, SubjectDraft, SubjectKind, normalize_plate,
};
use uuid::Uuid;

use crate::org::{path_text, unit_by_code};
use crate::sync::{self, Group};
use crate::{StoreError, cols, now_text};

/// A subject with the path of its unit, which authorization needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectRecord {
    pub subject: Subject,
    pub unit_path: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SubjectFilter {
    /// Only subjects whose unit lies in the subtree with this root path.
    pub within: Vec<String>,
    pub kind: Option<SubjectKind>,
    /// Case-insensitive substring of the name, plate number, project or road name.
    pub text: Option<String>,
    /// An attribute equal to a value: the attribute's name (`grade`), and the value as a JSON
    /// literal (`"b"`, `true`, `40`).
    pub attribute: Option<(String, String)>,
    /// Cursor: only subjects after this internal id.
    pub after: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubjectPage {
    pub items: Vec<Subject>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

fn search_text(d: &SubjectDraft) -> String {
    let mut s = d.name.to_lowercase();
    for t in d.attributes.search_terms() {
        s.push('\u{1f}');
        s.push_str(&t.to_lowercase());
    }
    if let SubjectAttributes::MuckTruck(t) = &d.attributes
        && let Some(p) = normalize_plate(&t.plate_number)
    {
        s.push('\u{1f}');
        s.push_str(&p.to_lowercase());
    }
    s
}

/// What is stored for a truck's plate: its normalised form, so `鲁p·a1234` finds `鲁PA1234`.
fn normalized(mut d: SubjectDraft) -> SubjectDraft {
    if let SubjectAttributes::MuckTruck(t) = &mut d.attributes
        && let Some(p) = normalize_plate(&t.plate_number)
    {
        t.plate_number = p;
    }
    d.name = d.name.trim().to_owned();
    d
}

const COLUMNS: &str = "s.id, s.uuid, s.name, u.code, u.path, s.kind, s.attributes, s.lat, s.lon, s.geometry, s.version, s.created_at, s.updated_at, s.on_ledger_since";

/// A subject row with its internal id (the listing cursor).
fn subject_row(r: &crate::db::Row<'_>) -> crate::db::Result<(i64, SubjectRecord)> {
    let kind: String = r.get(5)?;
    let attributes: serde_json::Value = cols::json(r, 6)?;
    let attributes: SubjectAttributes =
        serde_json::from_value(serde_json::json!({"kind": kind, "attributes": attributes}))
            .map_err(|e| crate::corrupt(6, e.to_string()))?;
    let location = match (r.get::<_, Option<f64>>(7)?, r.get::<_, Option<f64>>(8)?) {
        (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
        _ => None,
    };
    let geometry = match r.get::<_, Option<String>>(9)? {
        Some(g) => Some(serde_json::from_str(&g).map_err(|e| crate::corrupt(9, e.to_string()))?),
        None => None,
    };
    let subject = Subject {
        id: cols::uuid(r, 1)?,
        name: r.get(2)?,
        unit: r.get(3)?,
        attributes,
        location,
        geometry,
        on_ledger_since: r
            .get::<_, Option<String>>(13)?
            .map(|d| {
                d.parse()
                    .map_err(|_| crate::corrupt(13, format!("bad date {d:?}")))
            })
            .transpose()?,
        version: r.get(10)?,
        created_at: cols::time(r, 11)?,
        updated_at: cols::time(r, 12)?,
    };
    Ok((
        r.get(0)?,
        SubjectRecord {
            subject,
            unit_path: cols::path(r, 4)?,
        },
    ))
}

fn attributes_json(a: &SubjectAttributes) -> Result<String, StoreError> {
    let v = serde_json::to_value(a)?;
    Ok(v.get("attributes")
        .cloned()
        .unwrap_or(serde_json::Value::Null)
        .to_string())
}

pub fn get(conn: &Tx, id: Uuid) -> Result<Option<SubjectRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subjects s JOIN units u ON u.id = s.unit_id WHERE s.uuid = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], subject_row)
        .optional()?
        .map(|(_, rec)| rec))
}

/// Subjects `ids` (those that exist), in one statement.
pub fn get_many(
    conn: &Tx,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, SubjectRecord>, StoreError> {
    let wanted = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())?;
    let sql = format!(
        "SELECT {COLUMNS} FROM subjects s JOIN units u ON u.id = s.unit_id
         WHERE s.uuid IN (SELECT value FROM json_each(?1))"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([wanted], subject_row)?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let (_, rec) = r?;
        out.insert(rec.subject.id, rec);
    }
    Ok(out)
}

/// Inserts a validated subject. Fails with `Conflict("subject_exists")` if the id is taken.
pub fn insert(
    conn: &Tx,
    g: Group,
    id: Uuid,
    draft: SubjectDraft,
) -> Result<SubjectRecord, StoreError> {
    draft.validate()?;
    let draft = normalized(draft);
    let unit = unit_by_code(conn, &draft.unit)?.ok_or(StoreError::Conflict("unit_unknown"))?;
    let at = crate::clock::now();
    let now = crate::time_text(at);
    // On the ledger from the day it was registered, in China Standard Time, unless it says.
    let since = draft
        .on_ledger_since
        .unwrap_or_else(|| (at + chrono::Duration::hours(8)).date_naive());
    let exists: bool = conn
        .query_row(
            "SELECT 1 FROM subjects WHERE uuid = ?1",
            [id.to_string()],
            |_| Ok(true),
        )
        .optional()?
        .is_some();
    if exists {
        return Err(StoreError::Conflict("subject_exists"));
    }
    conn.execute(
        "INSERT INTO subjects (uuid, kind, name, unit_id, lat, lon, geometry, attributes, search_text, version, created_at, updated_at,
             on_ledger_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?10, ?11)",
        params![
            id.to_string(),
            draft.kind().as_str(),
            draft.name,
            unit.id,
            draft.location.map(|p| p.lat),
            draft.location.map(|p| p.lon),
            draft.geometry.as_ref().map(|g| g.to_string()),
            attributes_json(&draft.attributes)?,
            search_text(&draft),
            now,
            since.to_string(),
        ],
    )?;
    let rec = get(conn, id)?.ok_or(StoreError::NotFound)?;
    publish(conn, g, &rec.subject)?;
    Ok(rec)
}

/// Replaces a subject's editable fields if its version is still `expected_version`.
pub fn update(
    conn: &Tx,
    g: Group,
    id: Uuid,
    expected_version: i64,
    draft: SubjectDraft,
) -> Result<SubjectRecord, StoreError> {
    draft.validate()?;
    let draft = normalized(draft);
    let current = get(conn, id)?.ok_or(StoreError::NotFound)?;
    if current.subject.attributes.kind() != draft.kind() {
        return Err(StoreError::Conflict("subject_kind_immutable"));
    }
    if current.subject.version != expected_version {
        return Err(StoreError::Conflict("version_conflict"));
    }
    let unit = unit_by_code(conn, &draft.unit)?.ok_or(StoreError::Conflict("unit_unknown"))?;
    conn.execute(
        "UPDATE subjects SET name = ?2, unit_id = ?3, lat = ?4, lon = ?5, geometry = ?6, attributes = ?7, search_text = ?8,
                version = version + 1, updated_at = ?9, on_ledger_since = coalesce(?11, on_ledger_since)
         WHERE uuid = ?1 AND version = ?10",
        params![
            id.to_string(),
            draft.name,
            unit.id,
            draft.location.map(|p| p.lat),
            draft.location.map(|p| p.lon),
            draft.geometry.as_ref().map(|g| g.to_string()),
            attributes_json(&draft.attributes)?,
            search_text(&draft),
            now_text(),
            expected_version,
            draft.on_ledger_since.map(|d| d.to_string()),
        ],
    )?;
    let rec = get(conn, id)?.ok_or(StoreError::NotFound)?;
    publish(conn, g, &rec.subject)?;
    Ok(rec)
}

/// Puts the subject in its unit's scope (and takes it out of its old unit's, if it moved).
pub fn publish(conn: &Tx, g: Group, s: &Subject) -> Result<(), StoreError> {
    sync::put(
        conn,
        g,
        &lantian_domain::sync::unit_scope(&s.unit),
        "subject",
        &s.id.to_string(),
        s,
    )
}

pub fn list(conn: &Tx, f: &SubjectFilter) -> Result<SubjectPage, StoreError> {
    let limit = f.limit.clamp(1, 500);
    let text = f.text.as_ref().map(|t| {
        // A plate typed loosely ("鲁p·a1234") searches for its normal form, as stored.
        let t = normalize_plate(t).unwrap_or_else(|| t.clone());
        // LIKE wildcards typed by a user are literal.
        let escaped = t
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM subjects s JOIN units u ON u.id = s.unit_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1
           AND (CAST(?2 AS TEXT) IS NULL OR s.kind = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR s.search_text LIKE ?3 ESCAPE '\\')
           AND s.id > ?4
           AND (CAST(?6 AS TEXT) IS NULL OR {attribute})
         ORDER BY s.id LIMIT ?5",
        attribute = conn.dialect(
            "json_extract(s.attributes, ?6) = json_extract(?7, '$')",
            // ?6 is the path `$.name`.
            "(CAST(s.attributes AS jsonb) -> substr(CAST(?6 AS TEXT), 3)) = CAST(?7 AS jsonb)",
        )
    );
    let (attr_path, attr_value) = match &f.attribute {
        Some((name, value)) => (Some(format!("$.{name}")), Some(value.clone())),
        None => (None, None),
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<(i64, SubjectRecord)> = stmt
        .query_map(
            params![
                path_text(&f.within),
                f.kind.map(|k| k.as_str()),
                text,
                f.after.unwrap_or(0),
                i64::from(limit) + 1,
                attr_path,
                attr_value
            ],
            subject_row,
        )?
        .collect::<Result<_, _>>()?;
    let more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(limit as usize);
    let mut last = None;
    for (rowid, rec) in rows.into_iter().take(limit as usize) {
        last = Some(rowid);
        items.push(rec.subject);
    }
    Ok(SubjectPage {
        items,
        next: if more { last } else { None },
    })
}
