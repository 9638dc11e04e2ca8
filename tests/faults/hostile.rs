//! Hostile input: JSON bombs, oversized bodies, slow-drip connections and path tricks in every id.
//! Each must end in a 4xx (or a closed connection for the slow drip), never a 5xx or a 2xx, and
//! the server must go on answering everyone else.

use std::time::Duration;

use lantian_domain::user::Role;
use lantian_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn post_raw(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> (StatusCode, String) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = r.status();
    (status, r.text().await.unwrap_or_default())
}

fn code_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn healthy(app: &TestApp) {
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK, "the server still answers");
}

#[tokio::test]
async fn json_bombs_are_refused_with_4xx_and_hurt_no_one() {
    let app = spawn_app().await;
    let officer = app.demo_token(Role::Inspector).await;
    let admin = app.demo_token(Role::Admin).await;
    let envelope = |mutations: &str| {
        format!(
            r#"{{"client_id":"01a22534-2f0f-7b0a-8b49-55c8111b23d8","protocol_version":1,"schema_version":1,"app_version":"x","sent_at":"2026-11-29T00:00:00Z","mutations":{mutations}}}"#
        )
        .into_bytes()
    };
    // The envelope is good: the bombs below fail for their own reason, not for an unknown install.
    let registered = app
        .post(
            "/v1/clients",
            Some(&officer),
            serde_json::json!({"client_id": "01a22534-2f0f-7b0a-8b49-55c8111b23d8", "app_version": "1.0.0"}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let (status, text) = post_raw(
        &app,
        "/v1/sync/push",
        &officer,
        envelope(
            r#"[{"mid":1,"name":"draft.discard","device_time":"2026-11-29T00:00:00Z","args":{"draft_id":"01a22534-2f0f-7b0a-8b49-55c8111b23d1"}}]"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the control push: {text}");
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep_obj = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("nested arrays, 100 000 deep", "/v1/sync/push", deep(100_000).into_bytes()),
        (
            "nested objects inside a mutation's args",
            "/v1/sync/push",
            envelope(&format!(
                r#"[{{"mid":2,"name":"inspection.submit","device_time":"2026-11-29T00:00:00Z","args":{}}}]"#,
                deep_obj(50_000)
            )),
        ),
        (
            "a 200 000-element array of mutations",
            "/v1/sync/push",
            envelope(&format!("[{}]", vec!["{}"; 200_000].join(","))),
        ),
        (
            "a number of 400 digits as a mutation id",
            "/v1/sync/push",
            envelope(&format!(
                r#"[{{"mid":{},"name":"draft.discard","device_time":"2026-11-29T00:00:00Z","args":{{}}}}]"#,
                "9".repeat(400)
            )),
        ),
        (
            "an exponent past f64 as a latitude",
            "/v1/subjects",
            br#"{"name":"x","unit":"dongchangfu","kind":"restaurant","attributes":{"grade":"b"},"location":{"lat":1e999999,"lon":115.9}}"#.to_vec(),
        ),
        (
            "duplicate keys",
            "/v1/subjects",
            br#"{"name":"x","unit":"dongchangfu","unit":"yanggu","kind":"restaurant","attributes":{"grade":"b"},"location":{"lat":36.4,"lon":115.9}}"#.to_vec(),
        ),
        (
            "duplicate keys in the envelope",
            "/v1/sync/push",
            br#"{"client_id":"01a22534-2f0f-7b0a-8b49-55c8111b23d8","client_id":"01a22534-2f0f-7b0a-8b49-55c8111b23d9","protocol_version":1,"schema_version":1,"app_version":"x","sent_at":"2026-11-29T00:00:00Z","mutations":[]}"#.to_vec(),
        ),
        (
            "duplicate keys inside a mutation's arguments",
            "/v1/sync/push",
            envelope(
                r#"[{"mid":2,"name":"draft.discard","device_time":"2026-11-29T00:00:00Z","args":{"draft_id":"01a22534-2f0f-7b0a-8b49-55c8111b23d1","draft_id":"01a22534-2f0f-7b0a-8b49-55c8111b23d2"}}]"#,
            ),
        ),
        (
            "invalid UTF-8 in a string",
            "/v1/subjects",
            [
                br#"{"name":"#.as_slice(),
                b"\"\xff\xfe\xc3\x28\"",
                br#","unit":"dongchangfu","kind":"restaurant","attributes":{"grade":"b"},"location":{"lat":36.4,"lon":115.9}}"#,
            ]
            .concat(),
        ),
        (
            "a lone surrogate escape",
            "/v1/subjects",
            br#"{"name":"\ud800","unit":"dongchangfu","kind":"restaurant","attributes":{"grade":"b"},"location":{"lat":36.4,"lon":115.9}}"#.to_vec(),
        ),
        ("a NUL before the JSON", "/v1/subjects", b"\0{}".to_vec()),
    ];
    let n = cases.len();
    for (what, path, body) in cases {
        let token = if path == "/v1/sync/push" {
            &officer
        } else {
            &admin
        };
        let (status, text) = post_raw(&app, path, token, body).await;
        assert!(
            status.is_client_error(),
            "{what}: answered {status} {text:.200}"
        );
        assert!(
            !code_of(&text).is_empty(),
            "{what}: an error body: {text:.200}"
        );
        healthy(&app).await;
    }
    // Nothing was written by any of them.
    let subjects_named_x: i64 = app
        .store
        .read(|c| {
            Ok(c.raw()
                .query_row("SELECT count(*) FROM subjects WHERE name = 'x'", [], |r| {
                    r.get(0)
                })?)
        })
        .await
        .expect("count");
    assert_eq!(subjects_named_x, 0, "{n} bombs, no writes");
}

#[tokio::test]
async fn oversized_bodies_are_refused_whether_declared_or_streamed() {
    let app = spawn_app_with(|c| c.max_body_bytes = 64 * 1024, true).await;
    let token = app.demo_token(Role::Admin).await;
    let big = vec![b' '; 200 * 1024];
    // Declared with Content-Length.
    let (status, text) = post_raw(&app, "/v1/subjects", &token, big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text:.200}");
    // Streamed in chunks with no length: refused once the limit is passed.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/subjects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("head");
    for chunk in big.chunks(8 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if s.write_all(&framed).await.is_err() {
            break; // the server stopped reading: fine, its answer is waiting
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let line = String::from_utf8_lossy(&answer[..n]);
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    healthy(&app).await;
}

/// Sends `head` one byte every `gap`, for at most `bytes` bytes; returns whether the server closed
/// the connection before the head was complete.
async fn drip(addr: &str, head: &[u8], gap: Duration) -> bool {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    for b in head {
        if s.write_all(&[*b]).await.is_err() {
            return true;
        }
        tokio::time::sleep(gap).await;
        // A closed connection shows as a readable EOF.
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            return n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408");
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_connections_are_closed_without_hurting_other_clients() {
    let app = spawn_app_with(
        |c| {
            c.header_read_timeout_secs = 1;
            c.request_timeout_secs = 2;
        },
        true,
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let token = app.demo_token(Role::Viewer).await;
    // Ten connections drip their request heads (a byte per 100 ms: 60 bytes would take 6 s).
    let head = b"GET /v1/units HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaa\r\n\r\n";
    let drips: Vec<_> = (0..10)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move { drip(&addr, head, Duration::from_millis(100)).await })
        })
        .collect();
    // Meanwhile everyone else is served.
    for _ in 0..20 {
        let r = app.get("/v1/units", &token).await;
        assert_eq!(r.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for d in drips {
        assert!(
            tokio::time::timeout(Duration::from_secs(10), d)
                .await
                .expect("bounded")
                .expect("task"),
            "a dripping head was cut off"
        );
    }
    // A body that drips past the request timeout gets 408, and the server goes on.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let body = br#"{"name":"slow","unit":"dongchangfu","kind":"restaurant"}"#;
    let head = format!(
        "POST /v1/subjects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("head");
    let mut answer = Vec::new();
    for b in body.iter().take(40) {
        if s.write_all(&[*b]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await
        {
            answer.extend_from_slice(&buf[..n]);
            break;
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    healthy(&app).await;
}

#[tokio::test]
async fn path_tricks_in_every_id_answer_4xx() {
    let app = spawn_app().await;
    let token = app.demo_token(Role::Admin).await;
    let tricks = [
        "..",
        "%2e%2e",
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e%5c%2e%2e%5cwindows",
        "%EF%BC%8E%EF%BC%8E",          // full-width dots
        "%EF%BC%8E%EF%BC%8E%EF%BC%8F", // full-width dots and slash
        "%00",
        "a%00b",
        "%C0%AE%C0%AE", // overlong UTF-8 dots
        "%252e%252e",   // double-encoded
        "01a22534-2f0f-7b0a-8b49-55c8111b23d8%00",
        "*",
        "%20",
    ];
    let long = "a".repeat(5000);
    let mut cells = 0;
    let mut bad = Vec::new();
    for (method, route) in lantian_http::route_table() {
        if !route.contains('{') {
            continue;
        }
        let method: Method = method.parse().expect("method");
        for trick in tricks.iter().copied().chain([long.as_str()]) {
            // Every parameter of the route gets the trick.
            let mut path = String::new();
            let mut rest = route.as_str();
            while let Some(open) = rest.find('{') {
                let close = rest[open..].find('}').expect("closing brace") + open;
                path.push_str(&rest[..open]);
                path.push_str(trick);
                rest = &rest[close + 1..];
            }
            path.push_str(rest);
            let r = app
                .client
                .request(method.clone(), format!("{}{path}", app.base))
                .bearer_auth(&token)
                .header("tus-resumable", "1.0.0")
                .send()
                .await
                .expect("answered");
            cells += 1;
            let status = r.status();
            if !status.is_client_error() {
                bad.push(format!("{method} {path:.80}: {status}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {cells}:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(cells > 200, "{cells}");
    healthy(&app).await;
}
