//! One error shape everywhere, in the caller's language; unknown fields refused; bodies bounded.

use lantian_domain::user::Role;
use lantian_tests::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn errors_are_chinese_by_default_and_english_on_request() {
    let app = spawn_app().await;
    let zh = app
        .request(Method::GET, "/v1/nowhere", None, None, &[])
        .await;
    let en = app
        .request(
            Method::GET,
            "/v1/nowhere",
            None,
            None,
            &[("accept-language", "en-GB,en;q=0.9")],
        )
        .await;
    assert_eq!(
        (zh.status, zh.code()),
        (StatusCode::NOT_FOUND, Some("route_not_found"))
    );
    assert_eq!(en.code(), Some("route_not_found"));
    assert_eq!(zh.body["error"]["message"], "接口不存在");
    assert_eq!(en.body["error"]["message"], "No such endpoint");
}

#[tokio::test]
async fn framework_errors_have_the_same_shape() {
    let app = spawn_app().await;
    let r = app
        .request(Method::DELETE, "/v1/units", None, None, &[])
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    assert!(r.headers.get("allow").is_some());
    // Every answer forbids running or framing anything and being sniffed into another type.
    let r = app.request(Method::GET, "/healthz", None, None, &[]).await;
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            r.headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    // Rebuilt or not, every answer carries the API version (in English too).
    for (method, path) in [(Method::DELETE, "/v1/units"), (Method::GET, "/v1/nowhere")] {
        for lang in ["zh", "en"] {
            let r = app
                .request(
                    method.clone(),
                    path,
                    None,
                    None,
                    &[("accept-language", lang)],
                )
                .await;
            assert_eq!(
                r.headers.get("lantian-api").map(|v| v.as_bytes()),
                Some(&b"1"[..]),
                "{method} {path} ({lang})"
            );
        }
    }
}

#[tokio::test]
async fn malformed_bodies_each_answer_their_own_code() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Admin).await;
    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut req = app
            .client
            .post(format!("{}/v1/subjects", app.base))
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req
    };
    let r = raw("{not json", Some("application/json"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["error"]["code"],
        "invalid_json"
    );
    let r = raw("{}", None).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = raw(r#"{"name": 5}"#, Some("application/json"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["error"]["code"],
        "validation_failed"
    );
}

#[tokio::test]
async fn unknown_and_server_owned_fields_are_refused() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Admin).await;
    for field in ["version", "id", "created_at", "score"] {
        let mut body = json!({"name": "x", "unit": "yanggu", "kind": "restaurant", "attributes": {"grade": "a"},
                              "location": {"lat": 36.1, "lon": 115.8}});
        body[field] = json!(1);
        let r = app.post("/v1/subjects", Some(&token), body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, Some("unknown_field")),
            "{field}"
        );
        assert_eq!(r.body["error"]["field"], field);
    }
    let q = app.get("/v1/subjects?sort=name", &token).await;
    assert_eq!(
        (q.status, q.code()),
        (StatusCode::BAD_REQUEST, Some("unknown_field"))
    );
    let login = app
        .post(
            "/v1/auth/login",
            None,
            json!({"username": "demo_admin", "password": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(login.code(), Some("unknown_field"));
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_parsing() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Admin).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let r = app
        .post("/v1/subjects", Some(&token), json!({"name": big}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn validation_failures_name_the_field_and_the_rule() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Admin).await;
    for (lat, lon, rule) in [
        (0.0, 0.0, "coordinate_null_island"),
        (95.0, 115.0, "coordinate_out_of_range"),
    ] {
        let r = app
            .post(
                "/v1/subjects",
                Some(&token),
                json!({"name": "x", "unit": "yanggu", "kind": "restaurant",
                   "attributes": {"grade": "a"}, "location": {"lat": lat, "lon": lon}}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
        );
        assert_eq!(r.body["error"]["detail"], rule);
        assert_eq!(r.body["error"]["field"], "location");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, bytes).expect("gzip");
    gz.finish().expect("gzip")
}

async fn raw_post(
    app: &lantian_tests::TestApp,
    path: &str,
    token: &str,
    encoding: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Gzipped bodies are read as if they were plain; the body limit counts the inflated bytes, so a
/// small file that inflates past it is refused with 413 and nothing is buffered beyond the limit;
/// a broken stream is a bad request, and an encoding the server does not read is 415.
#[tokio::test]
async fn gzipped_bodies_are_read_and_bounded_by_their_inflated_size() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Inspector).await;
    let client = uuid::Uuid::now_v7();
    let register =
        json!({"client_id": client, "app_version": "1.0.0", "device_model": "gzip test"});
    let body = serde_json::to_vec(&register).expect("json");
    let (status, view) = raw_post(&app, "/v1/clients", &token, "gzip", gzip(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["device_model"], "gzip test");

    // 8 MiB of spaces inside a JSON string: a few kB gzipped, 8 times the limit inflated.
    let mut bomb = br#"{"client_id": ""#.to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 8 * 1024 * 1024));
    bomb.extend_from_slice(br#"", "app_version": "1"}"#);
    let small = gzip(&bomb);
    assert!(small.len() < 64 * 1024, "{} bytes", small.len());
    let (status, err) = raw_post(&app, "/v1/clients", &token, "gzip", small).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["error"]["code"], "payload_too_large");

    let mut broken = gzip(&body);
    broken.truncate(broken.len() / 2);
    let (status, err) = raw_post(&app, "/v1/clients", &token, "gzip", broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

    let (status, err) = raw_post(&app, "/v1/clients", &token, "br", body).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{err}");
    assert_eq!(err["error"]["code"], "unsupported_media_type");
}

/// A `limit` outside its documented range is refused, not quietly clamped (the client would think
/// it got what it asked for).
#[tokio::test]
async fn a_limit_out_of_range_is_refused() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Inspector).await;
    for limit in ["0", "501"] {
        let r = app
            .get(&format!("/v1/subjects?limit={limit}"), &token)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "limit={limit}"
        );
    }
    assert_eq!(
        app.get("/v1/subjects?limit=500", &token).await.status,
        StatusCode::OK
    );
    let client = uuid::Uuid::now_v7();
    app.post(
        "/v1/clients",
        Some(&token),
        json!({"client_id": client, "app_version": "1"}),
    )
    .await;
    let r = app
        .post(
            "/v1/sync/pull",
            Some(&token),
            json!({"client_id": client, "limit": 5001}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    // Characters, not bytes: 64 Chinese characters are 192 bytes and within the limit.
    let r = app
        .post(
            "/v1/clients",
            Some(&token),
            json!({"client_id": uuid::Uuid::now_v7(), "app_version": "版".repeat(64)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// An answer of at least 1 KiB is gzipped for a caller that accepts gzip; a smaller one is sent as
/// it is (a few bytes saved would cost a compressor for every request); a caller that does not
/// accept gzip gets every answer plain.
#[tokio::test]
async fn large_answers_are_gzipped_and_small_ones_are_sent_as_they_are() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Admin).await;
    // Neither asking for gzip nor inflating on its own (the phone client's crate turns reqwest's
    // gzip on for the whole test binary).
    let http = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let fetch = |path: &'static str, accept: Option<&'static str>| {
        let mut req = http.get(format!("{}{path}", app.base)).bearer_auth(&token);
        if let Some(accept) = accept {
            req = req.header("accept-encoding", accept);
        }
        async move {
            let r = req.send().await.expect("request");
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let gzipped = r
                .headers()
                .get("content-encoding")
                .is_some_and(|v| v == "gzip");
            let bytes = r.bytes().await.expect("body").to_vec();
            let body = if gzipped {
                let mut plain = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                    &mut plain,
                )
                .expect("a gzip stream");
                plain
            } else {
                bytes
            };
            let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert!(json.is_object(), "{path}");
            (gzipped, body.len())
        }
    };
    let (gzipped, len) = fetch("/v1/me", Some("gzip")).await;
    assert!(len < 1024 && !gzipped, "{len} bytes, gzipped: {gzipped}");
    let (gzipped, len) = fetch("/v1/subjects", Some("gzip")).await;
    assert!(len >= 1024 && gzipped, "{len} bytes, gzipped: {gzipped}");
    let (gzipped, len) = fetch("/v1/subjects", None).await;
    assert!(len >= 1024 && !gzipped, "{len} bytes, gzipped: {gzipped}");
}
