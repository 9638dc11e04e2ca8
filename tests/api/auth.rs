//! Login, refresh rotation and reuse detection, and every kind of bad access token.

use jsonwebtoken::Algorithm;
use lantian_domain::reference::DEMO_PASSWORD;
use lantian_domain::user::Role;
use lantian_tests::tokens::{b64, claims, kid_of, sign};
use lantian_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

async fn me(app: &TestApp, token: &str) -> (StatusCode, Option<String>) {
    let r = app.get("/v1/me", token).await;
    (r.status, r.code().map(str::to_owned))
}

#[tokio::test]
async fn login_returns_tokens_that_open_the_api() {
    let app = spawn_app().await;
    let t = app.tokens("demo_inspector", DEMO_PASSWORD).await;
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, 900);
    assert_eq!(t.user.role, Role::Inspector);
    assert_eq!(t.user.unit, "dongchangfu");
    let r = app.get("/v1/me", &t.access_token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["username"], "demo_inspector");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_answer_alike() {
    let app = spawn_app().await;
    let a = app.login("demo_inspector", "not the password").await;
    let b = app.login("nobody_here", "not the password").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    assert_eq!(
        (b.status, b.code()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    assert_eq!(a.body, b.body);
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.tokens("demo_supervisor", DEMO_PASSWORD).await;
    let r = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": first.refresh_token}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second: lantian_protocol::auth::TokenResponse =
        serde_json::from_value(r.body).expect("tokens");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(me(&app, &second.access_token).await.0, StatusCode::OK);
    // The owner goes on with the second token...
    let r = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": second.refresh_token}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second: lantian_protocol::auth::TokenResponse =
        serde_json::from_value(r.body).expect("tokens");

    // ...and the first token comes again: someone holds a copy (it is no retry: a later token was
    // used). Reuse is reported and the family dies.
    let reuse = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": first.refresh_token}),
        )
        .await;
    assert_eq!(
        (reuse.status, reuse.code()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_reused"))
    );
    let after = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": second.refresh_token}),
        )
        .await;
    assert_eq!(
        (after.status, after.code()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_invalid"))
    );

    // Another login is a separate family and still works.
    let other = app.tokens("demo_supervisor", DEMO_PASSWORD).await;
    let ok = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": other.refresh_token}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_revokes_the_refresh_family() {
    let app = spawn_app().await;
    let t = app.tokens("demo_viewer", DEMO_PASSWORD).await;
    let out = app
        .post(
            "/v1/auth/logout",
            None,
            json!({"refresh_token": t.refresh_token}),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let r = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": t.refresh_token}),
        )
        .await;
    assert_eq!(r.code(), Some("refresh_token_invalid"));
    let unknown = app
        .post(
            "/v1/auth/logout",
            None,
            json!({"refresh_token": "ltr_unknown"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn expired_tampered_foreign_and_unsigned_tokens_are_refused() {
    let app = spawn_app().await;
    let good = app.tokens("demo_admin", DEMO_PASSWORD).await;
    let other = app.tokens("demo_viewer", DEMO_PASSWORD).await;
    let user = good.user.id.to_string();
    let key = app.signing_key().await;
    let kid = kid_of(&key);
    let now = chrono::Utc::now().timestamp();

    // A token forged with the real key and the right claims works: the cases below fail for their
    // own reason, not for a mistake of the forger.
    let forged_ok = sign(
        Algorithm::HS256,
        &key,
        Some(&kid),
        &claims(&user, now, now + 60),
    );
    assert_eq!(me(&app, &forged_ok).await.0, StatusCode::OK);

    let expired = sign(
        Algorithm::HS256,
        &key,
        Some(&kid),
        &claims(&user, now - 600, now - 1),
    );
    assert_eq!(
        me(&app, &expired).await,
        (StatusCode::UNAUTHORIZED, Some("token_expired".into()))
    );

    let not_yet = {
        let mut c = claims(&user, now, now + 600);
        c["nbf"] = json!(now + 300);
        sign(Algorithm::HS256, &key, Some(&kid), &c)
    };
    let other_key = sign(
        Algorithm::HS256,
        &[9u8; 32],
        Some(&kid),
        &claims(&user, now, now + 60),
    );
    let other_alg = sign(
        Algorithm::HS384,
        &key,
        Some(&kid),
        &claims(&user, now, now + 60),
    );
    let no_kid = sign(Algorithm::HS256, &key, None, &claims(&user, now, now + 60));
    let unknown_kid = sign(
        Algorithm::HS256,
        &key,
        Some("0000000000000000"),
        &claims(&user, now, now + 60),
    );
    let wrong_aud = {
        let mut c = claims(&user, now, now + 60);
        c["aud"] = json!("someone-else");
        sign(Algorithm::HS256, &key, Some(&kid), &c)
    };
    let wrong_typed = {
        let mut c = claims(&user, now, now + 60);
        c["exp"] = json!((now + 60).to_string());
        sign(Algorithm::HS256, &key, Some(&kid), &c)
    };
    let missing_exp = {
        let mut c = claims(&user, now, now + 60);
        c.as_object_mut().expect("object").remove("exp");
        sign(Algorithm::HS256, &key, Some(&kid), &c)
    };
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes()),
        b64(claims(&user, now, now + 60).to_string().as_bytes())
    );
    // Another user's claims pasted over a valid signature.
    let tampered = {
        let parts: Vec<&str> = good.access_token.split('.').collect();
        let body = claims(&other.user.id.to_string(), now, now + 60).to_string();
        format!("{}.{}.{}", parts[0], b64(body.as_bytes()), parts[2])
    };
    let cases = [
        ("nbf in the future", not_yet),
        ("another key", other_key),
        ("HS384 with the same key", other_alg),
        ("no kid", no_kid),
        ("unknown kid", unknown_kid),
        ("wrong audience", wrong_aud),
        ("exp as a string", wrong_typed),
        ("no exp", missing_exp),
        ("alg none", unsigned),
        ("tampered payload", tampered),
        ("a refresh token", good.refresh_token.clone()),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (what, token) in cases {
        assert_eq!(
            me(&app, &token).await,
            (StatusCode::UNAUTHORIZED, Some("unauthenticated".into())),
            "{what}"
        );
    }
    let none = app
        .request(reqwest::Method::GET, "/v1/me", None, None, &[])
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
}

#[tokio::test]
async fn failed_logins_pause_the_account_and_bursts_pause_the_peer() {
    let app = spawn_app_with(
        |c| {
            c.login.account_failures = 3;
            c.login.peer_attempts = 8;
        },
        true,
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.login("demo_inspector", "wrong-password").await.code(),
            Some("invalid_credentials")
        );
    }
    // The account is paused, even for the right password; another account is not.
    let paused = app.login("demo_inspector", DEMO_PASSWORD).await;
    assert_eq!(
        (paused.status, paused.code()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(paused.headers.get("retry-after").is_some());
    assert_eq!(
        app.login("demo_viewer", DEMO_PASSWORD).await.status,
        StatusCode::OK
    );
    // Spraying many accounts from one address runs into the peer limit (8 attempts so far... 5 used).
    let mut limited = 0;
    for i in 0..6 {
        if app.login(&format!("spray_{i}"), "guess-guess").await.status
            == StatusCode::TOO_MANY_REQUESTS
        {
            limited += 1;
        }
    }
    assert!(
        limited >= 3,
        "the peer limit stopped {limited} of 6 sprayed attempts"
    );
    // X-Forwarded-For is not trusted to pick the counted address.
    let spoofed = app
        .request(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "demo_admin", "password": DEMO_PASSWORD})),
            &[("x-forwarded-for", "203.0.113.9")],
        )
        .await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Behind a load balancer every request comes from the balancer's address. With the balancer
/// listed in `trusted_proxies` (here 127.0.0.1, this test's own address), the login limits count
/// the client its `X-Forwarded-For` names: one guessing script pauses itself, not every officer
/// behind the same balancer. A caller that is not a trusted proxy (127.0.0.2) cannot pick the
/// address it is counted under by sending the header.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
    let app = spawn_app_with(
        |c| {
            c.login.peer_attempts = 4;
            c.trusted_proxies = vec!["127.0.0.1".into()];
        },
        true,
    )
    .await;
    let via_proxy = |client: &'static str, user: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.request(
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": user, "password": password})),
                // A forged first entry, then what the balancer appended.
                &[("x-forwarded-for", &format!("198.51.100.1, {client}"))],
            )
            .await
            .status
        }
    };
    for i in 0..4 {
        let status = via_proxy("203.0.113.7", "spray_user", "guess-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_eq!(
        via_proxy("203.0.113.7", "spray_user", "guess-guess").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the guessing client is paused"
    );
    assert_eq!(
        via_proxy("203.0.113.8", "demo_inspector", DEMO_PASSWORD).await,
        StatusCode::OK,
        "an officer behind the same balancer is not"
    );
    // From an address that is not a trusted proxy the header counts for nothing: every attempt
    // is 127.0.0.2's, whatever client it names.
    let direct = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let mut statuses = Vec::new();
    for i in 0..5 {
        let r = direct
            .post(format!("{}/v1/auth/login", app.base))
            .header("x-forwarded-for", format!("203.0.113.{}", 100 + i))
            .json(&json!({"username": "spray_user", "password": "guess-guess"}))
            .send()
            .await
            .expect("login");
        statuses.push(r.status());
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// A stranger who knows an officer's username locks out only themselves: failures count per
/// account and address, and the officer signs in from their own address. Failures from anywhere
/// still pause the account, under a slower limit. (The stranger calls from 127.0.0.2, another
/// loopback address of this machine.)
#[tokio::test]
async fn a_stranger_cannot_lock_an_officer_out() {
    let app = spawn_app_with(
        |c| {
            c.login.account_failures = 3;
            c.login.account_global_failures = 6;
            c.login.peer_attempts = 100;
        },
        true,
    )
    .await;
    let stranger = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let guess = || async {
        stranger
            .post(format!("{}/v1/auth/login", app.base))
            .json(&json!({"username": "demo_inspector", "password": "a-wrong-guess"}))
            .send()
            .await
            .expect("login")
            .status()
    };
    for _ in 0..3 {
        assert_eq!(guess().await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        guess().await,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger is paused"
    );
    assert_eq!(
        app.login("demo_inspector", DEMO_PASSWORD).await.status,
        StatusCode::OK,
        "the officer is not"
    );
    // Failures from everywhere add up to the slower account limit (3 + 3 = 6).
    for _ in 0..3 {
        assert_eq!(
            app.login("demo_inspector", "another-wrong-guess")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login("demo_inspector", DEMO_PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_disabled_or_removed_role_takes_effect_without_a_new_token() {
    let app = spawn_app().await;
    let t = app.demo_token(Role::Inspector).await;
    assert_eq!(me(&app, &t).await.0, StatusCode::OK);
    app.store
        .write(|c| {
            Ok(c.raw().execute(
                "UPDATE users SET disabled = 1 WHERE username = 'demo_inspector'",
                [],
            )?)
        })
        .await
        .expect("disable");
    assert_eq!(
        me(&app, &t).await,
        (StatusCode::UNAUTHORIZED, Some("unauthenticated".into()))
    );
}

/// An install id is the user's: the same id registered by another user is that user's own install
/// (answered exactly like a new id, so registering tells nothing about other users' installs), and
/// the two never share mutation ids or results.
#[tokio::test]
async fn an_install_id_registered_by_another_user_is_another_install() {
    let app = spawn_app().await;
    let a = app.demo_token(Role::Inspector).await;
    let b = app.demo_token(Role::Supervisor).await;
    let id = uuid::Uuid::now_v7();
    let body = json!({"client_id": id, "app_version": "1.0.0", "device_model": "Pixel"});
    let first = app.post("/v1/clients", Some(&a), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(
        app.post("/v1/clients", Some(&a), body.clone()).await.status,
        StatusCode::OK
    );
    let other = app.post("/v1/clients", Some(&b), body.clone()).await;
    assert_eq!(other.status, StatusCode::CREATED, "{:?}", other.body);
    let fresh = app
        .post(
            "/v1/clients",
            Some(&b),
            json!({"client_id": uuid::Uuid::now_v7(), "app_version": "1.0.0", "device_model": "Pixel"}),
        )
        .await;
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&other.body), keys(&fresh.body));
    // A rejected mutation 1 of each user on the same install id: two results, one per user.
    let bad = |token: String| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/v1/sync/push",
                    Some(&token),
                    json!({"client_id": id, "protocol_version": 1, "schema_version": 1, "app_version": "test",
                           "sent_at": chrono::Utc::now(), "mutations": [
                        {"mid": 1, "name": "draft.discard", "args": {"draft_id": uuid::Uuid::now_v7()},
                         "device_time": chrono::Utc::now()}]}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            assert_eq!(r.body["results"][0]["status"], "rejected", "{:?}", r.body);
            assert_eq!(r.body["results"][0]["duplicate"], false, "{:?}", r.body);
        }
    };
    bad(a.clone()).await;
    bad(b.clone()).await;
    let results: Vec<(String, String)> = app
        .store
        .read(|c| {
            let mut st = c.raw().prepare(
                "SELECT scope, entity_id FROM entities WHERE entity = 'mutation_result' ORDER BY scope",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("results");
    assert_eq!(results.len(), 2, "{results:?}");
    assert_ne!(results[0].0, results[1].0, "{results:?}");
}

async fn refresh(app: &lantian_tests::TestApp, token: &str) -> lantian_tests::Reply {
    app.post("/v1/auth/refresh", None, json!({"refresh_token": token}))
        .await
}

/// One lost answer does not log an officer out: a rotated token presented again within the grace
/// window, while no later token of its login was ever used, is the retry of an answer lost on the
/// way. It gets a fresh pair, as many times as the answers are lost, and the login lives on; the
/// pairs whose answers were lost are retired. Outside the window (here: the grace turned off) the
/// same reuse revokes the login.
#[tokio::test]
async fn a_refresh_retried_after_a_lost_answer_keeps_the_login() {
    let app = spawn_app().await;
    let first = app.tokens("demo_inspector", DEMO_PASSWORD).await;
    let lost = refresh(&app, &first.refresh_token).await;
    assert_eq!(lost.status, StatusCode::OK);
    let lost_again = refresh(&app, &first.refresh_token).await;
    assert_eq!(lost_again.status, StatusCode::OK, "{:?}", lost_again.body);
    let retried = refresh(&app, &first.refresh_token).await;
    assert_eq!(retried.status, StatusCode::OK, "{:?}", retried.body);
    let tokens: lantian_protocol::auth::TokenResponse =
        serde_json::from_value(retried.body).expect("tokens");
    // The login lives on with the pair that arrived.
    let next = refresh(&app, &tokens.refresh_token).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    // Once a later token was used, the first one again is a copy: the login is revoked.
    let stolen = refresh(&app, &first.refresh_token).await;
    assert_eq!(stolen.code(), Some("refresh_token_reused"));
    let after = refresh(&app, next.body["refresh_token"].as_str().expect("token")).await;
    assert_eq!(after.code(), Some("refresh_token_invalid"));

    // A token sent out in an answer taken for lost and presented after all means two parties
    // hold the login: it is revoked.
    let second = app.tokens("demo_inspector", DEMO_PASSWORD).await;
    let taken_for_lost = refresh(&app, &second.refresh_token).await;
    let retry = refresh(&app, &second.refresh_token).await;
    assert_eq!(retry.status, StatusCode::OK);
    let late = refresh(
        &app,
        taken_for_lost.body["refresh_token"]
            .as_str()
            .expect("token"),
    )
    .await;
    assert_eq!(late.code(), Some("refresh_token_reused"), "{:?}", late.body);
    let dead = refresh(&app, retry.body["refresh_token"].as_str().expect("token")).await;
    assert_eq!(dead.code(), Some("refresh_token_invalid"));
    // The first login's lost answers' tokens, for completeness, are dead with it.
    for gone in [&lost.body, &lost_again.body] {
        let r = refresh(&app, gone["refresh_token"].as_str().expect("token")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    }

    let strict = lantian_tests::spawn_app_with(|c| c.refresh_grace_secs = 0, true).await;
    let first = strict.tokens("demo_inspector", DEMO_PASSWORD).await;
    assert_eq!(
        refresh(&strict, &first.refresh_token).await.status,
        StatusCode::OK
    );
    let again = refresh(&strict, &first.refresh_token).await;
    assert_eq!(again.code(), Some("refresh_token_reused"));
}

/// The install's key, as the reference client keeps it (32 bytes beside its database).
fn install_key(app: &TestApp, username: &str) -> ed25519_dalek::SigningKey {
    let bytes = std::fs::read(app.dir.path().join(format!("{username}.client.db.key")))
        .expect("the install's key file");
    ed25519_dalek::SigningKey::from_bytes(&bytes.try_into().expect("32 bytes"))
}

async fn challenge(app: &TestApp, username: &str, client: uuid::Uuid) -> String {
    let r = app
        .post(
            "/v1/auth/challenge",
            None,
            json!({"username": username, "client_id": client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["challenge"].as_str().expect("challenge").to_owned()
}

fn answer(
    key: &ed25519_dalek::SigningKey,
    challenge: &str,
    username: &str,
    client: uuid::Uuid,
) -> serde_json::Value {
    use base64::Engine;
    let message = lantian_protocol::auth::install_proof_message(challenge, username, client);
    let signature = ed25519_dalek::Signer::sign(key, &message);
    json!({"username": username, "client_id": client, "challenge": challenge,
           "signature": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes())})
}

/// An install signs in with its key when its login has ended: each challenge once, only for the
/// user and install it was made for, only with the install's own key; a revoked install, at once,
/// not at all (nor does it push, pull or refresh).
#[tokio::test]
async fn an_install_signs_in_with_its_key_once_per_challenge_until_it_is_revoked() {
    let app = spawn_app().await;
    let o = lantian_tests::photos::officer(&app, "keyed", Role::Inspector, "dongchangfu").await;
    let install = o.client.client_id();
    let key = install_key(&app, "keyed");

    // The login ends (a month offline): the refresh token is no more, the key still is.
    app.end_every_login().await;
    o.client.key_sign_in().await.expect("the key signs in");
    o.client.pull().await.expect("a pull with the new login");

    let c = challenge(&app, "keyed", install).await;
    let signed = answer(&key, &c, "keyed", install);
    let first = app.post("/v1/auth/install", None, signed.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let token = first.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(me(&app, &token).await.0, StatusCode::OK);
    // The same answer again: a replay.
    let replay = app.post("/v1/auth/install", None, signed).await;
    assert_eq!(
        (replay.status, replay.code()),
        (StatusCode::UNAUTHORIZED, Some("install_auth_failed"))
    );
    // Another key, another user's name, a challenge made for another user: refused alike.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let c = challenge(&app, "keyed", install).await;
    let forged = app
        .post(
            "/v1/auth/install",
            None,
            answer(&stranger, &c, "keyed", install),
        )
        .await;
    assert_eq!(forged.code(), Some("install_auth_failed"));
    let c = challenge(&app, "demo_inspector", install).await;
    let other = app
        .post("/v1/auth/install", None, answer(&key, &c, "keyed", install))
        .await;
    assert_eq!(other.code(), Some("install_auth_failed"));
    // A user who does not exist gets a challenge like anyone else.
    challenge(&app, "nobody_here", uuid::Uuid::now_v7()).await;

    // Others do not see the install; the officer's unit admin and the officer do.
    let me_body = app.get("/v1/me", &token).await.body;
    let user_id = me_body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/users/{user_id}/clients");
    let supervisor = app.demo_token(Role::Supervisor).await;
    assert_eq!(
        app.get(&path, &supervisor).await.status,
        StatusCode::FORBIDDEN
    );
    let listed = app.get(&path, &token).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"][0]["client_id"], install.to_string());
    assert_eq!(listed.body["items"][0]["has_key"], true);

    // Revoked: at once, for everything the install does.
    let admin = app.demo_token(Role::UnitAdmin).await;
    let revoke = app
        .post(&format!("{path}/{install}/revoke"), Some(&admin), json!({}))
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{:?}", revoke.body);
    assert!(revoke.body["revoked_at"].is_string());
    let c = challenge(&app, "keyed", install).await;
    let after = app
        .post("/v1/auth/install", None, answer(&key, &c, "keyed", install))
        .await;
    assert_eq!(
        (after.status, after.code()),
        (StatusCode::FORBIDDEN, Some("client_revoked"))
    );
    // The access token of a login bound to the install ends too, for every route.
    assert_eq!(
        me(&app, &token).await,
        (StatusCode::FORBIDDEN, Some("client_revoked".into()))
    );
    let pulled = o
        .client
        .pull()
        .await
        .expect_err("a revoked install does not pull");
    assert!(pulled.to_string().contains("client_revoked"), "{pulled}");
    let pushed = app
        .post(
            "/v1/sync/push",
            Some(&token),
            json!({"client_id": install, "protocol_version": 1, "schema_version": 1, "app_version": "test",
                   "sent_at": chrono::Utc::now(), "mutations": []}),
        )
        .await;
    assert_eq!(pushed.code(), Some("client_revoked"));
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": first.body["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.code(), Some("refresh_token_invalid"));
    let again = app
        .post(
            "/v1/clients",
            Some(&token),
            json!({"client_id": install, "app_version": "1.0.0"}),
        )
        .await;
    assert_eq!(again.code(), Some("client_revoked"));
}
