//! The operator's command line as a real process: campaigns added, listed and edited from files by
//! the API's rules, and the official rollup held back until the month's grace period has passed.

mod process;

use process::lantian;

fn run(data: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = lantian(data).args(args).output().expect("lantian runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn month_of(t: chrono::DateTime<chrono::Utc>) -> String {
    (t + chrono::Duration::hours(8)).format("%Y-%m").to_string()
}

#[test]
fn campaigns_come_from_files_and_an_official_rollup_waits_for_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let this_month = month_of(chrono::Utc::now());

    // Without a campaign covering it, the month is not assessed under another one.
    let (ok, text) = run(&data, &["rollup", "--month", &this_month, "--provisional"]);
    assert!(!ok && text.contains("no campaign covers"), "{text}");

    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let mut c = lantian_domain::reference::liaocheng()
        .expect("reference")
        .campaign;
    c.code = "winter-cli".into();
    c.starts_on = today - chrono::Duration::days(400);
    c.ends_on = today + chrono::Duration::days(60);
    let file = dir.path().join("winter.json");
    std::fs::write(&file, serde_json::to_vec(&c).expect("json")).expect("write");
    let (ok, text) = run(&data, &["campaign", "add", file.to_str().expect("path")]);
    assert!(ok, "{text}");
    let (ok, text) = run(&data, &["campaign", "add", file.to_str().expect("path")]);
    assert!(!ok && text.contains("campaign_exists"), "{text}");
    c.name_zh = "冬春攻坚（修订）".into();
    std::fs::write(&file, serde_json::to_vec(&c).expect("json")).expect("write");
    let (ok, text) = run(&data, &["campaign", "edit", file.to_str().expect("path")]);
    assert!(ok, "{text}");
    let (ok, text) = run(&data, &["campaign", "list"]);
    assert!(
        ok && text.contains("winter-cli") && text.contains("冬春攻坚（修订）"),
        "{text}"
    );

    // This month is still in progress: official figures wait, provisional ones do not, and
    // --force publishes anyway.
    let (ok, text) = run(&data, &["rollup", "--month", &this_month]);
    assert!(!ok && text.contains("grace period"), "{text}");
    let (ok, text) = run(&data, &["rollup", "--month", &this_month, "--provisional"]);
    assert!(ok && text.contains("winter-cli"), "{text}");
    let (ok, text) = run(&data, &["rollup", "--month", &this_month, "--force"]);
    assert!(ok && text.contains("published revision 1"), "{text}");
    // A month two back is past its grace period whatever today is.
    let two_back = month_of(chrono::Utc::now() - chrono::Duration::days(62));
    let (ok, text) = run(&data, &["rollup", "--month", &two_back]);
    assert!(ok, "{text}");
}

/// A username typed at the login is logged when the login fails; a newline in it must not write a
/// line of its own into the server's text log.
#[tokio::test]
async fn a_forged_username_cannot_write_its_own_log_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let port = process::free_port();
    let mut server = process::start(&data, port, &log).await;
    let forged = "nobody\n2026-12-01T00:00:00.000000Z  INFO lantian: admin password reset by root";
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/auth/login"))
        .json(&serde_json::json!({"username": forged, "password": "wrong-password-x"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("failed login"), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("2026-12-01T00:00:00.000000Z")),
        "a forged line: {text}"
    );
    assert!(text.contains("nobody\\n2026-12-01"), "{text}");
}

/// A `LANTIAN_` variable that names no configuration key (a script's own `LANTIAN_URL`) is not
/// configuration and does not stop the server; one that resembles a key is refused with the key
/// it probably meant; a known key still works.
#[test]
fn unrelated_environment_variables_are_left_alone_and_slips_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = lantian(&data)
        .env("LANTIAN_URL", "http://127.0.0.1:9")
        .env("LANTIAN_READERS", "2")
        .arg("migrate")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lantian(&data)
        .env("LANTIAN_READER", "2")
        .arg("migrate")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("did you mean LANTIAN_READERS"),
        "{text}"
    );
}

/// `lantian user` manages accounts from the command line with the same effects as the API: a
/// disabled user is listed so and signs in nowhere; role and unit change; a missing name is said.
#[test]
fn the_operator_disables_enables_re_roles_and_moves_a_user() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    let mut add = lantian(dir.path())
        .args([
            "user",
            "add",
            "--username",
            "cli_officer",
            "--role",
            "inspector",
            "--unit",
            "dongchangfu",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(b"a-long-enough-password\n")
        .expect("password");
    assert!(add.wait().expect("added").success());
    let (ok, out) = run(dir.path(), &["user", "disable", "cli_officer"]);
    assert!(ok, "{out}");
    assert!(out.contains("disabled"), "{out}");
    let (_, list) = run(dir.path(), &["user", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("cli_officer\tinspector\tdongchangfu\tdisabled")),
        "{list}"
    );
    let (ok, out) = run(dir.path(), &["user", "enable", "cli_officer"]);
    assert!(ok && out.contains("enabled"), "{out}");
    let (ok, out) = run(dir.path(), &["user", "role", "cli_officer", "supervisor"]);
    assert!(ok && out.contains("supervisor"), "{out}");
    let (ok, out) = run(dir.path(), &["user", "move", "cli_officer", "yanggu"]);
    assert!(ok && out.contains("yanggu"), "{out}");
    let (ok, out) = run(dir.path(), &["user", "move", "cli_officer", "atlantis"]);
    assert!(!ok && out.contains("no such unit"), "{out}");
    let (ok, out) = run(dir.path(), &["user", "disable", "nobody_here"]);
    assert!(!ok && out.contains("no user named nobody_here"), "{out}");
    let (ok, out) = run(dir.path(), &["user", "role", "cli_officer", "emperor"]);
    assert!(!ok && out.contains("unknown role"), "{out}");
    // A reset prints a one-time password once; the user is signed in nowhere yet.
    let (ok, out) = run(dir.path(), &["user", "reset-password", "cli_officer"]);
    assert!(
        ok && out.contains("one-time password for cli_officer: "),
        "{out}"
    );
    let otp = out
        .split("cli_officer: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the password");
    assert_eq!(otp.len(), 14, "{out}");
    let (ok, out) = run(dir.path(), &["user", "sessions", "cli_officer"]);
    assert!(ok && out.contains("signed in nowhere"), "{out}");
    let (ok, out) = run(
        dir.path(),
        &["user", "end-session", "cli_officer", "app-nothing"],
    );
    assert!(!ok && out.contains("no open session"), "{out}");
    let (ok, out) = run(dir.path(), &["user", "reset-password", "nobody_here"]);
    assert!(!ok && out.contains("no user named nobody_here"), "{out}");
}
