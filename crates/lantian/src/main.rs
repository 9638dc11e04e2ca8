//! The `lantian` command: `serve`, `migrate`, `user add`, `import subjects`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lantian::config::Config;
use lantian_domain::user::Role;

/// mimalloc instead of glibc malloc: with glibc, every thread that handled a request kept its own
/// arena of freed memory (measured peak RSS 270 MiB in the sync benchmark against 156 MiB with
/// `MALLOC_ARENA_MAX=2`); mimalloc returns freed pages to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lantian",
    version,
    about = "蓝天 lantian: field inspections for air-pollution campaigns"
)]
struct Cli {
    /// Configuration file (default: ./lantian.toml if present).
    #[arg(long, global = true, env = "LANTIAN_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder (database, signing key). Overrides the configuration.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database (`postgres://user:password@host/db`) instead of the SQLite file in
    /// the data folder. Overrides the configuration (and `LANTIAN_DATABASE_URL`).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Load the Liaocheng demo subjects and one demo user per role (once).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// App installs (one per phone and user): list them, revoke one at once.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Import data.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Compute a month's assessment: official (a new revision only if a figure changed) or
    /// provisional.
    Rollup {
        /// `YYYY-MM` (China Standard Time).
        #[arg(long)]
        month: String,
        #[arg(long)]
        provisional: bool,
        /// Publish official figures before the month's grace period for offline phones has
        /// passed (day `official_day` of the next month); the scheduled run after it still runs.
        #[arg(long, conflicts_with = "provisional")]
        force: bool,
    },
    /// Campaigns (the period, tasks, weights and rules a month is assessed under).
    Campaign {
        #[command(subcommand)]
        command: CampaignCommand,
    },
    /// Write a month's bulletin (from its latest official revision).
    Bulletin {
        #[arg(long)]
        month: String,
        /// json, csv, xlsx or html.
        #[arg(long, default_value = "html")]
        format: String,
        /// Output file (default: bulletin-MONTH.FORMAT in the working directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Take a backup of the database now (the server may be running).
    Backup,
    /// Restore a backup into the data folder (stop the server first).
    Restore {
        /// A `DATA_DIR/backups/lantian-*.db` file (its `.json` manifest beside it).
        file: PathBuf,
    },
    /// Move this deployment (SQLite file, photo folder) into PostgreSQL and, with `--media`,
    /// S3-compatible object storage; the server must be stopped. Checked with `audit verify`.
    /// Run again after a failure, it goes on from where it stopped.
    Copy {
        /// The empty PostgreSQL database (or one an earlier run of this copy filled):
        /// postgres://user:password@host:5432/db
        #[arg(long)]
        to: String,
        /// Copy the photos too, into s3://bucket/prefix ([s3] or the AWS_ variables say where).
        #[arg(long)]
        media: Option<String>,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain, compare it with the recorded heads, and recompute every evidence seal;
    /// exit 1 on any problem.
    Verify,
    /// Hash every photo original and compare it with what was recorded at verification; exit 1 if
    /// one is missing or altered.
    Photos,
    /// Record the chain's current head (keep the printed hash elsewhere too).
    Checkpoint {
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// inspector, supervisor, assessor, unit_admin, admin or viewer.
        #[arg(long)]
        role: String,
        /// Code of the user's unit, e.g. dongchangfu.
        #[arg(long)]
        unit: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List every user: name, role, unit, whether disabled.
    List,
    /// Disable a user: every login of theirs (app and console) ends at once.
    Disable { username: String },
    /// Enable a disabled user again (they sign in anew).
    Enable { username: String },
    /// Give a user another role (their console sessions end).
    Role { username: String, role: String },
    /// Move a user to another unit (their console sessions end).
    Move { username: String, unit: String },
    /// Give a user a one-time password (printed once; changed at their next sign-in). Every login
    /// of theirs ends; their installs' keys stay.
    ResetPassword { username: String },
    /// List a user's console sessions and app logins that have not ended.
    Sessions { username: String },
    /// End one of a user's sessions at once (its id as `lantian user sessions` prints it).
    EndSession { username: String, session: String },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// List a user's installs.
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a user's install: its logins end, its key no longer signs in, it no longer syncs.
    Revoke {
        #[arg(long)]
        user: String,
        client_id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum CampaignCommand {
    /// List the campaigns, newest first, with their periods.
    List,
    /// Create a campaign from a JSON file (the shape of `GET /v1/campaigns/{code}`).
    Add { file: PathBuf },
    /// Replace the campaign the JSON file names (by its `code`) with the file's content.
    Edit { file: PathBuf },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import subjects from a CSV or GeoJSON file; all rows or none.
    Subjects { file: PathBuf },
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        // JSON escapes every string itself.
        builder.with_writer(std::io::stderr).json().init();
    } else {
        // One event, one line: control characters in any field are written escaped (and no
        // colour codes, which are control characters too).
        builder
            .with_ansi(false)
            .with_writer(lantian::logs::escaped_stderr)
            .init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref()).context("configuration")?;
    if let Some(url) = cli.database_url {
        config.database_url = Some(lantian::config::DatabaseUrl(url));
    }
    if let Some(d) = cli.data_dir {
        config.data_dir = d;
    }
    init_tracing(&config.log_format);
    match cli.command {
        Command::Serve { listen, demo } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            let started = std::time::Instant::now();
            let running = lantian::app::start(&config, demo, shutdown_signal()).await?;
            tracing::info!(addr = %running.addr, data_dir = %config.data_dir.display(), ms = started.elapsed().as_millis() as u64, "lantian ready");
            println!("lantian listening on http://{}", running.addr);
            if demo {
                println!(
                    "demo users: {} (password: {})",
                    lantian_domain::reference::demo()
                        .users
                        .iter()
                        .map(|u| u.username.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    lantian_domain::reference::DEMO_PASSWORD
                );
                println!(
                    "try: curl -s http://{}/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"demo_inspector\",\"password\":\"{}\"}}'",
                    running.addr,
                    lantian_domain::reference::DEMO_PASSWORD
                );
            }
            running.wait().await?;
        }
        Command::Migrate => {
            let applied = lantian_store::migrate(&config.store())?;
            if applied.is_empty() {
                println!("{}: up to date", config.database_name());
            } else {
                println!("{}: applied migrations {applied:?}", config.database_name());
            }
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    unit,
                    display_name,
                    password_stdin: _,
                },
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!(
                    "unknown role {role:?}; one of: {}",
                    Role::ALL.map(|r| r.as_str()).join(", ")
                )
            })?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let store = lantian::app::open_store(&config).await?;
            let display = display_name.unwrap_or_else(|| username.clone());
            let user = lantian::users::add_user(&store, &username, &display, role, &unit, password)
                .await?;
            println!(
                "added {} ({}, {}) id {}",
                user.username,
                user.role.as_str(),
                user.unit,
                user.uuid
            );
        }
        Command::User {
            command: UserCommand::List,
        } => {
            let store = lantian::app::open_store(&config).await?;
            for u in lantian_app::operator::users(&store).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.username,
                    u.role.as_str(),
                    u.unit,
                    if u.disabled { "disabled" } else { "enabled" },
                    u.display_name
                );
            }
        }
        Command::User {
            command: UserCommand::ResetPassword { username },
        } => {
            let store = lantian::app::open_store(&config).await?;
            let p = lantian_app::operator::reset_password(&store, username.clone())
                .await
                .map_err(|e| no_such_user(e, &username))?;
            println!(
                "one-time password for {username}: {}\nit is shown once, signs in nowhere until {username} chose their own, and lapses at {}",
                p.one_time_password, p.expires_at
            );
        }
        Command::User {
            command: UserCommand::Sessions { username },
        } => {
            let store = lantian::app::open_store(&config).await?;
            let sessions = lantian_app::operator::sessions(&store, username.clone())
                .await
                .map_err(|e| no_such_user(e, &username))?;
            if sessions.is_empty() {
                println!("{username} is signed in nowhere");
            }
            for s in sessions {
                let whence = match (&s.install, &s.peer) {
                    (Some(i), _) => format!("install {i}"),
                    (None, Some(p)) => format!("from {p}"),
                    (None, None) => String::new(),
                };
                println!(
                    "{}\t{}\tsince {}\tlast {}\t{whence}",
                    s.id, s.kind, s.started_at, s.last_seen_at
                );
            }
        }
        Command::User {
            command: UserCommand::EndSession { username, session },
        } => {
            let store = lantian::app::open_store(&config).await?;
            lantian_app::operator::end_session(&store, username.clone(), session.clone())
                .await
                .map_err(|e| match e.field.as_deref() {
                    Some("session_id") => {
                        anyhow::anyhow!("{username} has no open session {session}")
                    }
                    _ => no_such_user(e, &username),
                })?;
            println!("ended {session} of {username}");
        }
        Command::User { command } => {
            use lantian_app::users::UserChange;
            let (username, change) = match command {
                UserCommand::Disable { username } => (username, UserChange::Disabled(true)),
                UserCommand::Enable { username } => (username, UserChange::Disabled(false)),
                UserCommand::Role { username, role } => {
                    let role = Role::parse(&role).with_context(|| {
                        format!(
                            "unknown role {role:?}; one of: {}",
                            Role::ALL.map(|r| r.as_str()).join(", ")
                        )
                    })?;
                    (username, UserChange::Role(role))
                }
                UserCommand::Move { username, unit } => (username, UserChange::Unit(unit)),
                UserCommand::Add { .. }
                | UserCommand::List
                | UserCommand::ResetPassword { .. }
                | UserCommand::Sessions { .. }
                | UserCommand::EndSession { .. } => unreachable!("matched above"),
            };
            let store = lantian::app::open_store(&config).await?;
            let u = lantian_app::operator::change_user(&store, username.clone(), change)
                .await
                .map_err(|e| match (e.code, e.detail.as_deref()) {
                    ("not_found", _) => anyhow::anyhow!("no user named {username}"),
                    ("conflict", Some("unit_unknown")) => anyhow::anyhow!("no such unit"),
                    _ => anyhow::anyhow!("{e}"),
                })?;
            println!(
                "{}: {}, {}, {}",
                u.username,
                u.role.as_str(),
                u.unit,
                if u.disabled { "disabled" } else { "enabled" }
            );
        }
        Command::Rollup {
            month,
            provisional,
            force,
        } => {
            let schedule = config.jobs.schedule();
            if !provisional
                && !force
                && !lantian::jobs::grace_passed(&month, chrono::Utc::now(), &schedule)
            {
                anyhow::bail!(
                    "the official figures of {month} are published after its grace period for offline phones \
                     (day {} of the next month, {:02}:00 China Standard Time); use --provisional for today's \
                     figures, or --force to publish official ones now",
                    schedule.official_day,
                    schedule.official_hour
                );
            }
            let store = lantian::app::open_store(&config).await?;
            let r = lantian::assessment::run(&store, &month, !provisional).await?;
            println!(
                "{} {} {}: {}",
                r.campaign,
                r.month,
                if r.official {
                    "official"
                } else {
                    "provisional"
                },
                if !r.official {
                    "stored".to_owned()
                } else if r.new_revision {
                    format!(
                        "published revision {} ({} figures changed)",
                        r.revision, r.changes
                    )
                } else {
                    format!("unchanged (revision {})", r.revision)
                }
            );
            println!(
                "{:<24} {:>7} {:>5}  {:>9} {:>8} {:>8} {:>8}",
                "unit", "score", "rank", "complian.", "coverage", "on time", "evidence"
            );
            for u in &r.units {
                println!(
                    "{:<24} {:>7.2} {:>5}  {:>9.4} {:>8.4} {:>8.4} {:>8.4}",
                    u.unit,
                    u.score,
                    u.rank
                        .map(|r| format!("{r}/{}", u.ranked_among))
                        .unwrap_or_default(),
                    u.rates.compliance,
                    u.rates.coverage,
                    u.rates.on_time,
                    u.rates.evidence_quality
                );
            }
        }
        Command::Bulletin { month, format, out } => {
            let store = lantian::app::open_store(&config).await?;
            let b = lantian_app::operator::official_bulletin(&store, &month, &config.bulletin)
                .await?
                .with_context(|| {
                    format!(
                        "no official rollup of {month} yet: run `lantian rollup --month {month}`"
                    )
                })?;
            let bytes = match format.as_str() {
                "json" => serde_json::to_vec_pretty(&b)?,
                "csv" => lantian_app::bulletin::to_csv(&b)?,
                "xlsx" => lantian_app::bulletin::to_xlsx(&b)?,
                "html" => lantian_app::bulletin::to_html(&b).into_bytes(),
                other => anyhow::bail!("unknown format {other:?}: json, csv, xlsx or html"),
            };
            let out = out.unwrap_or_else(|| PathBuf::from(format!("bulletin-{month}.{format}")));
            std::fs::write(&out, bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("wrote {}", out.display());
        }
        Command::Backup => {
            let store = lantian::app::open_store(&config).await?;
            let p = lantian::backup::run(&config, &store, config.jobs.backups_keep.max(1)).await?;
            println!("backup written: {}", p.display());
        }
        Command::Restore { file } => {
            let r = lantian::backup::restore(&config, &file)?;
            println!("restored {} from {}", r.database.display(), file.display());
            if let Some(p) = r.previous {
                println!("the previous database is kept as {}", p.display());
            }
            if !r.missing_photos.is_empty() {
                println!(
                    "WARNING: {} photos named by the backup are missing from the photo store",
                    r.missing_photos.len()
                );
            }
        }
        Command::Copy { to, media } => {
            let copied =
                lantian::copy::run(&config, &to, media.as_deref(), |line| println!("{line}"))
                    .await?;
            println!(
                "\ndone: {} rows, {} photo objects. Point every node at the copy:\n  \
                 database_url = \"{}\"",
                copied.rows.rows(),
                copied.objects,
                lantian_store::redact_url(&to)
            );
            if let Some(m) = media {
                println!("  media_url = \"{m}\"");
            }
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let v = lantian::audit::verify(&config).await?;
            println!("{}", lantian::audit::describe(&v));
            if !v.ok() {
                std::process::exit(1);
            }
        }
        Command::Audit {
            command: AuditCommand::Photos,
        } => {
            let store = lantian::app::open_store(&config).await?;
            let p = lantian::audit::verify_photo_files(
                &config,
                &store,
                lantian::audit::PhotoSlice::All,
            )
            .await?;
            println!("{}", lantian::audit::describe_photo_files(&p));
            if !p.findings.is_empty() {
                std::process::exit(1);
            }
        }
        Command::Audit {
            command: AuditCommand::Checkpoint { label },
        } => {
            println!("{}", lantian::audit::checkpoint(&config, label).await?);
        }
        Command::Campaign { command } => {
            let store = lantian::app::open_store(&config).await?;
            let read = |file: &PathBuf| -> anyhow::Result<lantian_domain::campaign::Campaign> {
                let bytes = std::fs::read(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a campaign", file.display()))
            };
            match command {
                CampaignCommand::List => {
                    for c in lantian_app::operator::campaigns(&store).await? {
                        println!(
                            "{:<24} {} to {}  {}",
                            c.code, c.starts_on, c.ends_on, c.name_zh
                        );
                    }
                }
                CampaignCommand::Add { file } => {
                    let c = lantian_app::operator::create_campaign(&store, read(&file)?).await?;
                    println!(
                        "created campaign {} ({} to {})",
                        c.code, c.starts_on, c.ends_on
                    );
                }
                CampaignCommand::Edit { file } => {
                    let c = lantian_app::operator::update_campaign(&store, read(&file)?).await?;
                    println!(
                        "updated campaign {} ({} to {})",
                        c.code, c.starts_on, c.ends_on
                    );
                }
            }
        }
        Command::Client { command } => {
            let store = lantian::app::open_store(&config).await?;
            match command {
                ClientCommand::List { user } => {
                    for c in lantian_app::operator::clients(&store, user).await? {
                        println!(
                            "{}  {:<24} {:<20} key:{:<3} registered {}{}",
                            c.client_id,
                            c.app_version,
                            c.device_model.as_deref().unwrap_or("-"),
                            if c.has_key { "yes" } else { "no" },
                            c.registered_at,
                            c.revoked_at
                                .map(|r| format!("  REVOKED {r}"))
                                .unwrap_or_default(),
                        );
                    }
                }
                ClientCommand::Revoke { user, client_id } => {
                    let c = lantian_app::operator::revoke_client(&store, user, client_id).await?;
                    println!(
                        "revoked install {} at {}",
                        c.client_id,
                        c.revoked_at.unwrap_or_default()
                    );
                }
            }
        }
        Command::Import {
            command: ImportCommand::Subjects { file },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let rows = lantian_app::import::parse_file(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let store = lantian::app::open_store(&config).await?;
            let n = lantian_app::import::import(&store, rows, lantian_app::operator::OPERATOR, &[])
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            println!("imported {n} subjects from {}", file.display());
        }
    }
    Ok(())
}

/// An operation's refusal for a username, in words.
fn no_such_user(e: lantian_app::AppError, username: &str) -> anyhow::Error {
    if e.code == "not_found" {
        anyhow::anyhow!("no user named {username}")
    } else {
        anyhow::anyhow!("{e}")
    }
}
