//! The console without a browser: a session signed in through the form, and pages read with it.

use reqwest::StatusCode;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of cookie `name` set by `r`.
pub fn cookie_from(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
}

/// A console session of `username`, signed in through the form: its cookie's value.
pub async fn session_cookie(app: &crate::TestApp, username: &str, password: &str) -> String {
    let http = no_redirects();
    let form = http
        .get(format!("{}/console/login", app.base))
        .send()
        .await
        .expect("form");
    let token = cookie_from(&form, "lantian_login").expect("the form's cookie");
    let r = http
        .post(format!("{}/console/login", app.base))
        .header("cookie", format!("lantian_login={token}"))
        .form(&[
            ("csrf", token.as_str()),
            ("username", username),
            ("password", password),
            ("next", "/console/review"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
    cookie_from(&r, "lantian_session").expect("a session")
}

/// GET `path` with the session: status and body.
pub async fn get(app: &crate::TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let r = no_redirects()
        .get(format!("{}{path}", app.base))
        .header("cookie", format!("lantian_session={cookie}"))
        .send()
        .await
        .expect("get");
    let status = r.status();
    (status, r.text().await.expect("body"))
}
