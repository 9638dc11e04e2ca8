//! Operator user management: `lantian user add`.

use lantian_domain::user::Role;
use lantian_store::identity::{NewUser, UserRecord, create_user};
use lantian_store::{Store, audit};

/// Creates a user with an argon2id hash of `password`. Passwords shorter than 10 characters are
/// refused: these accounts reach evidence that penalties rest on.
pub async fn add_user(
    store: &Store,
    username: &str,
    display_name: &str,
    role: Role,
    unit: &str,
    password: &str,
) -> anyhow::Result<UserRecord> {
    anyhow::ensure!(
        password.chars().count() >= 10,
        "the password must be at least 10 characters"
    );
    let pw = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || lantian_app::password::hash(&pw))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let new = NewUser {
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        role,
        unit: unit.to_owned(),
        password_hash: hash,
    };
    let rec = store
        .write(move |c| {
            let rec = create_user(c, &new)?;
            audit::record(
                c,
                "cli",
                "user.create",
                "user",
                &rec.uuid.to_string(),
                None,
                None,
            )?;
            Ok(rec)
        })
        .await
        .map_err(|e| match e {
            lantian_store::StoreError::Conflict("unit_unknown") => {
                anyhow::anyhow!("no unit with code {unit}")
            }
            lantian_store::StoreError::Conflict("username_taken") => {
                anyhow::anyhow!("username {username} is taken")
            }
            e => anyhow::anyhow!(e),
        })?;
    Ok(rec)
}
