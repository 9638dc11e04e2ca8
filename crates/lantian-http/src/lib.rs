//! lantian-http: the HTTP API of lantian.
//!
//! [`router`] builds the whole axum `Router` from an [`AppState`]; [`serve`] runs it on a bound
//! listener until a shutdown future resolves. `main` and the tests use the same two functions, and
//! tests can drive [`router`] with `oneshot` and no socket.
//!
//! # Layout
//! - [`error`] — the JSON error shape, stable codes, `Accept-Language`.
//! - [`extract`] — body/query/path extractors with API rejections; the authenticated [`extract::Caller`].
//! - [`auth`] — access tokens, refresh tokens. [`limiter`]: login rate limits.
//! - [`metrics`] — Prometheus text metrics.
//! - `handlers`: one module per area.
//!
//! Handlers parse the request, call one operation of the application layer (`lantian_app::App`),
//! and render its answer; the operations ask the policy table and run the store. Handlers not yet
//! moved there ask [`extract::Caller::may`] themselves, with the object's unit as read from the
//! database. Must not contain SQL or rules: those live in the store and the domain.

pub mod auth;
pub mod error;
pub mod extract;
pub mod forwarded;
mod handlers;
pub mod limiter;
pub mod metrics;

pub use handlers::{password_sign_in, photo_bytes};

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter};
use lantian_store::Store;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::JwtKeys;
use crate::limiter::{Counters, Limit, Limiter};
use crate::metrics::Metrics;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Failed logins per account and peer address before that pair is paused for the window.
    pub account_failures: Limit,
    /// Failed logins per account from anywhere before the account is paused (slower).
    pub account_global_failures: Limit,
    /// Login attempts per peer address (or IPv6 /64).
    pub peer_attempts: Limit,
    /// Password hashes computed at once; the rest wait. Keeps argon2 from taking every core.
    pub hash_concurrency: usize,
    /// Soft byte budget of one pull page (a page never splits one write's changes).
    pub pull_page_bytes: usize,
    pub media: lantian_app::evidence::MediaConfig,
    /// Thresholds of inspections' location verdicts.
    pub verdicts: lantian_domain::geo::VerdictThresholds,
    /// Severities, deadlines and the working calendar of rectification orders.
    pub rectify: Arc<lantian_domain::rectification::RectifyPolicy>,
    /// How the monthly bulletin is headed.
    pub bulletin: lantian_domain::assessment::BulletinStyle,
    /// Seconds within which a rotated refresh token presented again is a retry, not a theft.
    pub refresh_grace: Duration,
    /// How long console sessions last (idle and absolute).
    pub session: lantian_app::session::SessionPolicy,
    /// Proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: forwarded::TrustedProxies,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            account_failures: Limit {
                max: 5,
                window: Duration::from_secs(15 * 60),
            },
            account_global_failures: Limit {
                max: 100,
                window: Duration::from_secs(3600),
            },
            peer_attempts: Limit {
                max: 30,
                window: Duration::from_secs(60),
            },
            hash_concurrency: 2,
            pull_page_bytes: 1024 * 1024,
            media: lantian_app::evidence::MediaConfig::in_dir(std::path::Path::new(
                "lantian-data/media",
            )),
            verdicts: lantian_domain::geo::VerdictThresholds::default(),
            rectify: Arc::default(),
            bulletin: lantian_domain::assessment::BulletinStyle::default(),
            refresh_grace: Duration::from_secs(30),
            session: lantian_app::session::SessionPolicy::default(),
            trusted_proxies: forwarded::TrustedProxies::default(),
        }
    }
}

/// Why the HTTP state could not be built: the application layer did not start.
pub use lantian_app::StartError;

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    app: lantian_app::App,
    store: Store,
    keys: JwtKeys,
    config: HttpConfig,
    limiter: Counters,
    metrics: Metrics,
}

impl AppState {
    pub fn new(store: Store, keys: JwtKeys, config: HttpConfig) -> Result<AppState, StartError> {
        Ok(AppState {
            inner: Arc::new(StateInner {
                app: lantian_app::App::new(
                    store.clone(),
                    lantian_app::AppConfig {
                        rectify: config.rectify.clone(),
                        verdicts: config.verdicts,
                        pull_page_bytes: config.pull_page_bytes,
                        hash_concurrency: config.hash_concurrency,
                        bulletin: config.bulletin.clone(),
                        refresh_grace_secs: config.refresh_grace.as_secs() as i64,
                        session: config.session,
                    },
                    config.media.clone(),
                )?,
                limiter: match store.engine() {
                    lantian_store::Engine::Sqlite => Counters::Memory(Limiter::default()),
                    lantian_store::Engine::Postgres => Counters::Shared(store.clone()),
                },
                store,
                keys,
                config,
                metrics: Metrics::default(),
            }),
        })
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    /// The application layer: the operations handlers call.
    pub fn app(&self) -> &lantian_app::App {
        &self.inner.app
    }
    pub fn keys(&self) -> &JwtKeys {
        &self.inner.keys
    }
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }
    pub fn limiter(&self) -> &Counters {
        &self.inner.limiter
    }
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    pub(crate) fn media(&self) -> &lantian_app::evidence::Media {
        self.inner.app.media()
    }
}

/// Collects routes so that the router and the route table come from one list.
pub(crate) struct Routes {
    by_path: BTreeMap<&'static str, MethodRouter<AppState>>,
    table: Vec<(Method, &'static str)>,
    /// Paths whose bodies stream (tus uploads): no body limit, no whole-request timeout (an idle
    /// timeout per read instead), tus headers on every response.
    streaming: BTreeSet<&'static str>,
}

impl Routes {
    fn new() -> Self {
        Self {
            by_path: BTreeMap::new(),
            table: Vec::new(),
            streaming: BTreeSet::new(),
        }
    }

    /// [`Routes::on`] for a tus upload path.
    pub(crate) fn on_upload<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.streaming.insert(path);
        self.on(method, path, handler)
    }

    pub(crate) fn on<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method.as_str() {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            "HEAD" => MethodFilter::HEAD,
            "OPTIONS" => MethodFilter::OPTIONS,
            other => unreachable!("route method {other} is not used by lantian"),
        };
        let mr = self.by_path.remove(path).unwrap_or_default();
        self.by_path.insert(path, mr.on(filter, handler));
        self.table.push((method, path));
        self
    }
}

/// Every (method, path) the router serves, in the router's own path syntax (`/v1/subjects/{id}`).
pub fn route_table() -> Vec<(String, String)> {
    handlers::routes(Routes::new())
        .table
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect()
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The whole API with `pages` beside it (the console): they share the state, the request ids, the
/// trace, the metrics and the security headers, but not the API's JSON error rendering, its body
/// limits or its fallback (pages bring their own).
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    let routes = handlers::routes(Routes::new());
    let mut app = Router::new();
    let mut uploads = Router::new();
    for (path, mr) in routes.by_path {
        if routes.streaming.contains(path) {
            uploads = uploads.route(path, mr);
        } else {
            app = app.route(path, mr);
        }
    }
    let config = state.config().clone();
    let app = app
        .fallback(|| async { error::ApiError::new("route_not_found") })
        // Innermost first: limits and the timeout sit inside `localize`, so their bare 413/408
        // responses get the JSON error shape too.
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        // Gzipped request bodies (a batch of pushes shrinks about twelvefold) are inflated here,
        // outside the limits: the body limit counts inflated bytes, so a zip bomb is cut off at
        // the limit (413) instead of swelling the process. Other encodings answer 415.
        .layer(RequestDecompressionLayer::new());
    // Uploads bound what they read themselves: the upload's declared length, and an idle timeout.
    let uploads = uploads
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(handlers::tus_headers));
    app.merge(uploads)
        // `localize` rebuilds framework errors (a bare 405 or 413) as JSON: inside `observe`, so
        // that every answer, rebuilt or not, carries the API version.
        .layer(middleware::from_fn(error::localize))
        .merge(pages)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // Answers of at least 1 KiB are gzipped (pull pages, lists, console pages); a push's
        // answer for one mutation (about 150 bytes) would gain a few bytes and cost the set-up of
        // a compressor (about 256 KiB of state) for every request.
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(GZIP_FROM_BYTES))),
        )
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Records per-route metrics and stamps the API version on every response.
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let mut resp = next.run(req).await;
    state
        .metrics()
        .observe(&method, &route, resp.status().as_u16(), started.elapsed());
    let headers = resp.headers_mut();
    headers.insert(
        "lantian-api",
        HeaderValue::from_static(lantian_protocol::API_VERSION),
    );
    // Security headers on every answer. The API serves data, not pages: nothing it answers may run
    // scripts, load anything, be framed or be sniffed into another type. A response that is a page
    // (the bulletin) sets its own, narrower policy.
    headers
        .entry("content-security-policy")
        .or_insert(HeaderValue::from_static(API_CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry("referrer-policy")
        .or_insert(HeaderValue::from_static("no-referrer"));
    resp
}

/// Answers at least this large are gzipped when the caller accepts it: the threshold the phone
/// uses for its request bodies.
const GZIP_FROM_BYTES: u64 = 1024;

/// The Content-Security-Policy of every API answer that does not set its own.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// An accept loop of our own rather than `axum::serve`, which installs no timer and so cannot end a
/// connection that drips its request head a byte at a time: here a client has
/// `header_read_timeout` to send a whole request head, else its connection is closed. Bodies are
/// bounded elsewhere (the request timeout for ordinary routes, the idle timeout for uploads).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Per-connection failures (reset before accept, out of descriptors): keep serving,
                // after a pause so a full descriptor table does not spin the loop.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<_>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                req
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
