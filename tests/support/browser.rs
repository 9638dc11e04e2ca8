//! A real browser for the console's tests: Debian's chromium driven over the W3C WebDriver
//! protocol by its chromedriver, on 127.0.0.1. The protocol is a handful of JSON calls; they are
//! spoken here with reqwest rather than through another client library.
//!
//! Every wait is bounded (count and time). Chromium runs headless, without a sandbox (tests run
//! as root in CI), without background networking (the machine's network is closed), with a fresh
//! profile per browser.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The element key of the WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session, with its own chromedriver.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// Where screenshots for people go: `target/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// axe-core's script, as `scripts/test` fetched it from its npm package.
pub fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("browser-tools")
        .join("axe-core")
        .join("axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: axe-core is fetched by scripts/test (npm pack axe-core); run it once",
            path.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless chromium with a window of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that the browsers it starts end with it, test failed or not.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts (scripts/test installs Debian's chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == json!(true)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not become ready within 10 s");
        let profile = tempfile::tempdir().expect("profile folder");
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "prefs": { "intl.accept_languages": "zh-CN,zh" },
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--disable-extensions",
                        "--lang=zh-CN", "--hide-scrollbars",
                        format!("--window-size={width},{height}"),
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}
        });
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        let b = Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            _profile: profile,
        };
        b.call(
            "POST",
            "/timeouts",
            json!({"pageLoad": 30000, "script": 30000, "implicit": 0}),
        )
        .await;
        b
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body),
        };
        let r: Value = req
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if let Some(err) = r["value"].get("error") {
            panic!("{method} {path}: {err}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    async fn try_call(&self, path: &str, body: Value) -> Option<Value> {
        let r: Value = self
            .http
            .post(format!("{}{path}", self.session))
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        if r["value"].get("error").is_some() {
            None
        } else {
            Some(r["value"].clone())
        }
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    /// Forgets every cookie of the current site (a sign-out without the form).
    pub async fn delete_cookies(&self) {
        self.call("DELETE", "/cookie", Value::Null).await;
    }

    pub async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// The element `css` matches now, if any.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .try_call("/element", json!({ "using": "css selector", "value": css }))
            .await?;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// The element `css` matches, waiting for it up to 10 s.
    pub async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let html = self
            .exec("return document.documentElement.outerHTML;", json!([]))
            .await;
        let html: String = html
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(1500)
            .collect();
        panic!(
            "no element matches {css} at {} after 10 s; the page:\n{html}",
            self.url().await
        );
    }

    pub async fn count(&self, css: &str) -> usize {
        self.call(
            "POST",
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }

    pub async fn click(&self, element: &str) {
        self.call("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    pub async fn type_into(&self, element: &str, text: &str) {
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Presses each key of `keys` in turn, on whatever has the focus (the keyboard alone).
    pub async fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": k.to_string()}));
            actions.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        self.call(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
        self.call("DELETE", "/actions", Value::Null).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Runs `script` whose last argument is the callback to call with the result.
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/async",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.exec("return document.body.innerText;", json!([]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 10 s) until the address satisfies `pred`, and returns it.
    pub async fn wait_url(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let u = self.url().await;
            if pred(&u) {
                return u;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the address never became {what}: {}", self.url().await);
    }

    /// Waits until the document has loaded.
    pub async fn settle(&self) {
        for _ in 0..100 {
            if self.exec("return document.readyState;", json!([])).await == json!("complete") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never finished loading");
    }

    pub async fn screenshot(&self, name: &str) {
        let b64 = self.call("GET", "/screenshot", Value::Null).await;
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            b64.as_str().expect("png"),
        )
        .expect("png bytes");
        std::fs::write(screenshot_dir().join(format!("{name}.png")), bytes).expect("screenshot");
    }

    /// axe-core's serious and critical violations on the current page, as "rule: target" lines.
    pub async fn axe_violations(&self, axe: &str) -> Vec<String> {
        self.exec(axe, json!([])).await;
        let v = self
            .exec_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations
                        .filter(v => v.impact === 'serious' || v.impact === 'critical')
                        .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                json!([]),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session and the driver.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    /// The driver's whole process group (the driver and the browsers it started) ends.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.driver.id()))
            .status();
        let _ = self.driver.wait();
    }
}
