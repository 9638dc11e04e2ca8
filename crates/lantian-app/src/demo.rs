//! The demo's history (issue 16): two past months of work by demo officers, laid down on the
//! first `serve --demo` through the same write paths the server uses, each write recorded as of
//! the moment it happens in the story (`Store::write_at`). What a fresh clone then shows: a
//! review queue with the last days' inspections waiting, reviews with comments, orders in every
//! state (closed on time and late, reworked, extended, deferred, open, overdue), photos with EXIF
//! (renditions made in the background), verdicts of every level, a pollution alert, and the
//! months' official figures.
//!
//! Deterministic given the date of the first start (the seed is that day): the same officers,
//! subjects, answers, places, photos, decisions and figures. Ids the server makes (orders,
//! uploads) are its own. The rules are the server's: inspections go through `prepare` and the
//! push engine, photos through the probe and `record_photo`, decisions through the domain's
//! `review::decide`, orders through the store's state machine. Nothing here writes a rule again.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use lantian_domain::assessment::Alert;
use lantian_domain::checklist::{AnswerKind, ChecklistTemplate};
use lantian_domain::geo::Datum;
use lantian_domain::inspection::{self, Answer, ItemResult, LocationFix, TemplateRef};
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::rectification::{OrderCommand, RequestKind};
use lantian_domain::reference::Rng;
use lantian_domain::review::{self, ReviewDecision, ReviewState};
use lantian_domain::subject::{GeoPoint, SubjectAttributes};
use lantian_domain::user::Role;
use lantian_media::synth::{ExifSpec, scene};
use lantian_store::identity::{self, NewUser, UserRecord};
use lantian_store::media::{NewUpload, Owner, Verified};
use lantian_store::sync::Group;
use lantian_store::{StoreError, push, rectify, review as stored_review};
use uuid::Uuid;

use crate::{App, AppError};

/// The job record that says the history was laid down (once per data folder).
pub const JOB: &str = "demo.history";
/// The run key of [`JOB`].
pub const KEY: &str = "v1";

/// What the history laid down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryReport {
    pub inspections: usize,
    /// Submissions the push engine refused (a generator bug if ever non-zero).
    pub refused: usize,
    pub photos: usize,
    pub reviews: usize,
    pub orders: usize,
    pub reinspections: usize,
}

/// China Standard Time.
fn cst() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

fn at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    cst()
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn month_start(day: NaiveDate, months_from: i32) -> NaiveDate {
    let m = day.year() * 12 + day.month0() as i32 + months_from;
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1).unwrap_or(day)
}

fn working(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The next working day after `d`.
fn next_working(d: NaiveDate) -> NaiveDate {
    let mut n = d.succ_opt().unwrap_or(d);
    for _ in 0..7 {
        if working(n) {
            break;
        }
        n = n.succ_opt().unwrap_or(n);
    }
    n
}

/// An officer of the story, with an install.
struct Officer {
    user: UserRecord,
    client_id: Uuid,
    client_row: i64,
    next_mid: i64,
    county: &'static str,
}

/// The counties the story's officers work in, two officers each (re-inspections are by the
/// officer who did not find the problem).
const COUNTIES: [(&str, &str); 3] = [
    ("dongchangfu", "东昌府区"),
    ("linqing", "临清市"),
    ("guanxian", "冠县"),
];

const NOTES: [&str; 6] = [
    "现场负责人在场，已当面告知整改要求。",
    "施工单位已出示扬尘治理方案。",
    "裸土覆盖不完整，已拍照留证。",
    "餐饮油烟净化设施运行正常。",
    "车辆出场未冲洗，已责令立即整改。",
    "现场无人，已电话联系负责人。",
];

const COMMENTS_ISSUES: [&str; 3] = [
    "照片未能反映问题全貌，请补充近景照片。",
    "检查说明过于简略，请补正。",
    "不合格项需下达整改，请核实整改期限。",
];

const COMMENTS_REJECT: [&str; 2] = [
    "定位与检查对象不符，请重新检查。",
    "照片为重复使用，不予认可。",
];

/// A subject the story can inspect.
#[derive(Clone)]
struct Place {
    id: Uuid,
    unit: String,
    point: GeoPoint,
    attributes: SubjectAttributes,
}

impl App {
    /// Lays down the demo's history if it has not been (`None` then). `today` is the day of the
    /// first start, in China Standard Time; the history covers the two months before the current
    /// one and the current month up to yesterday.
    pub async fn demo_history(&self, today: NaiveDate) -> Result<Option<HistoryReport>, AppError> {
        let store = self.store().clone();
        if store
            .read(|c| lantian_store::assessment::job_done(c, JOB, KEY))
            .await?
        {
            return Ok(None);
        }
        let mut story = Story::begin(self, today).await?;
        story.run().await?;
        let report = story.report.clone();
        let detail = format!("{report:?}");
        store
            .write(move |c| lantian_store::assessment::job_ran(c, JOB, KEY, &detail))
            .await?;
        Ok(Some(report))
    }
}

/// The history being told.
struct Story<'a> {
    app: &'a App,
    rng: Rng,
    today: NaiveDate,
    now: DateTime<Utc>,
    officers: Vec<Officer>,
    supervisor: UserRecord,
    places: Vec<Place>,
    templates: Vec<ChecklistTemplate>,
    alert: (DateTime<Utc>, DateTime<Utc>),
    report: HistoryReport,
}

impl<'a> Story<'a> {
    async fn begin(app: &'a App, today: NaiveDate) -> Result<Story<'a>, AppError> {
        let seed = u64::from(today.num_days_from_ce().unsigned_abs());
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let first = month_start(today, -2);
        let store = app.store().clone();
        let (hash, supervisor, admin, templates) = store
            .read(|c| {
                let inspector =
                    identity::user_by_username(c, "demo_inspector")?.ok_or(StoreError::NotFound)?;
                let supervisor = identity::user_by_username(c, "demo_supervisor")?
                    .ok_or(StoreError::NotFound)?;
                let admin =
                    identity::user_by_username(c, "demo_admin")?.ok_or(StoreError::NotFound)?;
                Ok((
                    inspector.password_hash,
                    supervisor,
                    admin,
                    lantian_store::templates::latest(c)?,
                ))
            })
            .await?;
        // The officers: demo_inspector and five more, with the demo password.
        let mut officers = Vec::new();
        for (county, name) in COUNTIES {
            for n in 1..=2 {
                let username = if county == "dongchangfu" && n == 1 {
                    "demo_inspector".to_owned()
                } else {
                    format!("demo_officer_{county}_{n}")
                };
                let display = format!("{name}执法人员{}", ["一", "二"][n - 1]);
                let client_id = rng.uuid();
                let hash = hash.clone();
                let (user, client_row) = store
                    .write_at(at(first, 8, 0), move |c| {
                        let user = match identity::user_by_username(c, &username)? {
                            Some(u) => u,
                            None => {
                                let u = identity::create_user(
                                    c,
                                    &NewUser {
                                        username,
                                        display_name: display,
                                        role: Role::Inspector,
                                        unit: county.to_owned(),
                                        password_hash: hash,
                                        one_time_until: None,
                                    },
                                )?;
                                lantian_store::audit::record(
                                    c,
                                    "system",
                                    "user.create",
                                    "user",
                                    &u.uuid.to_string(),
                                    None,
                                    None,
                                )?;
                                u
                            }
                        };
                        let (install, _) = identity::register_client(
                            c,
                            client_id,
                            user.id,
                            "lantian-demo 1.0",
                            Some("HUAWEI P40"),
                            None,
                        )?;
                        Ok((user, install.row))
                    })
                    .await?;
                officers.push(Officer {
                    user,
                    client_id,
                    client_row,
                    next_mid: 1,
                    county,
                });
            }
        }
        let places = lantian_domain::reference::demo()
            .subjects
            .into_iter()
            .filter_map(|(id, d)| {
                Some(Place {
                    id,
                    point: d.location?,
                    unit: d.unit,
                    attributes: d.attributes,
                })
            })
            .collect();
        // An orange alert over the whole city for three days of last month, declared the evening
        // before (the days it covers add the emergency items to inspections).
        let month_b = month_start(today, -1);
        let alert_day = month_b + Duration::days(9);
        let alert = (at(alert_day, 0, 0), at(alert_day + Duration::days(3), 0, 0));
        let declared = at(alert_day - Duration::days(1), 18, 0);
        if declared < Utc::now() {
            let a = Alert {
                id: rng.uuid(),
                level: "orange".into(),
                units: vec!["lcucb".into()],
                starts_at: alert.0,
                ends_at: alert.1,
                note: Some("重污染天气橙色预警（演示）".into()),
                declared_by: admin.uuid.to_string(),
                declared_at: declared,
                ended_early_at: None,
            };
            store
                .write_at(declared, move |c| {
                    lantian_store::assessment::declare_alert(c, &a)
                })
                .await?;
        }
        Ok(Story {
            app,
            rng,
            today,
            // The story ends where the day of the first start begins: the same date, the same story.
            now: at(today, 0, 0).min(Utc::now()),
            officers,
            supervisor,
            places,
            templates,
            alert,
            report: HistoryReport::default(),
        })
    }

    async fn run(&mut self) -> Result<(), AppError> {
        let first = month_start(self.today, -2);
        let mut day = first;
        while day < self.today {
            if working(day) {
                for o in 0..self.officers.len() {
                    let n = [0, 1, 1, 1, 2, 2][self.rng.below(6)];
                    for k in 0..n {
                        let when = at(
                            day,
                            9 + 3 * k + self.rng.below(3) as u32,
                            self.rng.below(60) as u32,
                        );
                        self.inspection(o, when).await?;
                    }
                }
            }
            day = day.succ_opt().unwrap_or(self.today);
        }
        // Orders whose deadline passed with nothing done are overdue by now.
        self.app.sweep_orders(self.now).await?;
        // The months' figures, published when the scheduled jobs would have published them.
        let store = self.app.store().clone();
        for back in [2, 1] {
            let month_first = month_start(self.today, -back);
            let month = format!("{:04}-{:02}", month_first.year(), month_first.month());
            let official_at = at(month_start(self.today, -back + 1) + Duration::days(2), 2, 0);
            if official_at < self.now {
                crate::assessment::rollup_at(&store, &month, true, Some(official_at)).await?;
            } else {
                crate::assessment::rollup(&store, &month, false).await?;
            }
        }
        let this = format!("{:04}-{:02}", self.today.year(), self.today.month());
        crate::assessment::rollup(&store, &this, false).await?;
        self.app.media().wake();
        Ok(())
    }

    fn template_for(&self, place: &Place) -> Option<ChecklistTemplate> {
        self.templates
            .iter()
            .find(|t| t.subject_kind == place.attributes.kind())
            .cloned()
    }

    /// Officer `o` inspects a subject of the county at `when`, with everything that follows:
    /// photos, a review, orders and their lives.
    async fn inspection(&mut self, o: usize, when: DateTime<Utc>) -> Result<(), AppError> {
        let county = self.officers[o].county;
        let here: Vec<&Place> = self
            .places
            .iter()
            .filter(|p| p.unit == county || p.unit.starts_with(&format!("{county}_")))
            .collect();
        if here.is_empty() {
            return Ok(());
        }
        let place = here[self.rng.below(here.len())].clone();
        let Some(template) = self.template_for(&place) else {
            return Ok(());
        };
        let submit = self.submission(&place, &template, when, None, None);
        let Some(row) = self.push(o, &submit, when).await? else {
            return Ok(());
        };
        let received = self.received(when);
        self.photos(o, &submit, when, received).await?;
        // The supervisor decides the next working day, except for the last days (the queue).
        let decide_day = next_working(when.with_timezone(&cst()).date_naive());
        let decided_at = at(decide_day, 10, self.rng.below(300) as u32 % 60);
        if decided_at + Duration::days(2) < self.now && self.rng.chance(94) {
            self.review(submit.inspection_id, row, decided_at, true)
                .await?;
        }
        // Orders opened from it (by the push for failed critical items, by the review for others)
        // live their lives.
        let orders = self
            .app
            .store()
            .read(move |c| stored_review::orders_of(c, row))
            .await?;
        for order in orders {
            self.report.orders += 1;
            self.order_life(
                o,
                &place,
                &template,
                order.id,
                order.opened_at,
                order.deadline,
            )
            .await?;
        }
        Ok(())
    }

    /// When a submission made at `when` reaches the server: minutes later, or the next morning.
    fn received(&mut self, when: DateTime<Utc>) -> DateTime<Utc> {
        if self.rng.chance(6) {
            let next = when.with_timezone(&cst()).date_naive() + Duration::days(1);
            at(next, 8, 30 + self.rng.below(30) as u32)
        } else {
            when + Duration::minutes(2 + self.rng.below(90) as i64)
        }
    }

    fn alert_on(&self, t: DateTime<Utc>) -> bool {
        t >= self.alert.0 && t < self.alert.1
    }

    /// A submission of `place` at `when`: mostly passes; a re-inspection of `order` passes or
    /// fails `item` as told.
    fn submission(
        &mut self,
        place: &Place,
        template: &ChecklistTemplate,
        when: DateTime<Utc>,
        order: Option<Uuid>,
        item: Option<(&str, bool)>,
    ) -> InspectionSubmit {
        let alert = self.alert_on(when);
        let mut results = Vec::new();
        for i in &template.items {
            let forced = item
                .filter(|(code, _)| *code == i.code)
                .map(|(_, pass)| pass);
            let applies = inspection::applies(i, &place.attributes, alert);
            if forced.is_none() && !applies {
                continue;
            }
            // A re-inspection answers its order's item; one that no longer applies (an emergency
            // item found during an alert that has ended) can only be answered N/A.
            let answer = match &i.answer {
                _ if !applies => Answer::Na,
                AnswerKind::PassFail { allow_na } => match forced {
                    Some(true) => Answer::Pass,
                    Some(false) => Answer::Fail,
                    None if order.is_some() => Answer::Pass,
                    None if *allow_na && self.rng.chance(5) => Answer::Na,
                    None if self.rng.chance(11) => Answer::Fail,
                    None => Answer::Pass,
                },
                AnswerKind::Number {
                    limit, comparison, ..
                } => {
                    let pass = forced.unwrap_or(order.is_some() || !self.rng.chance(8));
                    let factor = if pass {
                        0.4 + 0.5 * self.rng.unit_f64()
                    } else {
                        1.2 + 0.6 * self.rng.unit_f64()
                    };
                    let factor = match comparison {
                        lantian_domain::checklist::Comparison::AtMost => factor,
                        lantian_domain::checklist::Comparison::AtLeast => 2.0 - factor.min(1.9),
                    };
                    Answer::Number {
                        value: (limit * factor * 100.0).round() / 100.0,
                    }
                }
                AnswerKind::Text => {
                    if !self.rng.chance(30) {
                        continue;
                    }
                    Answer::Text {
                        value: "现场检查记录".into(),
                    }
                }
            };
            let failed = match (&i.answer, &answer) {
                (_, Answer::Fail) => true,
                (
                    AnswerKind::Number {
                        limit, comparison, ..
                    },
                    Answer::Number { value },
                ) => !inspection::within_limit(*value, *limit, *comparison),
                _ => false,
            };
            let photos = if failed || (forced == Some(true)) {
                vec![self.rng.uuid()]
            } else {
                Vec::new()
            };
            results.push(ItemResult {
                item: i.code.clone(),
                answer,
                note: None,
                photos,
            });
        }
        // Where the officer stood: near the subject mostly; sometimes a street away, rarely
        // across town, once in a while a mock location or a poor fix.
        let roll = self.rng.below(100);
        let (metres, accuracy, mock) = match roll {
            0..=83 => (
                5.0 + 35.0 * self.rng.unit_f64(),
                4.0 + 10.0 * self.rng.unit_f64(),
                false,
            ),
            84..=91 => (250.0 + 400.0 * self.rng.unit_f64(), 10.0, false),
            92..=94 => (3000.0 + 2000.0 * self.rng.unit_f64(), 12.0, false),
            95..=96 => (10.0, 8.0, true),
            _ => (30.0, 150.0 + 100.0 * self.rng.unit_f64(), false),
        };
        let bearing = self.rng.unit_f64() * std::f64::consts::TAU;
        let lat = place.point.lat + metres * bearing.cos() / 111_320.0;
        let lon = place.point.lon
            + metres * bearing.sin() / (111_320.0 * place.point.lat.to_radians().cos());
        InspectionSubmit {
            inspection_id: self.rng.uuid(),
            subject_id: place.id,
            template: TemplateRef {
                code: template.code.clone(),
                version: template.version,
            },
            results,
            notes: self
                .rng
                .chance(35)
                .then(|| NOTES[self.rng.below(NOTES.len())].to_owned()),
            location: LocationFix {
                lat: (lat * 1e6).round() / 1e6,
                lon: (lon * 1e6).round() / 1e6,
                accuracy_m: (accuracy * 10.0_f64).round() / 10.0,
                datum: Datum::Wgs84,
                mock,
                gps_time: self.rng.chance(70).then_some(when),
            },
            started_at: Some(when - Duration::minutes(12)),
            signature_photo_id: self.rng.uuid(),
            rectification_id: order,
        }
    }

    /// Pushes `s` as officer `o`'s next mutation, received after `when`; the inspection's row,
    /// or `None` if the push engine refused it.
    async fn push(
        &mut self,
        o: usize,
        s: &InspectionSubmit,
        when: DateTime<Utc>,
    ) -> Result<Option<i64>, AppError> {
        let received = self.received(when);
        // A few phones' clocks run fast: the server sees the offset and flags it.
        let offset_ms = if self.rng.chance(3) { 420_000 } else { 0 };
        let officer = &mut self.officers[o];
        let mid = officer.next_mid;
        officer.next_mid += 1;
        let args = serde_json::to_value(s).map_err(|_| AppError::internal())?;
        let device_time = when + Duration::milliseconds(offset_ms);
        let prepared = crate::sync::prepare(
            self.app.store(),
            vec![lantian_protocol::sync::Mutation {
                mid,
                name: "inspection.submit".into(),
                args,
                device_time,
            }],
            offset_ms,
        )
        .await?;
        let ctx = push::Context {
            user: officer.user.clone(),
            client_row: officer.client_row,
            client_id: officer.client_id,
            received_at: received,
            clock_offset_ms: offset_ms,
            verdicts: self.app.config().verdicts,
            rectify: self.app.config().rectify.clone(),
        };
        let id = s.inspection_id;
        let outcome = self
            .app
            .store()
            .write_at(received, move |c| {
                let out = push::push(c, &ctx, &prepared)?;
                let row = stored_review::access(c, id)?.map(|a| a.row);
                Ok((out, row))
            })
            .await?;
        match outcome {
            (out, Some(row))
                if out
                    .results
                    .iter()
                    .all(|r| r.status == push::Status::Applied) =>
            {
                self.report.inspections += 1;
                Ok(Some(row))
            }
            (out, _) => {
                tracing::warn!(results = ?out.results.iter().map(|r| r.code.clone()).collect::<Vec<_>>(), "the demo history's submission was refused");
                self.report.refused += 1;
                Ok(None)
            }
        }
    }

    /// The photos `s` expects, taken at `when` (EXIF time and position; a few without EXIF or
    /// with a camera clock hours off), uploaded and verified after `received`.
    async fn photos(
        &mut self,
        o: usize,
        s: &InspectionSubmit,
        when: DateTime<Utc>,
        received: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let expected = inspection::expected_photos(&s.results, s.signature_photo_id)
            .map_err(AppError::from)?;
        let media = std::sync::Arc::clone(self.app.media());
        let user = self.officers[o].user.clone();
        for (k, (photo, _)) in expected.into_iter().enumerate() {
            let seed = self.rng.next_u64();
            let taken = match self.rng.below(100) {
                0..=4 => None,
                5..=7 => Some(when + Duration::hours(3)),
                _ => Some(when + Duration::seconds(k as i64 * 20)),
            };
            let exif = taken.map(|t| ExifSpec {
                make: Some("HUAWEI".into()),
                model: Some("P40".into()),
                orientation: Some(1),
                taken: Some(
                    t.with_timezone(&cst())
                        .format("%Y:%m:%d %H:%M:%S")
                        .to_string(),
                ),
                offset: Some("+08:00".into()),
                gps: Some((s.location.lat, s.location.lon)),
                ..ExifSpec::default()
            });
            let upload_id = format!("demo-{}", photo.simple());
            let path = media.part_path(&upload_id);
            let limits = media.config.limits;
            let checked = tokio::task::spawn_blocking(move || {
                let bytes = scene(640, 480, seed, exif.as_ref());
                std::fs::write(&path, &bytes)?;
                let sha = lantian_media::probe::sha256_file(&path)?;
                let p = lantian_media::probe::probe(&path, bytes.len() as u64, &limits)?;
                Ok::<_, lantian_media::MediaError>((path, sha, p))
            })
            .await
            .map_err(|_| AppError::internal())?;
            let (path, sha, p) = checked.map_err(|e| {
                tracing::error!(error = %e, "a demo photo could not be made");
                AppError::internal()
            })?;
            media.blobs.put_original(&sha, &path).await.map_err(|e| {
                tracing::error!(error = %e, "a demo photo could not be stored");
                AppError::internal()
            })?;
            crate::evidence::remove_quietly(&path);
            let verified = Verified {
                sha256: sha.clone(),
                size: p.size,
                format: p.format,
                width: p.width,
                height: p.height,
                exif: p.exif,
                exif_unreadable: p.exif_unreadable,
                renditions_ready: false,
            };
            let new = NewUpload {
                id: upload_id,
                photo_id: photo,
                owner: Owner::Inspection(s.inspection_id),
                length: p.size,
                sha256: sha,
                content_type: Some("image/jpeg".into()),
                taken_at: taken,
                metadata: String::new(),
                expires_at: received + Duration::days(1),
            };
            let (thresholds, verdicts) = (media.config.thresholds, self.app.config().verdicts);
            let user = user.clone();
            let uploaded = received + Duration::seconds(30 + 10 * k as i64);
            self.app
                .store()
                .write_at(uploaded, move |c| {
                    let up =
                        lantian_store::media::create_upload(c, &user, &new).map_err(
                            |e| match e {
                                lantian_store::media::CreateError::Store(e) => e,
                                lantian_store::media::CreateError::Refused(code) => {
                                    StoreError::Conflict(code)
                                }
                            },
                        )?;
                    lantian_store::media::record_photo(c, &up, &verified, thresholds, &verdicts)
                })
                .await?;
            self.report.photos += 1;
        }
        Ok(())
    }

    /// The supervisor's decision on inspection `id` at `decided_at`, with orders opened for some
    /// failed items that have none.
    /// `may_open`: whether the decision may open orders (not for a re-inspection, whose failed
    /// item is the order it re-inspects).
    async fn review(
        &mut self,
        id: Uuid,
        row: i64,
        decided_at: DateTime<Utc>,
        may_open: bool,
    ) -> Result<(), AppError> {
        let roll = self.rng.below(100);
        let (decision, comment) = match roll {
            0..=77 => (ReviewDecision::Approved, None),
            78..=92 => (
                ReviewDecision::HasIssues,
                Some(COMMENTS_ISSUES[self.rng.below(3)].to_owned()),
            ),
            _ => (
                ReviewDecision::Rejected,
                Some(COMMENTS_REJECT[self.rng.below(2)].to_owned()),
            ),
        };
        let open_some = may_open && self.rng.chance(70);
        let reviewer = self.supervisor.clone();
        let policy = self.app.config().rectify.clone();
        let who = reviewer.uuid.to_string();
        self.app
            .store()
            .write_at(decided_at, move |c| {
                let a = stored_review::access(c, id)?.ok_or(StoreError::NotFound)?;
                let step = review::decide(
                    a.review_state,
                    ReviewState::Received,
                    decision,
                    comment,
                    false,
                )
                .map_err(|_| StoreError::Conflict("review_conflict"))?;
                let view = stored_review::record_decision(c, id, &a, &reviewer, &step)?;
                if open_some && decision != ReviewDecision::Rejected {
                    let opened = stored_review::orders_of(c, row)?;
                    let failed = view
                        .amendments
                        .last()
                        .map(|am| am.score.failed.clone())
                        .unwrap_or(view.score.failed.clone());
                    for item in failed
                        .iter()
                        .filter(|i| !opened.iter().any(|o| &o.item == *i))
                    {
                        match rectify::open(c, Group::new(), id, item, None, &who, &policy) {
                            Ok(_) | Err(StoreError::Conflict(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(())
            })
            .await?;
        self.report.reviews += 1;
        Ok(())
    }

    /// One order's life after it was opened: handled and re-inspected in time, late, reworked,
    /// extended, deferred, or left open. Steps in the future (after now) do not happen.
    async fn order_life(
        &mut self,
        finder: usize,
        place: &Place,
        template: &ChecklistTemplate,
        order: Uuid,
        opened: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<(), AppError> {
        // The other officer of the county re-inspects.
        let partner = self
            .officers
            .iter()
            .position(|o| {
                o.county == self.officers[finder].county
                    && o.user.id != self.officers[finder].user.id
            })
            .unwrap_or(finder);
        let handler = self.officers[partner].user.uuid.to_string();
        let supervisor = self.supervisor.uuid.to_string();
        let item = {
            let o = self
                .app
                .store()
                .read(move |c| rectify::get(c, order))
                .await?;
            match o {
                Some(o) => o.view.item,
                None => return Ok(()),
            }
        };
        let day = |t: DateTime<Utc>, days: i64, hour: u32| {
            at(
                t.with_timezone(&cst()).date_naive() + Duration::days(days),
                hour,
                0,
            )
        };
        // The first orders take every fate in turn, so that each state shows whatever the dice
        // say; the rest are drawn.
        const FATES: [usize; 9] = [0, 45, 57, 67, 77, 83, 89, 93, 99];
        let drawn = self.rng.below(100);
        let fate = FATES.get(self.report.orders - 1).copied().unwrap_or(drawn);
        let mut steps: Vec<(DateTime<Utc>, Step)> = Vec::new();
        let handled = |steps: &mut Vec<(DateTime<Utc>, Step)>, t: DateTime<Utc>| {
            steps.push((
                t,
                Step::Command(
                    OrderCommand::ReportHandled {
                        note: "已按要求完成整改，现场已覆盖、冲洗设施恢复使用。".into(),
                    },
                    handler.clone(),
                ),
            ));
        };
        match fate {
            // Handled and re-inspected in time.
            0..=44 => {
                handled(&mut steps, day(opened, 1, 15));
                steps.push((day(opened, 1, 17), Step::Reinspect(true)));
            }
            // Late: overdue first, then handled and closed after the deadline.
            45..=56 => {
                steps.push((
                    deadline + Duration::minutes(5),
                    Step::Command(OrderCommand::MarkOverdue, "system".into()),
                ));
                handled(&mut steps, day(deadline, 1, 11));
                steps.push((day(deadline, 2, 10), Step::Reinspect(true)));
            }
            // Reworked: the first re-inspection finds it not fixed.
            57..=66 => {
                handled(&mut steps, day(opened, 1, 15));
                steps.push((day(opened, 2, 10), Step::Reinspect(false)));
                handled(&mut steps, day(opened, 3, 15));
                steps.push((day(opened, 4, 10), Step::Reinspect(true)));
            }
            // Extended: more time asked and given, then handled within it.
            67..=76 => {
                let until = deadline + Duration::days(5);
                steps.push((
                    day(opened, 1, 9),
                    Step::Command(
                        OrderCommand::Request {
                            kind: RequestKind::Extension,
                            until,
                            reason: "需待混凝土养护期结束后方可清运，申请延期。".into(),
                            by: self.officers[partner].user.uuid,
                        },
                        handler.clone(),
                    ),
                ));
                steps.push((
                    day(opened, 1, 14),
                    Step::Command(
                        OrderCommand::DecideRequest {
                            approve: true,
                            comment: Some("同意延期五日。".into()),
                        },
                        supervisor.clone(),
                    ),
                ));
                handled(&mut steps, deadline + Duration::days(3));
                steps.push((deadline + Duration::days(4), Step::Reinspect(true)));
            }
            // Deferred: put off until the works reach the phase that allows the fix.
            77..=82 => {
                // Until after the day of the first start, so that it shows deferred.
                let until = day(opened, 20, 0).max(self.now + Duration::days(10));
                steps.push((
                    day(opened, 1, 9),
                    Step::Command(
                        OrderCommand::Request {
                            kind: RequestKind::Deferral,
                            until,
                            reason: "道路开挖阶段无法硬化，申请缓办至管线施工完成。".into(),
                            by: self.officers[partner].user.uuid,
                        },
                        handler.clone(),
                    ),
                ));
                steps.push((
                    day(opened, 2, 10),
                    Step::Command(
                        OrderCommand::DecideRequest {
                            approve: true,
                            comment: Some("同意缓办。".into()),
                        },
                        supervisor.clone(),
                    ),
                ));
            }
            // A request refused, then left open.
            83..=88 => {
                steps.push((
                    day(opened, 1, 9),
                    Step::Command(
                        OrderCommand::Request {
                            kind: RequestKind::Extension,
                            until: deadline + Duration::days(10),
                            reason: "施工任务重，申请延期十日。".into(),
                            by: self.officers[partner].user.uuid,
                        },
                        handler.clone(),
                    ),
                ));
                steps.push((
                    day(opened, 1, 16),
                    Step::Command(
                        OrderCommand::DecideRequest {
                            approve: false,
                            comment: Some("理由不充分，不予延期。".into()),
                        },
                        supervisor.clone(),
                    ),
                ));
            }
            // A request waiting for the supervisor.
            89..=92 => {
                steps.push((
                    day(opened, 1, 9),
                    Step::Command(
                        OrderCommand::Request {
                            kind: RequestKind::Extension,
                            until: deadline + Duration::days(7),
                            reason: "雨雪天气无法施工，申请延期七日。".into(),
                            by: self.officers[partner].user.uuid,
                        },
                        handler.clone(),
                    ),
                ));
            }
            // Reported handled, waiting for the re-inspection.
            93..=95 => handled(&mut steps, day(opened, 1, 15)),
            // Left open (overdue by now if its deadline passed).
            _ => {}
        }
        for (t, step) in steps {
            if t >= self.now {
                break;
            }
            match step {
                Step::Command(cmd, who) => {
                    let done = self
                        .app
                        .store()
                        .write_at(t, move |c| {
                            rectify::step(c, Group::new(), order, cmd, &who, t)
                        })
                        .await;
                    if done.is_err() {
                        // The order moved on otherwise (closed by the sweep's rules, say): its
                        // story ends here.
                        break;
                    }
                }
                Step::Reinspect(pass) => {
                    let s = self.submission(place, template, t, Some(order), Some((&item, pass)));
                    if let Some(row) = self.push(partner, &s, t).await? {
                        self.report.reinspections += 1;
                        let received = t + Duration::minutes(20);
                        self.photos(partner, &s, t, received).await?;
                        let day = next_working(t.with_timezone(&cst()).date_naive());
                        let decided_at = at(day, 11, 0);
                        if decided_at + Duration::days(2) < self.now {
                            self.review(s.inspection_id, row, decided_at, false).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A step of an order's life.
enum Step {
    Command(OrderCommand, String),
    Reinspect(bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_helpers_count_months_and_working_days() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 15).expect("date");
        assert_eq!(
            month_start(d, -2),
            NaiveDate::from_ymd_opt(2025, 11, 1).expect("date")
        );
        assert_eq!(
            month_start(d, 1),
            NaiveDate::from_ymd_opt(2026, 2, 1).expect("date")
        );
        let friday = NaiveDate::from_ymd_opt(2026, 1, 16).expect("date");
        assert_eq!(
            next_working(friday),
            NaiveDate::from_ymd_opt(2026, 1, 19).expect("date")
        );
        assert_eq!(at(d, 8, 0).to_rfc3339(), "2026-01-15T00:00:00+00:00");
    }
}
