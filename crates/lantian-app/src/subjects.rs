//! Subjects (台账): listed and read within the caller's subtree, created and edited by the units
//! that may, every change audited with the hashes before and after.

use lantian_domain::policy::Action;
use lantian_domain::subject::Subject;
use lantian_protocol::reference::{
    NearbyPage, NearbyQuery, NearbySubject, SubjectFields, SubjectPage, SubjectQuery,
};
use lantian_store::subjects::{self, SubjectFilter};
use lantian_store::sync::Group;
use lantian_store::{audit, org};
use uuid::Uuid;

use crate::page::{self, List};
use crate::{Actor, App, AppError};

/// How many of a subject's latest inspections and orders its page shows.
pub const SHEET_LATEST: usize = 30;

/// A subject's page in the ledger: the subject, its latest inspections and their photos (those
/// the caller may see), its orders, and its audit trail.
#[derive(Debug, Clone)]
pub struct SubjectSheet {
    pub subject: Subject,
    pub unit_path: Vec<String>,
    /// Newest first. Only the caller's own unless their role reads inspections.
    pub inspections: Vec<lantian_domain::inspection::InspectionView>,
    /// Whether the caller reads every officer's inspections here (else only their own are shown).
    pub reads_inspections: bool,
    /// Verified photos of the inspections shown: (photo, inspection, renditions).
    pub photos: Vec<(Uuid, Uuid, lantian_domain::media::RenditionState)>,
    pub orders: Vec<lantian_domain::rectification::OrderView>,
    pub trail: Vec<audit::ObjectEntry>,
    /// Whether the caller may edit it.
    pub may_edit: bool,
}

/// `name:value` as an attribute filter: a plain lower-case name, and the value as the JSON it is
/// stored as (a number or `true`/`false` as such, anything else as a string). `bad_request` on
/// `attr` otherwise.
fn attribute_filter(a: &str) -> Result<(String, String), AppError> {
    let bad = || AppError::bad_request("attr").note("name:value, e.g. grade:b");
    let (name, value) = a.split_once(':').ok_or_else(bad)?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty()
        || name.len() > 40
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        || value.is_empty()
        || !lantian_domain::limits::within(value, 100)
    {
        return Err(bad());
    }
    let json = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => v.to_string(),
        _ => serde_json::Value::String(value.to_owned()).to_string(),
    };
    Ok((name.to_owned(), json))
}

impl App {
    /// The path of unit `code` if the caller may `action` there, else `not_found` on `unit`
    /// (unknown and foreign look the same).
    async fn unit_path_for(
        &self,
        actor: &Actor,
        code: String,
        action: Action,
    ) -> Result<Vec<String>, AppError> {
        let unit = self
            .store()
            .read(move |c| org::unit_by_code(c, &code))
            .await?
            .ok_or_else(|| AppError::not_found().field("unit"))?;
        actor.may(action, Some(&unit.unit.path)).map_err(|e| {
            if e.code == "not_found" {
                e.field("unit")
            } else {
                e
            }
        })?;
        Ok(unit.unit.path)
    }

    /// Subjects of the caller's subtree (or of a unit within it), filtered, cursor-paged.
    pub async fn subjects(&self, actor: &Actor, q: SubjectQuery) -> Result<SubjectPage, AppError> {
        let within = match q.unit {
            Some(code) => self.unit_path_for(actor, code, Action::ReadSubject).await?,
            None => {
                actor.may(Action::ReadSubject, Some(&actor.unit_path))?;
                actor.unit_path.clone()
            }
        };
        let kind = crate::parse_kind(q.kind.as_deref())?;
        let text = q.q.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if text
            .as_deref()
            .is_some_and(|t| !lantian_domain::limits::within(t, 100))
        {
            return Err(AppError::bad_request("q").detail("query_too_long"));
        }
        let attribute = q.attr.as_deref().map(attribute_filter).transpose()?;
        let filter = SubjectFilter {
            within,
            kind,
            text,
            attribute,
            after: q
                .cursor
                .as_deref()
                .map(|c| page::decode(List::Subjects, Some(c)))
                .transpose()?,
            limit: crate::page::limit(q.limit, 100, 500)? as u32,
        };
        let found = self
            .store()
            .read(move |c| subjects::list(c, &filter))
            .await?;
        Ok(SubjectPage {
            items: found.items,
            next_cursor: found.next.map(|n| page::encode(List::Subjects, n)),
        })
    }

    /// One subject, if the caller may read its unit.
    pub async fn subject(&self, actor: &Actor, id: Uuid) -> Result<Subject, AppError> {
        let rec = self
            .store()
            .read(move |c| subjects::get(c, id))
            .await?
            .ok_or_else(AppError::not_found)?;
        actor.may(Action::ReadSubject, Some(&rec.unit_path))?;
        Ok(rec.subject)
    }

    /// A subject's page: everything the ledger shows of it, read in one transaction.
    pub async fn subject_sheet(&self, actor: &Actor, id: Uuid) -> Result<SubjectSheet, AppError> {
        let (rec, (inspections, photos), orders, trail) = self
            .store()
            .read(move |c| {
                let Some(rec) = subjects::get(c, id)? else {
                    return Ok(None);
                };
                let record = lantian_store::review::subject_record(c, id, SHEET_LATEST)?;
                let orders = lantian_store::rectify::of_subject(c, id, SHEET_LATEST)?;
                let trail = audit::of_subject(c, &id.to_string())?;
                Ok(Some((rec, record, orders, trail)))
            })
            .await?
            .ok_or_else(AppError::not_found)?;
        actor.may(Action::ReadSubject, Some(&rec.unit_path))?;
        let reads_inspections = actor
            .may(Action::ReadInspection, Some(&rec.unit_path))
            .is_ok();
        let inspections: Vec<_> = inspections
            .into_iter()
            .filter(|i| reads_inspections || i.author == actor.uuid)
            .collect();
        let shown: std::collections::HashSet<Uuid> = inspections.iter().map(|i| i.id).collect();
        let photos = photos
            .into_iter()
            .filter(|(_, inspection, _)| shown.contains(inspection))
            .collect();
        Ok(SubjectSheet {
            may_edit: actor
                .may(Action::UpdateSubject, Some(&rec.unit_path))
                .is_ok(),
            subject: rec.subject,
            unit_path: rec.unit_path,
            inspections,
            reads_inspections,
            photos,
            orders,
            trail,
        })
    }

    /// Creates a subject in a unit of the caller's subtree.
    pub async fn create_subject(
        &self,
        actor: &Actor,
        fields: SubjectFields,
    ) -> Result<Subject, AppError> {
        let draft = fields.into_draft()?;
        self.unit_path_for(actor, draft.unit.clone(), Action::CreateSubject)
            .await?;
        let who = actor.uuid.to_string();
        let id = Uuid::now_v7();
        let rec = self
            .store()
            .write(move |c| {
                let rec = subjects::insert(c, Group::new(), id, draft)?;
                audit::record(
                    c,
                    &who,
                    "subject.create",
                    "subject",
                    &id.to_string(),
                    None,
                    Some(audit::object_hash(&rec.subject)?),
                )?;
                Ok(rec)
            })
            .await?;
        Ok(rec.subject)
    }

    /// Edits subject `id` at version `expected` (`version_conflict` if it moved). Both the
    /// subject's current unit and the unit it is moved to must lie in the caller's subtree.
    pub async fn update_subject(
        &self,
        actor: &Actor,
        id: Uuid,
        expected: Result<i64, AppError>,
        fields: SubjectFields,
    ) -> Result<Subject, AppError> {
        let current = self
            .store()
            .read(move |c| subjects::get(c, id))
            .await?
            .ok_or_else(AppError::not_found)?;
        actor.may(Action::UpdateSubject, Some(&current.unit_path))?;
        let expected = expected?;
        let draft = fields.into_draft()?;
        if draft.unit != current.subject.unit {
            self.unit_path_for(actor, draft.unit.clone(), Action::UpdateSubject)
                .await?;
        }
        let who = actor.uuid.to_string();
        let rec = self
            .store()
            .write(move |c| {
                let before = subjects::get(c, id)?.ok_or(lantian_store::StoreError::NotFound)?;
                let after = subjects::update(c, Group::new(), id, expected, draft)?;
                audit::record(
                    c,
                    &who,
                    "subject.update",
                    "subject",
                    &id.to_string(),
                    Some(audit::object_hash(&before.subject)?),
                    Some(audit::object_hash(&after.subject)?),
                )?;
                Ok(after)
            })
            .await?;
        Ok(rec.subject)
    }

    /// The subjects the caller may see within `radius` metres of a point (in any datum), nearest
    /// first, from the spatial index (rebuilt when the subjects changed).
    pub async fn nearby(&self, actor: &Actor, q: NearbyQuery) -> Result<NearbyPage, AppError> {
        actor.may(Action::ReadSubject, Some(&actor.unit_path))?;
        lantian_domain::subject::GeoPoint {
            lat: q.lat,
            lon: q.lon,
        }
        .validate("lat")?;
        let radius = q.radius.unwrap_or(300.0);
        if !radius.is_finite() || radius <= 0.0 || radius > 5000.0 {
            return Err(AppError::bad_request("radius").note("1 to 5000 metres"));
        }
        let limit = q.limit.unwrap_or(20);
        if limit == 0 || limit > 200 {
            return Err(AppError::bad_request("limit").note("1 to 200"));
        }
        let kind = crate::parse_kind(q.kind.as_deref())?;
        let (lat, lon) = lantian_domain::geo::to_wgs84(
            q.lat,
            q.lon,
            q.datum.unwrap_or(lantian_domain::geo::Datum::Wgs84),
        );
        let index = self.inner.subjects.current(self.store()).await?;
        let prefix = org::path_text(&actor.unit_path);
        let found: Vec<(Uuid, f64)> = index
            .1
            .nearby(lat, lon, radius, limit as usize, |p| {
                p.unit_path.starts_with(&prefix) && kind.is_none_or(|k| p.kind == k)
            })
            .into_iter()
            .map(|n| (n.item.id, n.distance_m))
            .collect();
        let items = self
            .store()
            .read(move |c| {
                let mut out = Vec::with_capacity(found.len());
                for (id, d) in found {
                    // A subject deleted since the index was built is simply left out.
                    if let Some(rec) = subjects::get(c, id)? {
                        out.push(NearbySubject {
                            distance_m: (d * 10.0).round() / 10.0,
                            subject: rec.subject,
                        });
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(NearbyPage {
            wgs84: [lat, lon],
            items,
        })
    }
}
