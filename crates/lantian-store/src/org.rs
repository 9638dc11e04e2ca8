//! The organisation and campaigns: units (a tree stored with root-first paths), departments,
//! campaigns and their tasks.

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::campaign::{Campaign, Task};
use lantian_domain::reference::UnitSpec;
use lantian_domain::unit::{Department, Unit, UnitKind};

use crate::StoreError;
use crate::sync::{self, Group};

/// A unit with its internal id, for joins.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    pub id: i64,
    pub unit: Unit,
}

fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The stored form of a path: `/root/child/`.
pub fn path_text(path: &[String]) -> String {
    let mut s = String::from("/");
    for p in path {
        s.push_str(p);
        s.push('/');
    }
    s
}

const UNIT_COLUMNS: &str =
    "u.id, u.code, u.name_zh, u.name_en, u.kind, p.code, u.peer_group, u.path";

fn unit_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<UnitRow> {
    let kind: String = r.get(4)?;
    let path: String = r.get(7)?;
    Ok(UnitRow {
        id: r.get(0)?,
        unit: Unit {
            code: r.get(1)?,
            name_zh: r.get(2)?,
            name_en: r.get(3)?,
            kind: UnitKind::parse(&kind)
                .ok_or_else(|| crate::corrupt(4, format!("unit kind {kind}")))?,
            parent: r.get(5)?,
            peer_group: r.get(6)?,
            path: split_path(&path),
        },
    })
}

pub fn unit_by_code(conn: &Tx, code: &str) -> Result<Option<UnitRow>, StoreError> {
    let sql = format!(
        "SELECT {UNIT_COLUMNS} FROM units u LEFT JOIN units p ON p.id = u.parent_id WHERE u.code = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([code], unit_from_row)
        .optional()?)
}

/// Units in the subtree whose root has `path` (itself included), root-first order.
pub fn units_in_subtree(conn: &Tx, path: &[String]) -> Result<Vec<Unit>, StoreError> {
    let sql = format!(
        "SELECT {UNIT_COLUMNS} FROM units u LEFT JOIN units p ON p.id = u.parent_id
         WHERE substr(u.path, 1, length(CAST(?1 AS TEXT))) = ?1 ORDER BY u.path"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([path_text(path)], unit_from_row)?;
    Ok(rows.map(|r| r.map(|u| u.unit)).collect::<Result<_, _>>()?)
}

/// Inserts a unit under its parent (which must exist). Returns the new id.
pub fn insert_unit(conn: &Tx, g: Group, spec: &UnitSpec) -> Result<i64, StoreError> {
    let (parent_id, path) = match &spec.parent {
        Some(code) => {
            let parent =
                unit_by_code(conn, code)?.ok_or(StoreError::Conflict("unit_parent_unknown"))?;
            let mut path = parent.unit.path.clone();
            path.push(spec.code.clone());
            (Some(parent.id), path)
        }
        None => (None, vec![spec.code.clone()]),
    };
    let id: i64 = conn.query_row(
        "INSERT INTO units (code, name_zh, name_en, kind, parent_id, path, peer_group) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![spec.code, spec.name_zh, spec.name_en, spec.kind.as_str(), parent_id, path_text(&path), spec.peer_group],
        |r| r.get(0),
    )?;
    if let Some(u) = unit_by_code(conn, &spec.code)? {
        publish_unit(conn, g, &u.unit)?;
    }
    Ok(id)
}

/// Puts a unit in its own scope: a user sees the units of their subtree.
pub fn publish_unit(conn: &Tx, g: Group, u: &Unit) -> Result<(), StoreError> {
    sync::put(
        conn,
        g,
        &lantian_domain::sync::unit_scope(&u.code),
        "unit",
        &u.code,
        u,
    )
}

pub fn insert_department(conn: &Tx, d: &Department) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "INSERT INTO departments (code, name_zh, name_en) VALUES (?1, ?2, ?3) RETURNING id",
        params![d.code, d.name_zh, d.name_en],
        |r| r.get(0),
    )?)
}

pub fn departments(conn: &Tx) -> Result<Vec<Department>, StoreError> {
    let mut stmt = conn.prepare("SELECT code, name_zh, name_en FROM departments ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Department {
            code: r.get(0)?,
            name_zh: r.get(1)?,
            name_en: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a campaign with its tasks and their links; every code must exist.
pub fn insert_campaign(conn: &Tx, g: Group, c: &Campaign) -> Result<i64, StoreError> {
    c.validate()?;
    let [name_zh, name_en, starts, ends, targets, weights, assessment] = campaign_values(c)?;
    let campaign_id: i64 = conn.query_row(
        "INSERT INTO campaigns (code, name_zh, name_en, starts_on, ends_on, targets, weights, assessment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        params![c.code, name_zh, name_en, starts, ends, targets, weights, assessment],
        |r| r.get(0),
    )?;
    insert_tasks(conn, campaign_id, c)?;
    publish_campaign(conn, g, &c.code)?;
    Ok(campaign_id)
}

/// Replaces campaign `c.code` (its period, names, targets, weights, rules and tasks) with `c`.
/// `NotFound` if there is no such campaign.
pub fn update_campaign(conn: &Tx, g: Group, c: &Campaign) -> Result<(), StoreError> {
    c.validate()?;
    let id: i64 = conn
        .query_row("SELECT id FROM campaigns WHERE code = ?1", [&c.code], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(StoreError::NotFound)?;
    let [name_zh, name_en, starts, ends, targets, weights, assessment] = campaign_values(c)?;
    conn.execute(
        "UPDATE campaigns SET name_zh = ?2, name_en = ?3, starts_on = ?4, ends_on = ?5, targets = ?6,
             weights = ?7, assessment = ?8 WHERE id = ?1",
        params![id, name_zh, name_en, starts, ends, targets, weights, assessment],
    )?;
    for links in ["task_departments", "task_units"] {
        conn.execute(
            &format!(
                "DELETE FROM {links} WHERE task_id IN (SELECT id FROM campaign_tasks WHERE campaign_id = ?1)"
            ),
            [id],
        )?;
    }
    conn.execute("DELETE FROM campaign_tasks WHERE campaign_id = ?1", [id])?;
    insert_tasks(conn, id, c)?;
    publish_campaign(conn, g, &c.code)
}

/// A campaign's columns as stored: names, period, and targets, weights and rules as JSON.
fn campaign_values(c: &Campaign) -> Result<[String; 7], StoreError> {
    Ok([
        c.name_zh.clone(),
        c.name_en.clone(),
        c.starts_on.to_string(),
        c.ends_on.to_string(),
        serde_json::to_string(&c.targets)?,
        serde_json::to_string(&c.weights)?,
        serde_json::to_string(&c.assessment)?,
    ])
}

fn insert_tasks(conn: &Tx, campaign_id: i64, c: &Campaign) -> Result<(), StoreError> {
    for t in &c.tasks {
        let task_id: i64 = conn.query_row(
            "INSERT INTO campaign_tasks (campaign_id, number, title_zh, title_en, summary_zh, leader_roles) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![campaign_id, t.number, t.title_zh, t.title_en, t.summary_zh, serde_json::to_string(&t.leader_roles)?],
            |r| r.get(0),
        )?;
        for (position, d) in t.supervising_departments.iter().enumerate() {
            let n = conn.execute(
                "INSERT INTO task_departments (task_id, department_id, position) SELECT ?1, id, ?3 FROM departments WHERE code = ?2",
                params![task_id, d, position as i64],
            )?;
            if n != 1 {
                return Err(StoreError::Conflict("department_unknown"));
            }
        }
        for (position, u) in t.responsible_units.iter().enumerate() {
            let n = conn.execute(
                "INSERT INTO task_units (task_id, unit_id, position) SELECT ?1, id, ?3 FROM units WHERE code = ?2",
                params![task_id, u, position as i64],
            )?;
            if n != 1 {
                return Err(StoreError::Conflict("unit_unknown"));
            }
        }
    }
    Ok(())
}

/// Syncs the campaign as stored to every phone (global scope).
fn publish_campaign(conn: &Tx, g: Group, code: &str) -> Result<(), StoreError> {
    if let Some(stored) = campaign(conn, code)? {
        sync::put(
            conn,
            g,
            lantian_domain::sync::GLOBAL,
            "campaign",
            &stored.code,
            &stored,
        )?;
    }
    Ok(())
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad date {s:?}")))
}

/// Every campaign, newest first, with its tasks.
pub fn campaigns(conn: &Tx) -> Result<Vec<Campaign>, StoreError> {
    let codes: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT code FROM campaigns ORDER BY starts_on DESC, id DESC")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    codes
        .iter()
        .map(|c| campaign(conn, c)?.ok_or(StoreError::NotFound))
        .collect()
}

pub fn campaign(conn: &Tx, code: &str) -> Result<Option<Campaign>, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, code, name_zh, name_en, starts_on, ends_on, targets, weights, assessment FROM campaigns WHERE code = ?1",
            [code],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((id, code, name_zh, name_en, starts, ends, targets, weights, assessment)) = row else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT t.id, t.number, t.title_zh, t.title_en, t.summary_zh, t.leader_roles FROM campaign_tasks t
         WHERE t.campaign_id = ?1 ORDER BY t.number",
    )?;
    let task_rows: Vec<(i64, u32, String, String, String, String)> = stmt
        .query_map([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    // Departments and units of every task in one statement each (not two per task).
    let mut departments: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for row in conn
        .prepare_cached(
            "SELECT td.task_id, d.code FROM task_departments td
             JOIN departments d ON d.id = td.department_id
             JOIN campaign_tasks t ON t.id = td.task_id
             WHERE t.campaign_id = ?1 ORDER BY td.task_id, td.position",
        )?
        .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
    {
        let (task, code) = row?;
        departments.entry(task).or_default().push(code);
    }
    let mut units: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for row in conn
        .prepare_cached(
            "SELECT tu.task_id, u.code FROM task_units tu
             JOIN units u ON u.id = tu.unit_id
             JOIN campaign_tasks t ON t.id = tu.task_id
             WHERE t.campaign_id = ?1 ORDER BY tu.task_id, tu.position",
        )?
        .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
    {
        let (task, code) = row?;
        units.entry(task).or_default().push(code);
    }
    let mut tasks = Vec::with_capacity(task_rows.len());
    for (task_id, number, title_zh, title_en, summary_zh, leaders) in task_rows {
        tasks.push(Task {
            number,
            title_zh,
            title_en,
            summary_zh,
            leader_roles: serde_json::from_str(&leaders)?,
            supervising_departments: departments.remove(&task_id).unwrap_or_default(),
            responsible_units: units.remove(&task_id).unwrap_or_default(),
        });
    }
    Ok(Some(Campaign {
        code,
        name_zh,
        name_en,
        starts_on: parse_date(&starts)?,
        ends_on: parse_date(&ends)?,
        targets: serde_json::from_str(&targets)?,
        weights: serde_json::from_str(&weights)?,
        assessment: assessment
            .map(|a| serde_json::from_str(&a))
            .transpose()?
            .unwrap_or_default(),
        tasks,
    }))
}
