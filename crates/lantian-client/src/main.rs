//! `lantian-field`: the reference client from a terminal. Log in, list subjects, fill an
//! inspection (interactively or from a JSON file), queue while offline, sync, show status, or run
//! simulated officers.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lantian_client::{Client, ClientConfig, sim};

mod progress;
use lantian_domain::checklist::{AnswerKind, ChecklistTemplate};
use lantian_domain::inspection::{Answer, Datum, ItemResult, LocationFix, TemplateRef};
use lantian_domain::mutation::InspectionSubmit;
use lantian_domain::subject::Subject;

/// The command line with the local store's path decided.
struct Resolved {
    db: PathBuf,
    server: Option<String>,
}

impl Resolved {
    /// The local store, for what works offline (the server's address may be unknown yet).
    fn offline_client(&self) -> anyhow::Result<Client> {
        let server = server_of(&self.server, &self.db).unwrap_or_default();
        Ok(Client::open(&self.db, ClientConfig::new(server))?)
    }

    /// The local store and the server it talks to (which must be known).
    fn online_client(&self) -> anyhow::Result<Client> {
        let server = server_of(&self.server, &self.db)?;
        Ok(Client::open(&self.db, ClientConfig::new(server))?)
    }
}

#[derive(Parser)]
#[command(
    name = "lantian-field",
    about = "蓝天 field client: inspect offline, sync when you can"
)]
struct Cli {
    /// Local store (the phone's disk). Default: `$XDG_DATA_HOME/lantian-field/field.db` (or
    /// `~/.local/share/lantian-field/field.db`), never the working directory; its photos, key and
    /// server address live beside it.
    #[arg(long, global = true, env = "LANTIAN_FIELD_DB")]
    db: Option<PathBuf>,
    /// Server URL (remembered after login).
    #[arg(long, global = true)]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in (password from standard input) and register this install, then pull. A one-time
    /// password is changed first: the new one is asked for (the next line of standard input).
    Login {
        #[arg(long)]
        username: String,
    },
    /// Change your password (the current one, then the new one, from standard input); this
    /// install signs in with the new one.
    Passwd {
        #[arg(long)]
        username: String,
    },
    /// Subjects pulled to this device, optionally nearest first to a position.
    Subjects {
        #[arg(long)]
        kind: Option<String>,
        /// `LAT,LON` (WGS-84): sort by distance from here.
        #[arg(long)]
        near: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Ask the server which registered subjects are around a point (online).
    Nearby {
        #[arg(long)]
        lat: f64,
        #[arg(long)]
        lon: f64,
        /// `wgs84`, `gcj02` (most Chinese map apps) or `bd09` (Baidu).
        #[arg(long, default_value = "wgs84")]
        datum: String,
        #[arg(long, default_value_t = 300.0)]
        radius: f64,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Fill an inspection of a subject: from a JSON file of results, or item by item on the terminal.
    /// It is queued; `sync` sends it.
    Inspect {
        #[arg(long)]
        subject: uuid::Uuid,
        /// JSON array of item results, e.g. [{"item":"CS1","answer":{"kind":"pass"}}].
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        lat: f64,
        #[arg(long)]
        lon: f64,
        #[arg(long, default_value_t = 10.0)]
        accuracy: f64,
        /// The officer's signature, as an image file.
        #[arg(long)]
        signature: Option<PathBuf>,
        /// `ITEM=FILE`: the photo of an item's failure (repeatable).
        #[arg(long = "photo", value_name = "ITEM=FILE")]
        photos: Vec<String>,
        /// A re-inspection (核查) of this rectification order: its item is checked again.
        #[arg(long)]
        rectification: Option<uuid::Uuid>,
    },
    /// Amend an inspection of yours (a correction, never an overwrite): new results from a JSON
    /// file, and the reason. Queued; `sync` sends it.
    Amend {
        #[arg(long)]
        inspection: uuid::Uuid,
        /// JSON array of item results, as for `inspect --file`.
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        reason: String,
        /// `ITEM=FILE`: a photo the amendment adds to an item (repeatable).
        #[arg(long = "photo", value_name = "ITEM=FILE")]
        photos: Vec<String>,
    },
    /// Report an incident seen in the field (open burning, dumping, dust...), with photos. Queued;
    /// `sync` sends it, then its photos.
    Incident {
        /// open_burning, illegal_dumping, dust, emergency_measures or other.
        #[arg(long)]
        category: String,
        #[arg(long)]
        description: String,
        #[arg(long)]
        lat: f64,
        #[arg(long)]
        lon: f64,
        #[arg(long, default_value_t = 10.0)]
        accuracy: f64,
        /// A photo file (repeatable).
        #[arg(long = "photo", value_name = "FILE")]
        photos: Vec<PathBuf>,
    },
    /// Attach a photo file to an inspection already queued (by the ids `inspect` printed).
    Photo {
        #[arg(long)]
        inspection: uuid::Uuid,
        #[arg(long)]
        photo_id: uuid::Uuid,
        #[arg(long)]
        file: PathBuf,
    },
    /// Push queued mutations, upload photos, then pull.
    Sync,
    /// Queue, verdicts and local data.
    Status,
    /// Simulated installs of one user, each queuing random inspections and syncing.
    Simulate {
        #[arg(long)]
        username: String,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        inspections: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder for the simulated devices' stores.
        #[arg(long, default_value = "lantian-sim")]
        dir: PathBuf,
    },
}

/// Queues a mutation that declares photos, and the photos' files with it (they upload once the
/// server has applied it, under `owner`: its inspection or incident).
fn queue_with_photos(
    client: &Client,
    name: &str,
    args: &serde_json::Value,
    owner: uuid::Uuid,
    photos: &[(uuid::Uuid, PathBuf)],
) -> anyhow::Result<i64> {
    let mid = client.queue(name, args)?;
    for (id, f) in photos {
        client.attach_photo(owner, *id, f)?;
    }
    Ok(mid)
}

fn photos_note(n: usize) -> String {
    match n {
        0 => String::new(),
        n => format!(" with {n} photos (they upload after it)"),
    }
}

/// `ITEM=FILE` arguments as a map.
fn item_files(args: &[String]) -> anyhow::Result<std::collections::BTreeMap<String, PathBuf>> {
    let mut files = std::collections::BTreeMap::new();
    for p in args {
        let (item, file) = p
            .split_once('=')
            .with_context(|| format!("--photo {p}: expected ITEM=FILE"))?;
        files.insert(item.to_owned(), PathBuf::from(file));
    }
    Ok(files)
}

/// Passwords read from standard input: asked for on a terminal, else one per line (a script's
/// `<<<` or a pipe: the password, then for a forced change the new one).
struct Secrets {
    lines: Option<std::vec::IntoIter<String>>,
}

impl Secrets {
    fn stdin() -> Secrets {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            return Secrets { lines: None };
        }
        let mut s = String::new();
        let _ = std::io::stdin().read_to_string(&mut s);
        let lines: Vec<String> = s
            .lines()
            .map(|l| l.trim_end_matches('\r').to_owned())
            .collect();
        Secrets {
            lines: Some(lines.into_iter()),
        }
    }

    fn next(&mut self, prompt: &str) -> anyhow::Result<String> {
        match &mut self.lines {
            Some(lines) => lines.next().with_context(|| {
                format!(
                    "standard input ended before the {}",
                    prompt.trim_end_matches([' ', ':'])
                )
            }),
            None => ask(prompt),
        }
    }

    /// A new password, typed twice on a terminal (once from a script).
    fn new_password(&mut self) -> anyhow::Result<String> {
        let new = self.next("new password: ")?;
        if self.lines.is_none() && ask("again: ")? != new {
            anyhow::bail!("the two new passwords differ; nothing was changed");
        }
        Ok(new)
    }
}

fn server_of(cli_server: &Option<String>, db: &std::path::Path) -> anyhow::Result<String> {
    if let Some(s) = cli_server {
        return Ok(s.clone());
    }
    let remembered = db.with_extension("server");
    std::fs::read_to_string(&remembered)
        .map(|s| s.trim().to_owned())
        .with_context(|| "no server known: pass --server http://HOST:PORT".to_string())
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

fn interactive_results(
    t: &ChecklistTemplate,
    applicable: impl Fn(&lantian_domain::checklist::ChecklistItem) -> bool,
) -> anyhow::Result<Vec<ItemResult>> {
    let mut out = Vec::new();
    // Items that do not apply (a condition of the subject, or emergency items outside an alert)
    // are not asked.
    for item in t.items.iter().filter(|i| applicable(i)) {
        let answer = loop {
            let hint = match &item.answer {
                AnswerKind::PassFail { allow_na } => {
                    if *allow_na { "p/f/na" } else { "p/f" }.to_owned()
                }
                AnswerKind::Number { limit, unit, .. } => {
                    format!("number in {unit} (limit {limit}), or na")
                }
                AnswerKind::Text => "text, or empty to skip".to_owned(),
            };
            let a = ask(&format!(
                "{} {} / {} [{hint}]: ",
                item.code, item.label_zh, item.label_en
            ))?;
            let parsed = match (&item.answer, a.as_str()) {
                (AnswerKind::Text, "") => None,
                (AnswerKind::Text, s) => Some(Answer::Text {
                    value: s.to_owned(),
                }),
                (_, "na") => Some(Answer::Na),
                (AnswerKind::PassFail { .. }, "p") => Some(Answer::Pass),
                (AnswerKind::PassFail { .. }, "f") => Some(Answer::Fail),
                (AnswerKind::Number { .. }, s) => match s.parse::<f64>() {
                    Ok(v) => Some(Answer::Number { value: v }),
                    Err(_) => continue,
                },
                _ => continue,
            };
            break parsed;
        };
        if let Some(answer) = answer {
            // Every failing answer gets a photo slot, a number over its limit included: the
            // evidence of a failure is its photo.
            let photos = if lantian_client::is_failing(item, &answer) {
                vec![uuid::Uuid::now_v7()]
            } else {
                vec![]
            };
            out.push(ItemResult {
                item: item.code.clone(),
                answer,
                note: None,
                photos,
            });
        }
    }
    Ok(out)
}

/// Where the field client keeps its store when `--db` is not given: the user's data folder.
fn default_db() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| anyhow::anyhow!("no HOME: name the local store with --db"))?,
        )
        .join(".local/share"),
    };
    let dir = base.join("lantian-field");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join("field.db"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run()
        .await
        .map_err(|e| match e.downcast_ref::<lantian_client::ClientError>() {
            Some(c) => match advice(c) {
                Some(what) => anyhow::anyhow!("{e}\n{what}"),
                None => e,
            },
            None => e,
        })
}

/// What the officer can do about an error.
fn advice(e: &lantian_client::ClientError) -> Option<&'static str> {
    use lantian_client::ClientError;
    match e {
        ClientError::Offline(_) => Some(
            "no connection to the server: nothing is lost, the queue stays on this device; run `lantian-field sync` again when there is signal",
        ),
        ClientError::NotLoggedIn => Some("sign in again: lantian-field login --username NAME"),
        ClientError::Server { code, .. } if code == "client_revoked" => Some(
            "this install was revoked by an administrator: ask them, then sign in on a new install (another --db)",
        ),
        ClientError::Server { code, .. } if code == "protocol_unsupported" => {
            Some("this client is too old for the server: update it")
        }
        _ => None,
    }
}

async fn run() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    let db = match cli.db.take() {
        Some(p) => p,
        None => default_db()?,
    };
    let command = cli.command;
    let cli = Resolved {
        db,
        server: cli.server,
    };
    match command {
        Command::Login { username } => {
            let server = server_of(&cli.server, &cli.db)?;
            let client = Client::open(&cli.db, ClientConfig::new(&server))?;
            let mut input = Secrets::stdin();
            let password = input.next("password: ")?;
            match client.login(&username, &password).await {
                Err(lantian_client::ClientError::Server { code, .. })
                    if code == "password_change_required" =>
                {
                    eprintln!(
                        "this is a one-time password: choose your own (at least {} characters)",
                        lantian_domain::user::PASSWORD_MIN_CHARS
                    );
                    let new = input.new_password()?;
                    client.change_password(&username, &password, &new).await?;
                    eprintln!("password changed");
                }
                other => other?,
            }
            std::fs::write(cli.db.with_extension("server"), &server)?;
            let (_, pull) = client.sync().await?;
            println!(
                "logged in as {username}; install {}; pulled {} changes",
                client.client_id(),
                pull.changes
            );
        }
        Command::Passwd { username } => {
            let server = server_of(&cli.server, &cli.db)?;
            let client = Client::open(&cli.db, ClientConfig::new(&server))?;
            let mut input = Secrets::stdin();
            let current = input.next("current password: ")?;
            let new = input.new_password()?;
            client.change_password(&username, &current, &new).await?;
            std::fs::write(cli.db.with_extension("server"), &server)?;
            println!("password changed; signed in as {username} on this install");
        }
        Command::Subjects { kind, near, limit } => {
            let client = cli.offline_client()?;
            let mut subjects: Vec<Subject> = client
                .entities("subject")?
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect();
            if let Some(k) = kind {
                subjects.retain(|s| s.attributes.kind().as_str() == k);
            }
            let here = near
                .map(|n| -> anyhow::Result<(f64, f64)> {
                    let (a, b) = n.split_once(',').context("--near takes LAT,LON")?;
                    Ok((a.trim().parse()?, b.trim().parse()?))
                })
                .transpose()?;
            let dist = |s: &Subject| match (here, s.location) {
                (Some(h), Some(p)) => lantian_domain::geo::distance_m(h, (p.lat, p.lon)),
                _ => f64::INFINITY,
            };
            if here.is_some() {
                subjects.sort_by(|a, b| dist(a).total_cmp(&dist(b)));
            }
            for s in subjects.iter().take(limit) {
                let d = dist(s);
                let shown = if d.is_finite() {
                    format!("{d:>8.0} m")
                } else {
                    "       -  ".to_owned()
                };
                println!(
                    "{}  {shown}  {:<18} {:<20} {}",
                    s.id,
                    s.attributes.kind().as_str(),
                    s.unit,
                    s.name
                );
            }
        }
        Command::Inspect {
            subject,
            file,
            lat,
            lon,
            accuracy,
            signature,
            photos,
            rectification,
        } => {
            let client = cli.offline_client()?;
            let s: Subject = client
                .entity("subject", &subject.to_string())?
                .context("that subject is not on this device; sync first")?;
            let t = sim::latest_templates(&client)?
                .into_iter()
                .find(|t| t.subject_kind == s.attributes.kind())
                .context("no checklist for this kind of subject on this device")?;
            let results: Vec<ItemResult> = match file {
                Some(f) => serde_json::from_slice(&std::fs::read(&f)?)
                    .with_context(|| format!("{} is not a JSON array of results", f.display()))?,
                None => {
                    let alert = client.alert_active(&s.unit, chrono::Utc::now())?;
                    if alert {
                        println!("a pollution alert covers this place: the emergency items apply");
                    }
                    interactive_results(&t, |i| {
                        lantian_domain::inspection::applies(i, &s.attributes, alert)
                    })?
                }
            };
            let submit = InspectionSubmit {
                inspection_id: uuid::Uuid::now_v7(),
                subject_id: s.id,
                template: TemplateRef {
                    code: t.code.clone(),
                    version: t.version,
                },
                results,
                notes: None,
                location: LocationFix {
                    lat,
                    lon,
                    accuracy_m: accuracy,
                    datum: Datum::Wgs84,
                    mock: false,
                    gps_time: None,
                },
                started_at: None,
                signature_photo_id: uuid::Uuid::now_v7(),
                rectification_id: rectification,
            };
            let files = item_files(&photos)?;
            let (mid, score) = client.submit_inspection(&submit)?;
            if let Some(f) = &signature {
                client.attach_photo(submit.inspection_id, submit.signature_photo_id, f)?;
            }
            for r in &submit.results {
                for id in &r.photos {
                    match files.get(&r.item) {
                        Some(f) => client.attach_photo(submit.inspection_id, *id, f)?,
                        None => println!(
                            "item {} expects photo {id}: lantian-field photo --inspection {} --photo-id {id} --file FILE",
                            r.item, submit.inspection_id
                        ),
                    }
                }
            }
            if signature.is_none() {
                println!(
                    "the signature is photo {}: lantian-field photo --inspection {} --photo-id {} --file FILE",
                    submit.signature_photo_id, submit.inspection_id, submit.signature_photo_id
                );
            }
            println!(
                "inspection {} queued as mutation {mid}: {}/{} ({:.1}%), {}",
                submit.inspection_id,
                score.earned,
                score.possible,
                score.percent(),
                if score.compliant {
                    "compliant".to_owned()
                } else {
                    format!("failed {}", score.failed.join(", "))
                }
            );
        }
        Command::Amend {
            inspection,
            file,
            reason,
            photos,
        } => {
            let client = cli.offline_client()?;
            let current: serde_json::Value = client
                .entity("inspection", &inspection.to_string())?
                .context("that inspection of yours is not on this device; sync first")?;
            let base = current["version"].as_u64().unwrap_or(1);
            let mut results: Vec<ItemResult> = serde_json::from_slice(&std::fs::read(&file)?)
                .with_context(|| format!("{} is not a JSON array of results", file.display()))?;
            let files = item_files(&photos)?;
            let mut added = Vec::new();
            for r in &mut results {
                if let Some(f) = files.get(&r.item) {
                    let id = uuid::Uuid::now_v7();
                    r.photos.push(id);
                    added.push((id, f.clone()));
                }
            }
            let amend = serde_json::json!({"inspection_id": inspection, "base_version": base,
                                           "results": results, "reason": reason});
            let mid = queue_with_photos(&client, "inspection.amend", &amend, inspection, &added)?;
            println!(
                "amendment of inspection {inspection} (on version {base}) queued as mutation {mid}{}",
                photos_note(added.len())
            );
        }
        Command::Incident {
            category,
            description,
            lat,
            lon,
            accuracy,
            photos,
        } => {
            let client = cli.offline_client()?;
            let id = uuid::Uuid::now_v7();
            let files: Vec<(uuid::Uuid, PathBuf)> = photos
                .into_iter()
                .map(|f| (uuid::Uuid::now_v7(), f))
                .collect();
            let photo_ids: Vec<uuid::Uuid> = files.iter().map(|(p, _)| *p).collect();
            let report = serde_json::json!({
                "incident_id": id, "category": category, "description": description,
                "location": {"lat": lat, "lon": lon, "accuracy_m": accuracy, "datum": "wgs84"},
                "photos": photo_ids,
            });
            let mid = queue_with_photos(&client, "incident.report", &report, id, &files)?;
            println!(
                "incident {id} queued as mutation {mid}{}",
                photos_note(files.len())
            );
        }
        Command::Nearby {
            lat,
            lon,
            datum,
            radius,
            limit,
        } => {
            let client = cli.online_client()?;
            let datum: Datum = serde_json::from_value(serde_json::Value::String(datum.clone()))
                .with_context(|| format!("unknown datum {datum:?}: wgs84, gcj02 or bd09"))?;
            let found = client.nearby(lat, lon, datum, radius, limit).await?;
            if found.is_empty() {
                println!(
                    "no registered subject within {radius} m of {lat},{lon}: a new one can be proposed"
                );
            }
            for (d, s) in found {
                println!(
                    "{:>7.1} m  {}  {:<18} {:<20} {}",
                    d,
                    s.id,
                    s.attributes.kind().as_str(),
                    s.unit,
                    s.name
                );
            }
        }
        Command::Photo {
            inspection,
            photo_id,
            file,
        } => {
            let client = cli.offline_client()?;
            client.attach_photo(inspection, photo_id, &file)?;
            println!("photo {photo_id} queued; `sync` uploads it");
        }
        Command::Sync => {
            let client = cli.online_client()?;
            let shown = progress::attach(&client);
            let report = client.sync_report().await;
            shown.finish();
            let r = report?;
            println!(
                "sent: {} applied, {} rejected{}{}",
                r.push.applied,
                r.push.rejected,
                if r.push.resent > 0 {
                    format!(
                        ", {} sent again after a lost answer (the server had them: nothing doubled)",
                        r.push.resent
                    )
                } else {
                    String::new()
                },
                if r.push.mismatched > 0 {
                    format!(", {} mismatched (see status)", r.push.mismatched)
                } else {
                    String::new()
                },
            );
            println!(
                "photos: {} uploaded, {} refused{}",
                r.uploads.uploaded,
                r.uploads.refused,
                if r.uploads.waiting > 0 {
                    format!(
                        ", {} waiting (their inspection is not on the server yet, or the network failed)",
                        r.uploads.waiting
                    )
                } else {
                    String::new()
                },
            );
            println!(
                "received: {} changes in {} pages{}",
                r.pull.changes,
                r.pull.pages,
                if r.pull.repaired.is_empty() {
                    String::new()
                } else {
                    format!("; repaired {}", r.pull.repaired.join(", "))
                }
            );
            if r.pending > 0 {
                println!(
                    "{} mutations still waiting: nothing is lost; run `lantian-field sync` again when there is signal",
                    r.pending
                );
            } else {
                println!("everything queued is on the server");
            }
        }
        Command::Status => {
            let client = cli.offline_client()?;
            println!(
                "install {}; {} mutations not yet confirmed",
                client.client_id(),
                client.pending()?
            );
            for q in client
                .outbox()?
                .iter()
                .filter(|q| q.status.as_deref() == Some("rejected"))
            {
                println!(
                    "  rejected: mutation {} {} ({})",
                    q.mid,
                    q.name,
                    q.code.as_deref().unwrap_or("?")
                );
            }
            for p in client.photos()?.iter().filter(|p| p.state != "verified") {
                println!(
                    "  photo {} of inspection {}: {}{}",
                    p.photo_id,
                    p.inspection_id,
                    p.state,
                    p.code
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
            }
            // What reached this officer: supervisors' decisions on their inspections, and the
            // rectification orders of their unit still to be closed.
            for v in client.entities("inspection")? {
                let state = v["review_state"].as_str().unwrap_or("received");
                if state != "received" {
                    let comment = v["reviews"]
                        .as_array()
                        .and_then(|r| r.last())
                        .and_then(|r| r["comment"].as_str())
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default();
                    println!(
                        "  review of inspection {}: {state}{comment}",
                        v["id"].as_str().unwrap_or("?")
                    );
                }
            }
            for o in client.entities("rectification")? {
                let state = o["state"].as_str().unwrap_or("?");
                if state == "closed" || state == "cancelled" {
                    continue;
                }
                println!(
                    "  order {} ({}, item {}): {state}, due {}{}",
                    o["id"].as_str().unwrap_or("?"),
                    o["subject_id"].as_str().unwrap_or("?"),
                    o["item"].as_str().unwrap_or("?"),
                    o["deadline"].as_str().unwrap_or("?"),
                    if o["overdue"].as_bool() == Some(true) {
                        " OVERDUE"
                    } else {
                        ""
                    }
                );
            }
            for (scope, n, sum) in client.scope_sums()? {
                println!(
                    "  {scope:<48} {n:>6} {}",
                    lantian_domain::sync::checksum_text(sum)
                );
            }
        }
        Command::Simulate {
            username,
            clients,
            inspections,
            seed,
            dir,
        } => {
            let server = server_of(&cli.server, &cli.db)?;
            let password = Secrets::stdin().next("password: ")?;
            std::fs::create_dir_all(&dir)?;
            let mut rng = sim::Rng(seed);
            let mut handles = Vec::new();
            for i in 0..clients {
                let client =
                    sim::officer(&dir, &format!("{username}-{i}"), ClientConfig::new(&server))?;
                let (u, p, mut r) = (username.clone(), password.clone(), sim::Rng(rng.next_u64()));
                handles.push(tokio::spawn(async move {
                    client.login(&u, &p).await?;
                    client.pull().await?;
                    sim::queue_inspections(&client, &mut r, inspections)?;
                    let (push, _) = client.sync().await?;
                    Ok::<_, lantian_client::ClientError>(push)
                }));
            }
            for h in handles {
                let push = h.await??;
                println!("applied {}, rejected {}", push.applied, push.rejected);
            }
        }
    }
    Ok(())
}
