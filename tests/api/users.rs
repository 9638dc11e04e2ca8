//! User management through the API (issue 17, first part): who may change whom, and what a
//! change does at once to the user's logins.

use lantian_domain::user::Role;
use lantian_tests::photos::PASSWORD;
use lantian_tests::{console, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn id_of(app: &lantian_tests::TestApp, username: &str) -> String {
    let t = app.tokens(username, PASSWORD).await;
    t.user.id.to_string()
}

#[tokio::test]
async fn a_disabled_user_is_out_everywhere_at_once_and_back_when_enabled() {
    let app = spawn_app_with(|_| {}, true).await;
    app.add_user("um_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    app.add_user("um_officer", Role::Inspector, "dongchangfu_gulou", PASSWORD)
        .await;
    app.add_user("um_sup", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    let admin = app.tokens("um_admin", PASSWORD).await.access_token;
    let officer = app.tokens("um_officer", PASSWORD).await;
    let sup_session = console::session_cookie(&app, "um_sup", PASSWORD).await;
    let listed = app.get("/v1/users", &admin).await;
    assert_eq!(listed.status, StatusCode::OK);
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert!(
        names.contains(&"um_officer") && names.contains(&"demo_inspector"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"demo_admin"),
        "the bureau's users are outside the subtree"
    );

    let officer_id = officer.user.id.to_string();
    let r = app
        .post(
            &format!("/v1/users/{officer_id}/disable"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["disabled"], true);
    // Its access token, its refresh token and a new sign-in all fail at once.
    assert_eq!(
        app.get("/v1/me", &officer.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": officer.refresh_token}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("um_officer", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A supervisor disabled loses their console session too.
    let sup_id = id_of(&app, "um_sup").await;
    app.post(
        &format!("/v1/users/{sup_id}/disable"),
        Some(&admin),
        json!({}),
    )
    .await;
    assert_eq!(
        console::get(&app, "/console/review", &sup_session).await.0,
        StatusCode::SEE_OTHER
    );
    // Enabled again, the officer signs in anew.
    let r = app
        .post(
            &format!("/v1/users/{officer_id}/enable"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.body["disabled"], false);
    assert_eq!(
        app.login("um_officer", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn nobody_changes_themselves_grants_more_than_they_hold_or_reaches_outside() {
    let app = spawn_app_with(|_| {}, true).await;
    app.add_user("ur_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    app.add_user("ur_officer", Role::Inspector, "dongchangfu", PASSWORD)
        .await;
    app.add_user("ur_far", Role::Inspector, "yanggu", PASSWORD)
        .await;
    let admin = app.tokens("ur_admin", PASSWORD).await;
    let token = admin.access_token.clone();
    let me = admin.user.id.to_string();
    let officer = id_of(&app, "ur_officer").await;
    let far = id_of(&app, "ur_far").await;
    let put = |path: String, body: serde_json::Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.request(Method::PUT, &path, Some(&token), Some(body), &[])
                .await
        }
    };
    let own = put(format!("/v1/users/{me}/role"), json!({"role": "admin"})).await;
    assert_eq!(
        (own.status, own.body["error"]["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("own_account"))
    );
    let own_unit = put(
        format!("/v1/users/{me}/unit"),
        json!({"unit": "dongchangfu_gulou"}),
    )
    .await;
    assert_eq!(own_unit.body["error"]["detail"], "own_account");
    let higher = put(
        format!("/v1/users/{officer}/role"),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(
        (higher.status, higher.body["error"]["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("role_too_high"))
    );
    // Outside the subtree: answered like a user that does not exist.
    let outside = put(
        format!("/v1/users/{far}/role"),
        json!({"role": "supervisor"}),
    )
    .await;
    let missing = put(
        format!("/v1/users/{}/role", uuid::Uuid::now_v7()),
        json!({"role": "supervisor"}),
    )
    .await;
    assert_eq!(
        (outside.status, &outside.body),
        (StatusCode::NOT_FOUND, &missing.body)
    );
    let away = put(
        format!("/v1/users/{officer}/unit"),
        json!({"unit": "yanggu"}),
    )
    .await;
    assert_eq!(
        (away.status, away.body["error"]["field"].as_str()),
        (StatusCode::NOT_FOUND, Some("unit"))
    );
    // Within the rules: the officer becomes a supervisor, and the next call is judged so.
    let officer_token = app.tokens("ur_officer", PASSWORD).await.access_token;
    assert_eq!(
        app.get("/v1/review/queue", &officer_token).await.status,
        StatusCode::FORBIDDEN
    );
    let promoted = put(
        format!("/v1/users/{officer}/role"),
        json!({"role": "supervisor"}),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{:?}", promoted.body);
    assert_eq!(promoted.body["role"], "supervisor");
    assert_eq!(
        app.get("/v1/review/queue", &officer_token).await.status,
        StatusCode::OK
    );
    let moved = put(
        format!("/v1/users/{officer}/unit"),
        json!({"unit": "dongchangfu_xinqu"}),
    )
    .await;
    assert_eq!(moved.body["unit"], "dongchangfu_xinqu");
    // Every change is in the audit log, by whom.
    let actions: Vec<String> = app
        .store
        .read(|c| {
            let mut st = c
                .raw()
                .prepare("SELECT action FROM audit_log WHERE action LIKE 'user.%' AND action <> 'user.create' ORDER BY seq")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .expect("audit");
    assert_eq!(actions, ["user.role", "user.move"]);
}
