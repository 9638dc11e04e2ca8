//! The server's own outbound HTTP: one `POST` at a time to a receiver named by an `http://` or
//! `https://` address (webhook deliveries). HTTP/1.1 over hyper, TLS over rustls with the ring
//! provider and the system's certificate store, so a bureau's own CA, installed on the machine,
//! is trusted (decision 0024). No redirects are followed and no proxy is used.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// An address split into what a request needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub tls: bool,
    /// Host as written (a name, an IPv4 address, or an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// The `Host` header.
    pub authority: String,
}

/// Reads an `http://` or `https://` address (no credentials, no fragment kept).
pub fn target(url: &str) -> Option<Target> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let default = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default,
            None => return None,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default),
        }
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some(Target {
        tls,
        host,
        port,
        path,
        authority: authority.to_owned(),
    })
}

/// What a receiver answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The start of the body (at most `keep` bytes read).
    pub body: String,
}

/// Posts with TLS set up once per process.
#[derive(Clone)]
pub struct Client {
    tls: Arc<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl Client {
    /// A client whose whole exchange (connect, TLS, request, answer) takes at most `timeout`.
    pub fn new(timeout: Duration) -> anyhow::Result<Client> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system certificate could not be read");
        }
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!("no system CA certificates found: https receivers will not verify");
        }
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            tls: Arc::new(tokio_rustls::TlsConnector::from(Arc::new(config))),
            timeout,
        })
    }

    /// `POST`s `body` to `url` with `headers`; the answer's status and up to `keep` bytes of its
    /// body. Errors say in words why there was no answer.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        keep: usize,
    ) -> Result<Answer, String> {
        let t = target(url).ok_or_else(|| "not an http(s) address".to_owned())?;
        match tokio::time::timeout(self.timeout, self.exchange(&t, headers, body, keep)).await {
            Ok(r) => r,
            Err(_) => Err("no answer in time".to_owned()),
        }
    }

    async fn exchange(
        &self,
        t: &Target,
        headers: &[(&str, String)],
        body: Bytes,
        keep: usize,
    ) -> Result<Answer, String> {
        let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("could not connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut req = hyper::Request::post(t.path.as_str()).header("host", t.authority.as_str());
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .header("content-length", body.len().to_string())
            .body(Full::new(body))
            .map_err(|e| format!("bad request: {e}"))?;
        if t.tls {
            let name = rustls::pki_types::ServerName::try_from(t.host.clone())
                .map_err(|e| format!("bad host name: {e}"))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            send(TokioIo::new(stream), req, keep).await
        } else {
            send(TokioIo::new(tcp), req, keep).await
        }
    }
}

async fn send<IO>(io: IO, req: hyper::Request<Full<Bytes>>, keep: usize) -> Result<Answer, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"));
    let out = match resp {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let mut body = resp.into_body();
            let mut kept = Vec::new();
            // Read what is kept and no more: a receiver's long answer is not ours to hold.
            while kept.len() < keep {
                match body.frame().await {
                    Some(Ok(f)) => {
                        if let Some(d) = f.data_ref() {
                            let room = keep - kept.len();
                            kept.extend_from_slice(&d[..d.len().min(room)]);
                        }
                    }
                    _ => break,
                }
            }
            Ok(Answer {
                status,
                body: String::from_utf8_lossy(&kept).into_owned(),
            })
        }
        Err(e) => Err(e),
    };
    driver.abort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_split_into_host_port_and_path() {
        let t = target("https://hub.example.gov.cn/in?x=1").expect("parsed");
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "hub.example.gov.cn", 443, "/in?x=1")
        );
        let t = target("http://127.0.0.1:8089").expect("parsed");
        assert_eq!(
            (t.port, t.path.as_str(), t.authority.as_str()),
            (8089, "/", "127.0.0.1:8089")
        );
        let t = target("http://[::1]:9000/h").expect("parsed");
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
        let t = target("http://h?q").expect("parsed");
        assert_eq!(t.path, "/?q");
        assert!(target("ftp://h/").is_none());
        assert!(target("http://u:p@h/").is_none());
        assert!(target("http://h:notaport/").is_none());
    }
}
