//! Loading reference data and demo data. Both are idempotent: a marker in `meta` records what was
//! loaded, so a restart does not load it twice.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::reference::{Demo, ReferenceData};

use crate::identity::{NewUser, create_user};
use crate::sync::Group;
use crate::{StoreError, audit, org, subjects, templates};

fn loaded(conn: &Tx, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT 1 FROM meta WHERE key = ?1", [key], |_| Ok(()))
        .optional()?
        .is_some())
}

fn mark(conn: &Tx, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

/// Loads the organisation, departments, campaign and checklist templates. Returns false if they
/// were already there.
pub fn load_reference(conn: &Tx, r: &ReferenceData) -> Result<bool, StoreError> {
    let key = format!("reference:{}", r.campaign.code);
    // Assessment rules arrived after the first campaigns were loaded: fill them in where missing.
    conn.execute(
        "UPDATE campaigns SET assessment = ?2 WHERE code = ?1 AND assessment IS NULL",
        crate::db::params![
            r.campaign.code,
            serde_json::to_string(&r.campaign.assessment)?
        ],
    )?;
    if loaded(conn, &key)? {
        return Ok(false);
    }
    let g = Group::new();
    for u in &r.units {
        if org::unit_by_code(conn, &u.code)?.is_none() {
            org::insert_unit(conn, g, u)?;
        }
    }
    let existing: Vec<String> = org::departments(conn)?
        .into_iter()
        .map(|d| d.code)
        .collect();
    for d in &r.departments {
        if !existing.contains(&d.code) {
            org::insert_department(conn, d)?;
        }
    }
    if org::campaign(conn, &r.campaign.code)?.is_none() {
        org::insert_campaign(conn, g, &r.campaign)?;
    }
    for t in &r.templates {
        if templates::versions(conn, &t.code)?.is_empty() {
            templates::publish(conn, g, &t.code, &t.draft(), None)?;
        }
    }
    audit::record(
        conn,
        "system",
        "reference.load",
        "campaign",
        &r.campaign.code,
        None,
        Some(audit::object_hash(&r.campaign)?),
    )?;
    mark(conn, &key, &r.source)?;
    Ok(true)
}

/// Loads the demo streets, users and subjects. `password_hashes[i]` is the hash for `demo.users[i]`
/// (hashing is slow and happens before the write, off the writer thread). Returns false if the demo
/// data was already there.
pub fn load_demo(conn: &Tx, demo: &Demo, password_hashes: &[String]) -> Result<bool, StoreError> {
    if loaded(conn, "demo")? {
        return Ok(false);
    }
    if password_hashes.len() != demo.users.len() {
        return Err(StoreError::Conflict("demo_hash_count"));
    }
    let g = Group::new();
    for s in &demo.streets {
        if org::unit_by_code(conn, &s.code)?.is_none() {
            org::insert_unit(conn, g, s)?;
        }
    }
    for (u, hash) in demo.users.iter().zip(password_hashes) {
        let rec = create_user(
            conn,
            &NewUser {
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                role: u.role,
                unit: u.unit.clone(),
                password_hash: hash.clone(),
                one_time_until: None,
            },
        )?;
        audit::record(
            conn,
            "system",
            "user.create",
            "user",
            &rec.uuid.to_string(),
            None,
            None,
        )?;
    }
    // On the ledger since the first day of the month two months back: the demo's history
    // (`lantian_app::demo`) inspects them from then on, and the assessment counts them.
    let since = {
        use chrono::Datelike;
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        let m = today.year() * 12 + today.month0() as i32 - 2;
        chrono::NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1)
    };
    for (id, draft) in &demo.subjects {
        let mut draft = draft.clone();
        draft.on_ledger_since = draft.on_ledger_since.or(since);
        let rec = subjects::insert(conn, Group::new(), *id, draft)?;
        audit::record(
            conn,
            "system",
            "subject.create",
            "subject",
            &id.to_string(),
            None,
            Some(audit::object_hash(&rec.subject)?),
        )?;
    }
    // A campaign around today, so the demo's own months are assessed; none if an operator's
    // campaign already covers any of them.
    let template = lantian_domain::reference::liaocheng()
        .map_err(StoreError::Invalid)?
        .campaign;
    // China Standard Time (UTC+8, no daylight saving).
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let campaign = lantian_domain::campaign::demo_campaign(&template, today);
    if org::campaign(conn, &campaign.code)?.is_none()
        && campaign.check_overlap(&org::campaigns(conn)?).is_ok()
    {
        org::insert_campaign(conn, g, &campaign)?;
        audit::record(
            conn,
            "system",
            "campaign.create",
            "campaign",
            &campaign.code,
            None,
            Some(audit::object_hash(&campaign)?),
        )?;
    }
    mark(conn, "demo", "1")?;
    Ok(true)
}

/// Whether the demo data has been loaded.
pub fn demo_loaded(conn: &Tx) -> Result<bool, StoreError> {
    loaded(conn, "demo")
}
