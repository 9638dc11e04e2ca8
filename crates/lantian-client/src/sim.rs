//! Simulated officers: each a [`Client`] with its own local store, filling inspections of the
//! subjects it pulled with random (valid) answers and syncing now and then. Seeded, bounded.

use std::path::Path;

use lantian_domain::checklist::{AnswerKind, ChecklistTemplate};
use lantian_domain::inspection::{Answer, Datum, ItemResult, LocationFix, TemplateRef};
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::subject::Subject;
use uuid::Uuid;

use crate::{Client, ClientError};

/// splitmix64: deterministic and small.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    /// A UUIDv7-shaped id from this generator (deterministic for a seed).
    pub fn uuid(&mut self) -> Uuid {
        let ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&(self.next_u64() as u16).to_le_bytes());
        uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
    }
}

/// A valid random inspection of `subject` against `template`: most items pass, some fail (with a
/// photo where the template requires one), some N/A where allowed.
pub fn random_inspection(
    rng: &mut Rng,
    subject: &Subject,
    template: &ChecklistTemplate,
    officer_at: Option<(f64, f64)>,
) -> InspectionSubmit {
    let mut results = Vec::new();
    for item in &template.items {
        // Simulated officers work outside alerts: emergency items do not apply.
        if !lantian_domain::inspection::applies(item, &subject.attributes, false) {
            continue;
        }
        let answer = match &item.answer {
            AnswerKind::PassFail { allow_na } => {
                if *allow_na && rng.chance(10) {
                    Answer::Na
                } else if rng.chance(15) {
                    Answer::Fail
                } else {
                    Answer::Pass
                }
            }
            AnswerKind::Number { limit, .. } => Answer::Number {
                value: (limit * (rng.below(150) as f64) / 100.0 * 100.0).round() / 100.0,
            },
            AnswerKind::Text => {
                if rng.chance(70) {
                    continue;
                }
                Answer::Text {
                    value: "现场检查记录".into(),
                }
            }
        };
        let needs_photo = match (&item.answer, &answer) {
            (_, Answer::Fail) => true,
            (
                AnswerKind::Number {
                    limit, comparison, ..
                },
                Answer::Number { value },
            ) => !lantian_domain::inspection::within_limit(*value, *limit, *comparison),
            _ => false,
        };
        let photos = if needs_photo && item.photo_required_on_fail {
            vec![rng.uuid()]
        } else {
            Vec::new()
        };
        results.push(ItemResult {
            item: item.code.clone(),
            answer,
            note: None,
            photos,
        });
    }
    let (lat, lon) = subject
        .location
        .map(|p| (p.lat, p.lon))
        .or(officer_at)
        .unwrap_or((36.457, 115.985));
    InspectionSubmit {
        inspection_id: rng.uuid(),
        subject_id: subject.id,
        template: TemplateRef {
            code: template.code.clone(),
            version: template.version,
        },
        results,
        notes: None,
        location: LocationFix {
            lat: lat + 0.0001,
            lon: lon + 0.0001,
            accuracy_m: 8.0,
            datum: Datum::Wgs84,
            mock: false,
            gps_time: None,
        },
        started_at: None,
        signature_photo_id: rng.uuid(),
        rectification_id: None,
    }
}

/// The newest pulled template version for each subject kind.
pub fn latest_templates(client: &Client) -> Result<Vec<ChecklistTemplate>, ClientError> {
    let mut all: Vec<ChecklistTemplate> = client
        .entities("template")?
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    all.sort_by(|a, b| (a.code.as_str(), b.version).cmp(&(b.code.as_str(), a.version)));
    all.dedup_by(|a, b| a.code == b.code);
    Ok(all)
}

/// Queues `n` random inspections of random pulled subjects; returns their ids.
pub fn queue_inspections(
    client: &Client,
    rng: &mut Rng,
    n: usize,
) -> Result<Vec<Uuid>, ClientError> {
    let templates = latest_templates(client)?;
    let subjects: Vec<Subject> = client
        .entities("subject")?
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    if subjects.is_empty() || templates.is_empty() {
        return Err(ClientError::Invalid("nothing pulled to inspect".into()));
    }
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let subject = &subjects[rng.below(subjects.len())];
        let Some(t) = templates
            .iter()
            .find(|t| t.subject_kind == subject.attributes.kind())
        else {
            continue;
        };
        let s = random_inspection(rng, subject, t, None);
        client.submit_inspection(&s)?;
        ids.push(s.inspection_id);
    }
    Ok(ids)
}

/// Opens a client for a simulated officer in `dir`.
pub fn officer(dir: &Path, name: &str, cfg: crate::ClientConfig) -> Result<Client, ClientError> {
    Client::open(&dir.join(format!("{name}.db")), cfg)
}

/// One queued inspection and the photos attached to it, each with the SHA-256 of its bytes.
pub type QueuedWithPhotos = (Uuid, Vec<(Uuid, String)>);

/// Queues `n` random inspections of pulled subjects that have a location, attaching to each
/// every photo it expects: the bytes come from `photo` and are written under `camera` first (as
/// a phone's camera would). Returns nothing when no located subject has been pulled.
pub fn queue_with_photos(
    client: &Client,
    rng: &mut Rng,
    n: usize,
    camera: &Path,
    mut photo: impl FnMut(&mut Rng) -> Vec<u8>,
) -> Result<Vec<QueuedWithPhotos>, ClientError> {
    use sha2::Digest;
    let templates = latest_templates(client)?;
    let subjects: Vec<Subject> = client
        .entities("subject")?
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .filter(|s: &Subject| s.location.is_some())
        .collect();
    let mut out = Vec::with_capacity(n);
    if subjects.is_empty() {
        return Ok(out);
    }
    for _ in 0..n {
        let subject = &subjects[rng.below(subjects.len())];
        let Some(t) = templates
            .iter()
            .find(|t| t.subject_kind == subject.attributes.kind())
        else {
            continue;
        };
        let s = random_inspection(rng, subject, t, None);
        client.submit_inspection(&s)?;
        let mut photos = Vec::new();
        let expected =
            lantian_domain::inspection::expected_photos(&s.results, s.signature_photo_id)
                .map_err(|e| ClientError::Invalid(e.to_string()))?;
        for (id, _) in expected {
            let bytes = photo(rng);
            let path = camera.join(format!("{id}.jpg"));
            std::fs::write(&path, &bytes).map_err(|e| ClientError::Local(e.to_string()))?;
            client.attach_photo(s.inspection_id, id, &path)?;
            photos.push((id, hex::encode(sha2::Sha256::digest(&bytes))));
        }
        out.push((s.inspection_id, photos));
    }
    Ok(out)
}

/// Syncs and uploads until nothing is pending and every photo is verified, at most `rounds`
/// times; a failed round counts. Whether it got there is for the caller to check.
pub async fn drain(client: &Client, rounds: usize) {
    for _ in 0..rounds {
        let _ = client.sync().await;
        let _ = client.upload_photos().await;
        let _ = client.sync().await;
        let settled = client.pending().is_ok_and(|n| n == 0)
            && client
                .photos()
                .is_ok_and(|ps| ps.iter().all(|p| p.state == "verified"));
        if settled {
            return;
        }
    }
}
