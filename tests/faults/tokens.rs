//! Token attacks beyond the basic set in the API tests: expiry boundaries, algorithm confusion,
//! keys carried in the header, wrong-typed and injected claims, tokens in the wrong place, a
//! refresh token raced against itself, and password spraying behind spoofed forwarding headers.
//! Every hostile token must be refused; injected claims must change nothing.

use jsonwebtoken::Algorithm;
use lantian_domain::reference::DEMO_PASSWORD;
use lantian_domain::user::Role;
use lantian_tests::tokens::{b64, claims, kid_of, raw, sign};
use lantian_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.get("/v1/me", token).await.status
}

#[tokio::test]
async fn hostile_access_tokens_are_refused_and_injected_claims_change_nothing() {
    let app = spawn_app().await;
    let viewer = app.tokens("demo_viewer", DEMO_PASSWORD).await;
    let user = viewer.user.id.to_string();
    let key = app.signing_key().await;
    let kid = kid_of(&key);
    let now = chrono::Utc::now().timestamp();
    let hs = |c: &serde_json::Value| sign(Algorithm::HS256, &key, Some(&kid), c);
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(&user, now, now + 300);
        f(&mut c);
        c
    };
    // Controls: the forger's tokens work when nothing is wrong with them.
    assert_eq!(
        me(&app, &hs(&claims(&user, now, now + 300))).await,
        StatusCode::OK
    );
    assert_eq!(
        me(
            &app,
            &raw(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &claims(&user, now, now + 300),
                Some(&key)
            )
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        me(&app, &hs(&claims(&user, now - 10, now + 2))).await,
        StatusCode::OK
    );

    let header = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": kid});
    let good = claims(&user, now, now + 300);
    let attacker = [7u8; 32];
    let cases: Vec<(&str, String)> = vec![
        // Expiry boundaries (no leeway).
        (
            "expired a second ago",
            hs(&claims(&user, now - 300, now - 1)),
        ),
        ("expired at the epoch", hs(&claims(&user, 0, 1))),
        (
            "not valid for another second",
            hs(&with(&|c| c["nbf"] = json!(now + 2))),
        ),
        // Algorithm confusion: the HMAC key used under other algorithms' names.
        (
            "RS256 header, HMAC signature",
            raw(&header("RS256"), &good, Some(&key)),
        ),
        (
            "ES256 header, HMAC signature",
            raw(&header("ES256"), &good, Some(&key)),
        ),
        (
            "PS256 header, HMAC signature",
            raw(&header("PS256"), &good, Some(&key)),
        ),
        (
            "EdDSA header, HMAC signature",
            raw(&header("EdDSA"), &good, Some(&key)),
        ),
        (
            "HS512 header, HS256 signature",
            raw(&header("HS512"), &good, Some(&key)),
        ),
        ("none", raw(&header("none"), &good, None)),
        ("None", raw(&header("None"), &good, None)),
        ("NONE", raw(&header("NONE"), &good, None)),
        ("nOnE", raw(&header("nOnE"), &good, None)),
        (
            "HS256 without a signature",
            raw(&header("HS256"), &good, None),
        ),
        (
            "HS256 signed with an empty key",
            raw(&header("HS256"), &good, Some(b"")),
        ),
        (
            "HS256 signed with the key id",
            raw(&header("HS256"), &good, Some(kid.as_bytes())),
        ),
        // Keys carried in the header are never trusted.
        (
            "an embedded jwk with the attacker's key",
            raw(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid, "jwk": {"kty": "oct", "k": b64(&attacker)}}),
                &good,
                Some(&attacker),
            ),
        ),
        (
            "a jku pointing elsewhere",
            raw(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid, "jku": "http://127.0.0.1:1/keys"}),
                &good,
                Some(&attacker),
            ),
        ),
        (
            "a kid with a path",
            raw(
                &json!({"alg": "HS256", "kid": "../../jwt-hs256.key"}),
                &good,
                Some(&attacker),
            ),
        ),
        // Wrong-typed claims, signed with the real key.
        ("sub as a number", hs(&with(&|c| c["sub"] = json!(1)))),
        (
            "sub as a username",
            hs(&with(&|c| c["sub"] = json!("demo_admin"))),
        ),
        (
            "sub of no user",
            hs(&with(&|c| {
                c["sub"] = json!(uuid::Uuid::now_v7().to_string())
            })),
        ),
        (
            "exp as a float",
            hs(&with(&|c| c["exp"] = json!((now + 300) as f64 + 0.5))),
        ),
        ("exp past i64", hs(&with(&|c| c["exp"] = json!(u64::MAX)))),
        ("exp negative", hs(&with(&|c| c["exp"] = json!(-1)))),
        ("exp null", hs(&with(&|c| c["exp"] = json!(null)))),
        (
            "iss with a trailing space",
            hs(&with(&|c| c["iss"] = json!("lantian "))),
        ),
        (
            "aud of another service",
            hs(&with(&|c| c["aud"] = json!(["someone-else"]))),
        ),
        ("typ refresh", hs(&with(&|c| c["typ"] = json!("refresh")))),
        (
            "no typ",
            hs(&with(&|c| {
                c.as_object_mut().expect("object").remove("typ");
            })),
        ),
        (
            "no sub",
            hs(&with(&|c| {
                c.as_object_mut().expect("object").remove("sub");
            })),
        ),
        // Malformed framing.
        ("four parts", format!("{}.x", hs(&good))),
        ("whitespace inside", hs(&good).replacen('.', ". ", 1)),
        (
            "a header that is not JSON",
            format!(
                "{}.{}.x",
                b64(b"{not json"),
                b64(good.to_string().as_bytes())
            ),
        ),
        ("an empty token", String::new()),
    ];
    let mut accepted = Vec::new();
    for (what, token) in &cases {
        let status = me(&app, token).await;
        if status != StatusCode::UNAUTHORIZED {
            accepted.push(format!("{what}: {status}"));
        }
    }
    // A token in the query string or a cookie is not a credential.
    let good_token = hs(&good);
    let elsewhere = [
        app.request(
            Method::GET,
            &format!("/v1/me?access_token={good_token}"),
            None,
            None,
            &[],
        )
        .await
        .status,
        app.request(
            Method::GET,
            "/v1/me",
            None,
            None,
            &[("cookie", &format!("access_token={good_token}"))],
        )
        .await
        .status,
        app.request(
            Method::GET,
            "/v1/me",
            None,
            None,
            &[("authorization", &format!("Basic {good_token}"))],
        )
        .await
        .status,
        app.request(
            Method::GET,
            "/v1/me",
            None,
            None,
            &[("authorization", &good_token)],
        )
        .await
        .status,
    ];
    for (i, s) in elsewhere.iter().enumerate() {
        if *s != StatusCode::UNAUTHORIZED {
            accepted.push(format!("token placed elsewhere #{i}: {s}"));
        }
    }
    // Injected claims: a viewer's validly signed token that also claims admin powers. The server
    // reads role and unit from the database, and refuses claims it does not know outright.
    let injected = hs(&with(&|c| {
        c["role"] = json!("admin");
        c["unit"] = json!("lcucb");
        c["scope"] = json!("admin");
    }));
    let me_as = app.get("/v1/me", &injected).await;
    if me_as.status != StatusCode::UNAUTHORIZED && me_as.body["role"] != "viewer" {
        accepted.push(format!("injected role claim: {:?}", me_as.body));
    }
    let n = cases.len() + elsewhere.len() + 1;
    println!("token attacks: {n} cases, {} accepted", accepted.len());
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
}

/// The same refresh token sent twice at once (a phone retrying before the first answer came, or a
/// copy racing its owner): the writer serialises them; the second is taken for the retry of a lost
/// answer and gets its own pair, the first pair is retired. Only one pair stays live, and if the
/// retired one is presented after all, two parties hold the login and the family dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_raced_against_itself_leaves_one_live_pair_and_a_copy_revokes_the_family() {
    let app = spawn_app().await;
    let t = app.tokens("demo_inspector", DEMO_PASSWORD).await;
    let refresh = |token: String| {
        let (client, base) = (app.client.clone(), app.base.clone());
        async move {
            let r = client
                .post(format!("{base}/v1/auth/refresh"))
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .expect("answered");
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body["refresh_token"].as_str().map(str::to_owned))
        }
    };
    let (a, b) = tokio::join!(
        refresh(t.refresh_token.clone()),
        refresh(t.refresh_token.clone())
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    let (a, b) = (a.1.expect("a pair"), b.1.expect("a pair"));
    // Exactly one of the two pairs is live: the other was retired. Presenting the retired one is
    // a copy: the family is revoked, the live one with it.
    let first = refresh(a.clone()).await;
    let second = refresh(b.clone()).await;
    let statuses = [first.0, second.0];
    assert!(
        statuses.contains(&StatusCode::UNAUTHORIZED),
        "only one pair may live: {statuses:?}"
    );
    let again = refresh(t.refresh_token.clone()).await;
    assert_eq!(again.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(a).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(b).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn password_spraying_behind_spoofed_forwarding_headers_hits_the_peer_limit() {
    let app = spawn_app_with(|c| c.login.peer_attempts = 20, true).await;
    for i in 0..30 {
        app.add_user(
            &format!("spray_{i:02}"),
            Role::Viewer,
            "dongchangfu",
            "the-real-password-x",
        )
        .await;
    }
    let mut limited = 0;
    let mut accepted = 0;
    for i in 0..30 {
        let spoof = format!("198.51.100.{i}");
        let r = app
            .request(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"username": format!("spray_{i:02}"), "password": "Winter2019!"})),
                &[
                    ("x-forwarded-for", spoof.as_str()),
                    ("x-real-ip", spoof.as_str()),
                    ("forwarded", &format!("for={spoof}")),
                ],
            )
            .await;
        match r.status {
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            StatusCode::OK => accepted += 1,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("spray attempt {i}: {other}"),
        }
    }
    assert_eq!(accepted, 0);
    assert_eq!(
        limited, 10,
        "attempts past the peer's 20 are refused, whatever the headers say"
    );
    // Even the right password is refused from this peer now.
    let right = app.login("spray_29", "the-real-password-x").await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
}
