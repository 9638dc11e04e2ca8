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
