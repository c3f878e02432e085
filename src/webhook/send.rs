//! One delivery attempt: the versioned body, its signature, the SSRF
//! check and the POST (SPEC §7).
//!
//! Body, version 1 (`Content-Type: application/json`):
//!
//! ```json
//! {"version": 1, "delivery_id": 42, "webhook_id": 3, "attempt": 1,
//!  "event": {"id": 1234, "kind": "message", "target": "bob", "actor": "alice",
//!            "subject_id": 99, "channel": null, "created_at": "2026-12-01T16:32:36.123Z"}}
//! ```
//!
//! Ids and names only, never message or task text (the outbox carries
//! none). Headers: `X-Relay-Timestamp` (Unix seconds, store clock),
//! `X-Relay-Event` (the kind), `X-Relay-Delivery` (the delivery id, the
//! same on every retry), `User-Agent: relay/<version>`, and with a secret
//! `X-Relay-Signature: sha256=<hex>`, the HMAC-SHA256 (RFC 2104, FIPS
//! 180-4) keyed by the secret over `timestamp + "." + raw body`
//! ([`signature`]). A receiver recomputes it over the bytes it received,
//! compares in constant time, and refuses a timestamp too far from its
//! clock (a replay).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::guard::{self, Policy, Refused};
use crate::config::WebhookSettings;
use crate::error::ErrorCode;
use crate::store::events::Event;
use crate::store::webhooks::{Claimed, Outcome};

/// The body's `version`.
pub const BODY_VERSION: u32 = 1;
/// The signature header: `sha256=<64 lower-case hex digits>`.
pub const SIGNATURE_HEADER: &str = "X-Relay-Signature";
/// The timestamp header: Unix seconds, signed with the body.
pub const TIMESTAMP_HEADER: &str = "X-Relay-Timestamp";
/// The event kind header.
pub const EVENT_HEADER: &str = "X-Relay-Event";
/// The delivery id header (the same on every attempt: deduplicate on it).
pub const DELIVERY_HEADER: &str = "X-Relay-Delivery";
/// HTTP clients kept per process, one per (host, checked address).
const CLIENT_CACHE: usize = 256;

/// The JSON body of a delivery, version [`BODY_VERSION`].
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    /// [`BODY_VERSION`]; a receiver refuses versions it does not know.
    pub version: u32,
    /// The delivery (one per webhook and event; retries keep it).
    pub delivery_id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// 1 for the first attempt, up to 4.
    pub attempt: i64,
    /// The outbox event: id, kind, target, actor, subject_id, channel,
    /// created_at (RFC 3339, milliseconds).
    pub event: &'a Event,
}

/// `sha256=` and the hex HMAC-SHA256 (RFC 2104) of
/// `"<timestamp>.<body>"` keyed by `secret`: the `X-Relay-Signature` value.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Clients pinned to the address that was checked, cached per (host,
/// address): building one loads the TLS roots.
#[derive(Debug, Default)]
pub struct Clients(Mutex<HashMap<(String, SocketAddr), reqwest::Client>>);

impl Clients {
    fn get(&self, host: &str, addr: SocketAddr, settings: &WebhookSettings) -> Result<reqwest::Client, String> {
        let key = (host.to_owned(), addr);
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            // The address that was checked, and no other: no second lookup
            // for DNS rebinding to answer.
            .resolve(host, addr)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        if cache.len() >= CLIENT_CACHE {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }
}

/// Resolves `url`'s host and returns the first address `policy` admits.
/// A literal IP is checked as is; a metadata host name is refused by name.
///
/// Errors: why it was refused (SSRF), or why it could not be resolved.
pub async fn resolve(url: &url::Url, policy: &Policy, settings: &WebhookSettings) -> Result<SocketAddr, Failure> {
    let port = url.port_or_known_default().unwrap_or(443);
    let refused = |r: Refused| Failure::Refused(format!("{} points at {r}", url.host_str().unwrap_or("")));
    match url.host() {
        Some(url::Host::Ipv4(ip)) => policy
            .check(IpAddr::V4(ip))
            .map(|()| SocketAddr::new(ip.into(), port))
            .map_err(refused),
        Some(url::Host::Ipv6(ip)) => policy
            .check(IpAddr::V6(ip))
            .map(|()| SocketAddr::new(ip.into(), port))
            .map_err(refused),
        Some(url::Host::Domain(name)) => {
            if guard::is_metadata_name(name) {
                return Err(Failure::Refused(format!("{name} is a cloud metadata service")));
            }
            let lookup = tokio::time::timeout(settings.connect_timeout, tokio::net::lookup_host((name, port))).await;
            let addrs: Vec<SocketAddr> = match lookup {
                Err(_) => return Err(Failure::Other(format!("resolving {name} timed out"))),
                Ok(Err(e)) => return Err(Failure::Other(format!("cannot resolve {name}: {e}"))),
                Ok(Ok(addrs)) => addrs.collect(),
            };
            let mut refusals = Vec::new();
            for addr in &addrs {
                match policy.check(addr.ip()) {
                    Ok(()) => return Ok(*addr),
                    Err(r) => refusals.push(r.to_string()),
                }
            }
            if refusals.is_empty() {
                return Err(Failure::Other(format!("{name} resolves to no address")));
            }
            Err(Failure::Refused(format!(
                "{name} resolves only to refused addresses ({})",
                refusals.join(", ")
            )))
        }
        None => Err(Failure::Other("the URL has no host".into())),
    }
}

/// Why an attempt could not even be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The SSRF guard refused every address.
    Refused(String),
    /// Anything else (resolution failed).
    Other(String),
}

impl Failure {
    fn into_error(self) -> String {
        match self {
            Self::Refused(why) => format!(
                "{}: {why}; the operator can admit it with [webhooks] allow in the config",
                ErrorCode::SsrfRefused
            ),
            Self::Other(why) => why,
        }
    }
}

/// Makes one attempt of `c`: resolve and check, then POST the signed
/// body to the checked address. `timestamp` is Unix seconds on the store
/// clock. Never panics; every failure is an [`Outcome::Failed`] with a
/// reason that names no secret.
pub async fn attempt(
    c: &Claimed,
    policy: &Policy,
    clients: &Clients,
    settings: &WebhookSettings,
    timestamp: i64,
) -> Outcome {
    let failed = |error: String| Outcome::Failed { status: None, error };
    let Ok(url) = url::Url::parse(&c.url) else {
        return failed("the stored URL does not parse".into());
    };
    let addr = match resolve(&url, policy, settings).await {
        Ok(addr) => addr,
        Err(f) => return failed(f.into_error()),
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let client = match clients.get(&host, addr, settings) {
        Ok(client) => client,
        Err(e) => return failed(e),
    };
    let body = Body {
        version: BODY_VERSION,
        delivery_id: c.delivery_id,
        webhook_id: c.webhook_id,
        attempt: c.attempt,
        event: &c.event,
    };
    let body = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => return failed(format!("cannot serialise the body: {e}")),
    };
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(EVENT_HEADER, c.event.kind.as_str())
        .header(DELIVERY_HEADER, c.delivery_id.to_string());
    if let Some(secret) = &c.secret {
        request = request.header(SIGNATURE_HEADER, signature(secret.as_bytes(), timestamp, &body));
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Outcome::Delivered {
                    status: status.as_u16(),
                }
            } else {
                let note = if status.is_redirection() {
                    " (redirects are not followed)"
                } else {
                    ""
                };
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error: format!("HTTP {}{note}", status.as_u16()),
                }
            }
        }
        // Without the URL: its path or query may hold a token.
        Err(e) if e.is_timeout() => failed(format!("no answer within {} s from {addr}", settings.timeout.as_secs())),
        Err(e) if e.is_connect() => failed(format!("cannot connect to {addr}: {}", source_of(&e.without_url()))),
        Err(e) => failed(format!("the request to {addr} failed: {}", source_of(&e.without_url()))),
    }
}

/// The innermost cause of an error, which says what actually happened.
fn source_of(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        let sig = signature(b"key", 1_700_000_000, b"{\"a\":1}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, format!("sha256={want}"));
        assert_eq!(sig.len(), 7 + 64);
    }

    #[test]
    fn rfc_4231_vector_holds() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[tokio::test]
    async fn literal_and_named_forbidden_hosts_are_refused_before_any_connection() {
        let settings = WebhookSettings::default();
        let policy = Policy::default();
        for url in [
            "http://127.0.0.1:1/",
            "http://[::1]:1/",
            "http://[::ffff:127.0.0.1]:1/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://metadata.google.internal/",
            "http://2130706433/",
        ] {
            let url = url::Url::parse(url).unwrap();
            assert!(
                matches!(resolve(&url, &policy, &settings).await, Err(Failure::Refused(_))),
                "{url}"
            );
        }
        // localhost resolves (from /etc/hosts) to loopback only.
        let url = url::Url::parse("http://localhost:1/").unwrap();
        let refused = resolve(&url, &policy, &settings).await.unwrap_err();
        assert!(
            matches!(&refused, Failure::Refused(why) if why.contains("loopback")),
            "{refused:?}"
        );
        let allow = Policy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let addr = resolve(&url::Url::parse("http://127.0.0.1:9/").unwrap(), &allow, &settings)
            .await
            .unwrap();
        assert_eq!(addr, "127.0.0.1:9".parse().unwrap());
    }
}
