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

    let install = uuid::Uuid::now_v7();
    let registered = app
        .post(
            "/v1/clients",
            Some(&officer.access_token),
            json!({"client_id": install, "app_version": "test"}),
        )
        .await;
    assert!(registered.status.is_success(), "{:?}", registered.body);
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
    // Push and pull read the caller with their own work: the same answer there.
    for (path, body) in [
        (
            "/v1/sync/push",
            json!({"client_id": install, "protocol_version": 1, "schema_version": 1, "app_version": "test",
                   "sent_at": chrono::Utc::now(), "mutations": []}),
        ),
        (
            "/v1/sync/pull",
            json!({"client_id": install, "cursor": null}),
        ),
    ] {
        let r = app.post(path, Some(&officer.access_token), body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{path}"
        );
    }
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

/// An account an administrator opens gets a one-time password, shown once: it signs in nowhere
/// but to choose the user's own, and is worth nothing after.
#[tokio::test]
async fn a_new_account_signs_in_only_to_choose_its_own_password() {
    let app = spawn_app_with(|_| {}, true).await;
    app.add_user("nc_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    let admin = app.tokens("nc_admin", PASSWORD).await.access_token;
    let created = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"username": "nc_officer", "display_name": "新来的执法员", "role": "inspector",
                   "unit": "dongchangfu_gulou"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["user"]["must_change_password"], true);
    let otp = created.body["one_time_password"]
        .as_str()
        .expect("a one-time password")
        .to_owned();
    assert_eq!(otp.len(), 14, "{otp}");
    // The same name again is a conflict; a role above the caller's is refused.
    let again = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"username": "NC_officer", "display_name": "x", "role": "inspector", "unit": "dongchangfu"}),
        )
        .await;
    assert_eq!(
        (again.status, again.body["error"]["detail"].as_str()),
        (StatusCode::CONFLICT, Some("username_taken"))
    );
    let higher = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"username": "nc_boss", "display_name": "x", "role": "admin", "unit": "dongchangfu"}),
        )
        .await;
    assert_eq!(higher.body["error"]["detail"], "role_too_high");
    let outside = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"username": "nc_far", "display_name": "x", "role": "inspector", "unit": "yanggu"}),
        )
        .await;
    assert_eq!(
        (outside.status, outside.body["error"]["field"].as_str()),
        (StatusCode::NOT_FOUND, Some("unit"))
    );

    // The one-time password opens no login...
    let login = app.login("nc_officer", &otp).await;
    assert_eq!(
        (login.status, login.code()),
        (StatusCode::FORBIDDEN, Some("password_change_required"))
    );
    // ...but changes itself, into one long enough and new.
    let change = |current: &str, new: &str| {
        let body =
            json!({"username": "nc_officer", "current_password": current, "new_password": new});
        let app = &app;
        async move { app.post("/v1/auth/password", None, body).await }
    };
    let short = change(&otp, "short").await;
    assert_eq!(
        (short.status, short.body["error"]["detail"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password_too_short"))
    );
    let same = change(&otp, &otp).await;
    assert_eq!(same.body["error"]["detail"], "password_unchanged");
    let wrong = change("not-the-password", "my-own-password-1").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let changed = change(&otp, "my-own-password-1").await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let token = changed.body["access_token"].as_str().expect("signed in");
    assert_eq!(app.get("/v1/me", token).await.status, StatusCode::OK);
    assert_eq!(
        app.login("nc_officer", "my-own-password-1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("nc_officer", &otp).await.status,
        StatusCode::UNAUTHORIZED
    );
    let listed = app.get("/v1/users", &admin).await;
    let me = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["username"] == "nc_officer")
        .expect("listed")
        .clone();
    assert_eq!(me["must_change_password"], false);
}

/// A reset ends every login of the user and gives them a one-time password; one left unused past
/// its time does nothing.
#[tokio::test]
async fn a_reset_ends_every_login_and_its_password_lapses_unused() {
    let app = spawn_app_with(|_| {}, true).await;
    app.add_user("rs_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    app.add_user("rs_sup", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    let admin = app.tokens("rs_admin", PASSWORD).await;
    let sup = app.tokens("rs_sup", PASSWORD).await;
    let session = console::session_cookie(&app, "rs_sup", PASSWORD).await;
    let sup_id = sup.user.id.to_string();
    let own = app
        .post(
            &format!("/v1/users/{}/password-reset", admin.user.id),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_eq!(own.body["error"]["detail"], "own_account");
    let reset = app
        .post(
            &format!("/v1/users/{sup_id}/password-reset"),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
    let otp = reset.body["one_time_password"].as_str().expect("otp");
    // The old password, the old login and the console session are gone.
    assert_eq!(
        app.login("rs_sup", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": sup.refresh_token}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        console::get(&app, "/console/review", &session).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.login("rs_sup", otp).await.code(),
        Some("password_change_required")
    );
    // Left unused past its time, it does nothing, not even change itself.
    let user = sup.user.id;
    app.store
        .write(move |c| {
            c.raw().execute(
                "UPDATE users SET password_expires_at = '2020-01-01T00:00:00.000Z' WHERE uuid = ?1",
                [user.to_string()],
            )?;
            Ok(())
        })
        .await
        .expect("aged");
    assert_eq!(
        app.login("rs_sup", otp).await.code(),
        Some("one_time_password_expired")
    );
    let change = app
        .post(
            "/v1/auth/password",
            None,
            json!({"username": "rs_sup", "current_password": otp, "new_password": "too-late-password"}),
        )
        .await;
    assert_eq!(change.code(), Some("one_time_password_expired"));
    let actions: Vec<String> = app
        .store
        .read(|c| {
            let mut st = c.raw().prepare(
                "SELECT action FROM audit_log WHERE action LIKE 'user.password%' ORDER BY seq",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .expect("audit");
    assert_eq!(actions, ["user.password_reset"]);
}

/// A user's sessions are listed for them and for those who manage them, and one ended at once
/// leaves the others alone.
#[tokio::test]
async fn a_users_sessions_are_listed_and_one_ends_alone() {
    let app = spawn_app_with(|_| {}, true).await;
    app.add_user("ss_admin", Role::UnitAdmin, "dongchangfu", PASSWORD)
        .await;
    app.add_user("ss_sup", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    app.add_user("ss_other", Role::Supervisor, "dongchangfu", PASSWORD)
        .await;
    let admin = app.tokens("ss_admin", PASSWORD).await.access_token;
    let first = app.tokens("ss_sup", PASSWORD).await;
    let second = app.tokens("ss_sup", PASSWORD).await;
    let cookie = console::session_cookie(&app, "ss_sup", PASSWORD).await;
    let path = format!("/v1/users/{}/sessions", first.user.id);
    let listed = app.get(&path, &admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let items = listed.body["items"].as_array().expect("items").clone();
    let kinds: Vec<&str> = items.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "app").count(),
        2,
        "{items:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "console").count(), 1);
    // The user sees their own; a peer does not see them.
    assert_eq!(
        app.get(&path, &second.access_token).await.status,
        StatusCode::OK
    );
    let other = app.tokens("ss_other", PASSWORD).await.access_token;
    assert_eq!(app.get(&path, &other).await.status, StatusCode::FORBIDDEN);

    // The admin ends the console session: the cookie is out, the app logins stay.
    let console_id = items
        .iter()
        .find(|s| s["kind"] == "console")
        .and_then(|s| s["id"].as_str())
        .expect("console id")
        .to_owned();
    let ended = app
        .post(
            &format!("{path}/{console_id}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{:?}", ended.body);
    assert_eq!(
        console::get(&app, "/console/review", &cookie).await.0,
        StatusCode::SEE_OTHER
    );
    let again = app
        .post(
            &format!("{path}/{console_id}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // The user ends one of their app logins: its refresh token fails, the other's works.
    let now = app.get(&path, &second.access_token).await;
    let app_ids: Vec<String> = now.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|s| s["kind"] == "app")
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(app_ids.len(), 2);
    let r = app
        .post(
            &format!("{path}/{}/revoke", app_ids[0]),
            Some(&second.access_token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let refresh = |t: String| {
        let app = &app;
        async move {
            app.post("/v1/auth/refresh", None, json!({"refresh_token": t}))
                .await
                .status
        }
    };
    let statuses = [
        refresh(first.refresh_token.clone()).await,
        refresh(second.refresh_token.clone()).await,
    ];
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

/// The reference client meets a one-time password as a phone does: the sign-in asks for a new
/// password, the change signs the install in, and it syncs.
#[tokio::test]
async fn the_field_client_changes_a_one_time_password_and_syncs() {
    let app = spawn_app_with(|_| {}, true).await;
    let admin = app.demo_token(Role::Admin).await;
    let created = app
        .post(
            "/v1/users",
            Some(&admin),
            json!({"username": "fc_officer", "display_name": "野外", "role": "inspector", "unit": "yanggu"}),
        )
        .await;
    let otp = created.body["one_time_password"]
        .as_str()
        .expect("otp")
        .to_owned();
    let client = lantian_client::Client::open(
        &app.dir.path().join("fc.client.db"),
        lantian_client::ClientConfig::new(app.base.clone()),
    )
    .expect("client");
    match client.login("fc_officer", &otp).await {
        Err(lantian_client::ClientError::Server { code, .. }) => {
            assert_eq!(code, "password_change_required")
        }
        other => panic!("a one-time password signed in: {other:?}"),
    }
    client
        .change_password("fc_officer", &otp, "field-chosen-password")
        .await
        .expect("changed and signed in");
    let pull = client.pull().await.expect("pull");
    assert!(pull.changes > 0, "{pull:?}");
    let installs = app
        .get(
            &format!(
                "/v1/users/{}/clients",
                created.body["user"]["id"].as_str().expect("id")
            ),
            &admin,
        )
        .await;
    assert_eq!(
        installs.body["items"][0]["client_id"],
        client.client_id().to_string(),
        "the install registered with its key"
    );
}
