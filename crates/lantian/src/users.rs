//! Operator user management: `lantian user add`, over `lantian_app::operator::add_user`.

use lantian_app::operator::{self, NewAccount};
use lantian_domain::user::Role;
use lantian_store::Store;
use lantian_store::identity::UserRecord;

/// Creates a user; the rules (name, a password of at least ten characters, a known unit, a free
/// name) are the operation's, and its refusal is told in words.
pub async fn add_user(
    store: &Store,
    username: &str,
    display_name: &str,
    role: Role,
    unit: &str,
    password: &str,
) -> anyhow::Result<UserRecord> {
    let account = NewAccount {
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        role,
        unit: unit.to_owned(),
        password: password.to_owned(),
    };
    operator::add_user(store, account)
        .await
        .map_err(|e| match (e.code, e.detail.as_deref()) {
            ("conflict", Some("unit_unknown")) => anyhow::anyhow!("no unit with code {unit}"),
            ("conflict", Some("username_taken")) => anyhow::anyhow!("username {username} is taken"),
            (_, _) => match e.note {
                Some(note) => anyhow::anyhow!("{note}"),
                None => anyhow::anyhow!("{e}"),
            },
        })
}
