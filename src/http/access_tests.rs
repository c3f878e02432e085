//! The access guard, driven in process: an axum router with [`guard`] in
//! front of an echo handler, called with `tower::ServiceExt::oneshot`.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use axum::Router;
use axum::body::Bytes;
use axum::middleware::from_fn_with_state;
use axum::routing::post;
use tower::ServiceExt;

use super::*;
use crate::clock::SystemClock;
use crate::config::{Rate, Secret};
use crate::store::agents::Credential;
use crate::store::{Limits, Registration};

const SECRET: &str = "current-secret-0123456789";
const OLD_SECRET: &str = "previous-secret-0123456789";
const LOOPBACK: &str = "127.0.0.1:50000";

struct Hub {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    router: Router,
}

fn rate(per_second: u32, burst: u32) -> Option<Rate> {
    Some(Rate {
        per_second: NonZeroU32::new(per_second).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    })
}

fn with_secret() -> HttpSettings {
    HttpSettings {
        secret: Some(Secret::new(SECRET)),
        previous_secrets: vec![Secret::new(OLD_SECRET)],
        ..HttpSettings::default()
    }
}

/// Echoes who the guard said is calling and how much body arrived.
async fn echo(identity: Identity, body: Bytes) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "agent": identity.agent,
        "client_ip": identity.client_ip.to_string(),
        "body_bytes": body.len(),
    }))
}

fn hub(http: HttpSettings) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("relay.db"), Arc::new(SystemClock), Limits::default()).unwrap());
    let access = Arc::new(Access::new(&http, store.clone()).unwrap());
    let router = Router::new()
        .route("/mcp", post(echo).get(echo))
        .route_layer(from_fn_with_state(access.clone(), guard))
        .merge(super::super::endpoints::routes(access));
    Hub {
        _dir: dir,
        store,
        router,
    }
}

impl Hub {
    fn register(&self, name: &str) -> String {
        let reg = Registration {
            name: name.into(),
            ..Default::default()
        };
        self.store
            .register_agent(&reg, Credential::None, &[], crate::store::words::Transport::Http)
            .unwrap()
            .token
            .unwrap()
    }

    async fn send(&self, req: Request) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        Reply { status, headers, json }
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    json: serde_json::Value,
}

impl Reply {
    /// Asserts a refusal: the status, and a JSON-RPC error body with `code`.
    fn refused(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["jsonrpc"], "2.0", "{}", self.json);
        assert!(self.json["id"].is_null());
        assert!(self.json["error"]["code"].as_i64().unwrap() <= -32000);
        assert!(self.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(self.json["error"]["data"]["error_code"], code, "{}", self.json);
        assert_eq!(self.json["error"]["data"]["error"], self.json["error"]["message"]);
    }
}

/// A request builder from `peer`, with `Host: 127.0.0.1:3777`.
fn req(method: &str, peer: &str) -> http::request::Builder {
    let peer: SocketAddr = peer.parse().unwrap();
    Request::builder()
        .method(method)
        .uri("/mcp")
        .header(HOST, "127.0.0.1:3777")
        .extension(ConnectInfo(peer))
}

fn post_json(b: http::request::Builder) -> Request {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    b.header(CONTENT_LENGTH, body.len()).body(Body::from(body)).unwrap()
}

fn empty(b: http::request::Builder) -> Request {
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_good_request_passes_with_its_identity_set() {
    let hub = hub(with_secret());
    let token = hub.register("alice");
    let r = hub
        .send(post_json(
            req("POST", LOOPBACK)
                .header(AUTHORIZATION, format!("Bearer {SECRET}"))
                .header(AGENT_TOKEN, &token),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["agent"], "alice");
    assert_eq!(r.json["client_ip"], "127.0.0.1");
    assert_eq!(r.json["body_bytes"], 40);
    assert!(r.headers.get(SECRET_DEPRECATED).is_none());
}

#[tokio::test]
async fn a_request_without_a_token_passes_as_anonymous() {
    let hub = hub(HttpSettings::default());
    let r = hub.send(post_json(req("POST", LOOPBACK))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["agent"].is_null());
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let hub = hub(HttpSettings {
        allowed_origins: vec!["https://dash.example.com".into()],
        ..HttpSettings::default()
    });
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost:6274",
        "http://127.0.0.1:9999",
    ] {
        let r = hub.send(post_json(req("POST", LOOPBACK).header(ORIGIN, origin))).await;
        r.refused(StatusCode::FORBIDDEN, "AUTH_FAILED");
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains("Origin"),
            "{}",
            r.json
        );
    }
    // The hub's own origin and a configured one pass.
    for origin in [
        "http://127.0.0.1:3777",
        "https://dash.example.com",
        "HTTPS://Dash.Example.com:443",
    ] {
        let r = hub.send(post_json(req("POST", LOOPBACK).header(ORIGIN, origin))).await;
        assert_eq!(r.status, StatusCode::OK, "{origin}: {}", r.json);
    }
}

#[tokio::test]
async fn a_host_not_in_the_allowlist_is_refused_with_403() {
    let hub = hub(HttpSettings {
        allowed_hosts: vec!["relay.example.com".into()],
        ..HttpSettings::default()
    });
    // DNS rebinding: a page on evil.example resolved to 127.0.0.1.
    for host in ["evil.example:3777", "evil.example", "127.0.0.1.evil.example"] {
        let mut r = post_json(req("POST", LOOPBACK));
        r.headers_mut().insert(HOST, host.parse().unwrap());
        hub.send(r).await.refused(StatusCode::FORBIDDEN, "AUTH_FAILED");
    }
    // Two Host headers (RFC 9112 §3.2), the second one foreign.
    let r = post_json(req("POST", LOOPBACK).header(HOST, "evil.example"));
    hub.send(r).await.refused(StatusCode::FORBIDDEN, "AUTH_FAILED");
    let mut no_host = post_json(req("POST", LOOPBACK));
    no_host.headers_mut().remove(HOST);
    hub.send(no_host).await.refused(StatusCode::FORBIDDEN, "AUTH_FAILED");
    for host in [
        "localhost:3777",
        "[::1]:3777",
        "127.0.0.2",
        "Relay.Example.com",
        "relay.example.com:443",
    ] {
        let mut r = post_json(req("POST", LOOPBACK));
        r.headers_mut().insert(HOST, host.parse().unwrap());
        assert_eq!(hub.send(r).await.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn a_wildcard_bind_without_allowed_hosts_accepts_any_host() {
    let hub = hub(HttpSettings {
        host: "0.0.0.0".into(),
        ..with_secret()
    });
    let mut r = post_json(req("POST", "192.0.2.1:4000").header(RELAY_SECRET, SECRET));
    r.headers_mut().insert(HOST, "hub.lan:3777".parse().unwrap());
    assert_eq!(hub.send(r).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_missing_or_wrong_secret_is_refused_with_401() {
    let hub = hub(with_secret());
    let r = hub.send(post_json(req("POST", LOOPBACK))).await;
    r.refused(StatusCode::UNAUTHORIZED, "AUTH_FAILED");
    assert!(r.headers.get(WWW_AUTHENTICATE).is_some());
    for (name, value) in [
        (AUTHORIZATION, "Bearer wrong-secret-0123456789".to_owned()),
        (AUTHORIZATION, format!("Basic {SECRET}")),
        (AUTHORIZATION, SECRET.to_owned()),
        (RELAY_SECRET, format!("{SECRET}x")),
        (RELAY_SECRET, SECRET[..10].to_owned()),
    ] {
        let r = hub
            .send(post_json(req("POST", LOOPBACK).header(name.clone(), value.clone())))
            .await;
        r.refused(StatusCode::UNAUTHORIZED, "AUTH_FAILED");
    }
    // The right one, either way (the scheme is case-insensitive).
    for (name, value) in [
        (AUTHORIZATION, format!("bearer {SECRET}")),
        (RELAY_SECRET, SECRET.to_owned()),
    ] {
        let r = hub.send(post_json(req("POST", LOOPBACK).header(name, value))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
}

#[tokio::test]
async fn a_previous_secret_passes_and_is_marked_deprecated() {
    let hub = hub(with_secret());
    for (name, value) in [
        (AUTHORIZATION, format!("Bearer {OLD_SECRET}")),
        (RELAY_SECRET, OLD_SECRET.to_owned()),
    ] {
        let r = hub.send(post_json(req("POST", LOOPBACK).header(name, value))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.headers.get(SECRET_DEPRECATED).unwrap(), "true");
    }
}

#[tokio::test]
async fn without_a_configured_secret_no_secret_is_checked() {
    let hub = hub(HttpSettings::default());
    let r = hub
        .send(post_json(
            req("POST", LOOPBACK).header(AUTHORIZATION, "Bearer anything"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn a_non_loopback_hub_without_a_secret_cannot_be_built() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("relay.db"), Arc::new(SystemClock), Limits::default()).unwrap());
    let http = HttpSettings {
        host: "0.0.0.0".into(),
        ..HttpSettings::default()
    };
    assert_eq!(Access::new(&http, store).unwrap_err().code, ErrorCode::Validation);
}

#[tokio::test]
async fn an_ip_over_its_rate_gets_429_with_retry_after() {
    let mut http = HttpSettings::default();
    http.rate_limit.per_ip = rate(1, 2);
    http.rate_limit.loopback = true;
    let hub = hub(http);
    for _ in 0..2 {
        assert_eq!(hub.send(post_json(req("POST", LOOPBACK))).await.status, StatusCode::OK);
    }
    let r = hub.send(post_json(req("POST", LOOPBACK))).await;
    r.refused(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry: u64 = r.headers.get(RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "{retry}");
    // Another address has its own bucket.
    assert_eq!(
        hub.send(post_json(req("POST", "127.0.0.2:1"))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn loopback_clients_are_not_rate_limited_by_default() {
    let mut http = with_secret();
    http.rate_limit.per_ip = rate(1, 1);
    http.rate_limit.per_agent = rate(1, 1);
    let hub = hub(http);
    let token = hub.register("alice");
    for _ in 0..20 {
        let r = hub
            .send(post_json(
                req("POST", LOOPBACK)
                    .header(RELAY_SECRET, SECRET)
                    .header(AGENT_TOKEN, &token),
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
    // A remote client is.
    let remote = || post_json(req("POST", "198.51.100.7:1").header(RELAY_SECRET, SECRET));
    assert_eq!(hub.send(remote()).await.status, StatusCode::OK);
    hub.send(remote())
        .await
        .refused(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
}

#[tokio::test]
async fn an_agent_over_its_rate_gets_429_from_any_address() {
    let mut http = HttpSettings::default();
    http.rate_limit.per_agent = rate(1, 2);
    http.rate_limit.loopback = true;
    let hub = hub(http);
    let alice = hub.register("alice");
    let bob = hub.register("bob");
    for peer in ["127.0.0.1:1", "127.0.0.2:1"] {
        let r = hub.send(post_json(req("POST", peer).header(AGENT_TOKEN, &alice))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = hub
        .send(post_json(req("POST", "127.0.0.3:1").header(AGENT_TOKEN, &alice)))
        .await;
    r.refused(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(r.headers.get(RETRY_AFTER).is_some());
    assert!(r.json["error"]["message"].as_str().unwrap().contains("alice"));
    let r = hub
        .send(post_json(req("POST", LOOPBACK).header(AGENT_TOKEN, &bob)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let mut http = HttpSettings {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..HttpSettings::default()
    };
    http.rate_limit.per_ip = rate(1, 1);
    let hub = hub(http);
    let via = |peer: &str, xff: &str| post_json(req("POST", peer).header("x-forwarded-for", xff));
    // Through the trusted proxy: the forwarded client, not the proxy.
    let r = hub.send(via(LOOPBACK, "6.6.6.6, 203.0.113.9")).await;
    assert_eq!(r.json["client_ip"], "203.0.113.9");
    // Limited as that client (no loopback exemption for it) ...
    hub.send(via(LOOPBACK, "203.0.113.9"))
        .await
        .refused(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // ... while another forwarded client has its own bucket.
    assert_eq!(hub.send(via(LOOPBACK, "203.0.113.10")).await.status, StatusCode::OK);
    // From an untrusted peer the header is ignored.
    let r = hub.send(via("127.0.0.9:1", "203.0.113.11")).await;
    assert_eq!(r.json["client_ip"], "127.0.0.9");
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_with_413_before_reading() {
    let hub = hub(HttpSettings {
        max_body_bytes: 64,
        ..HttpSettings::default()
    });
    // The body is never read: its declared length alone is refused.
    let r = req("POST", LOOPBACK)
        .header(CONTENT_LENGTH, "65")
        .body(Body::from_stream(futures::stream::pending::<
            Result<Bytes, std::io::Error>,
        >()))
        .unwrap();
    let r = hub.send(r).await;
    r.refused(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    assert_eq!(r.json["error"]["code"], INVALID_REQUEST);
    let body = "x".repeat(64);
    let ok = req("POST", LOOPBACK)
        .header(CONTENT_LENGTH, 64)
        .body(Body::from(body))
        .unwrap();
    assert_eq!(hub.send(ok).await.json["body_bytes"], 64);
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused_with_413() {
    let hub = hub(HttpSettings {
        max_body_bytes: 64,
        ..HttpSettings::default()
    });
    let chunks = |n: usize| {
        let parts: Vec<Result<Bytes, std::io::Error>> = (0..n).map(|_| Ok(Bytes::from_static(b"0123456789"))).collect();
        Body::from_stream(futures::stream::iter(parts))
    };
    let r = hub.send(req("POST", LOOPBACK).body(chunks(7)).unwrap()).await;
    r.refused(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // Under the cap the body arrives whole.
    let r = hub.send(req("POST", LOOPBACK).body(chunks(6)).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["body_bytes"], 60);
}

#[tokio::test]
async fn an_unknown_malformed_or_revoked_token_is_refused_with_401() {
    let hub = hub(HttpSettings::default());
    let token = hub.register("alice");
    for bad in [
        crate::token::generate(),
        "rly_short".into(),
        "".into(),
        token.to_uppercase(),
    ] {
        let r = hub
            .send(post_json(req("POST", LOOPBACK).header(AGENT_TOKEN, &bad)))
            .await;
        r.refused(StatusCode::UNAUTHORIZED, "AUTH_FAILED");
    }
    hub.store
        .write(|tx, _| Ok(tx.execute("UPDATE agents SET auth_state = 'revoked' WHERE name = 'alice'", [])?))
        .unwrap();
    let r = hub
        .send(post_json(req("POST", LOOPBACK).header(AGENT_TOKEN, &token)))
        .await;
    r.refused(StatusCode::UNAUTHORIZED, "AUTH_FAILED");
    assert!(r.json["error"]["message"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn a_request_without_a_peer_address_is_never_let_through() {
    let hub = hub(HttpSettings::default());
    let r = Request::builder()
        .method("POST")
        .uri("/mcp")
        .header(HOST, "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(hub.send(r).await.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn health_needs_no_auth_and_names_nobody() {
    let hub = hub(with_secret());
    hub.register("alice");
    let r = hub
        .send(Request::builder().uri("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["relay_version"], env!("CARGO_PKG_VERSION"));
    let revisions = r.json["protocol_revisions"].as_array().unwrap();
    assert_eq!(revisions[0], "2026-07-28");
    assert!(revisions.contains(&"2025-11-25".into()));
    assert_eq!(r.json["counts"]["agents"], 1);
    assert!(r.json["uptime_seconds"].is_u64());
    assert!(!r.json.to_string().contains("alice"));
}

#[tokio::test]
async fn snapshot_needs_the_secret_even_on_loopback() {
    let snapshot = |b: http::request::Builder| empty(b.method("GET").uri("/api/snapshot"));
    let hub = hub(with_secret());
    hub.register("alice");
    hub.send(snapshot(req("GET", LOOPBACK)))
        .await
        .refused(StatusCode::UNAUTHORIZED, "AUTH_FAILED");
    let r = hub
        .send(snapshot(
            req("GET", LOOPBACK).header(AUTHORIZATION, format!("Bearer {SECRET}")),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["agents"][0]["name"], "alice");
    assert_eq!(r.json["agents"][0]["presence"], "online");
    assert!(r.json["open_tasks"].is_array() && r.json["channels"].is_array());
    assert!(r.json["recent_events"][0]["kind"].is_string());
    let r = hub
        .send(snapshot(req("GET", LOOPBACK).header(RELAY_SECRET, OLD_SECRET)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get(SECRET_DEPRECATED).unwrap(), "true");
    // The guard runs first: a foreign Origin is refused before the secret is asked for.
    hub.send(snapshot(req("GET", LOOPBACK).header(ORIGIN, "http://evil.example")))
        .await
        .refused(StatusCode::FORBIDDEN, "AUTH_FAILED");

    let open = self::hub(HttpSettings::default());
    let r = open.send(snapshot(req("GET", LOOPBACK))).await;
    r.refused(StatusCode::FORBIDDEN, "AUTH_FAILED");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RELAY_HTTP_SECRET")
    );
}

/// The head of a dashboard request from loopback with `headers`.
fn public_headers(headers: &[(HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("127.0.0.1:3777"));
    for (name, value) in headers {
        h.append(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    h
}

#[test]
fn the_public_guard_decides_the_viewer_once_from_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("relay.db"), Arc::new(SystemClock), Limits::default()).unwrap());
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let access = Access::new(&with_secret(), store.clone()).unwrap();
    let viewer = |headers: &[(HeaderName, &str)]| {
        access
            .admit_public(&public_headers(headers), peer)
            .map(|(v, deprecated)| (v.viewer, deprecated))
            .map_err(|r| r.status)
    };
    assert_eq!(viewer(&[]), Ok((Viewer::Counts, false)));
    assert_eq!(viewer(&[(RELAY_SECRET, SECRET)]), Ok((Viewer::Operator, false)));
    let bearer = format!("Bearer {SECRET}");
    assert_eq!(viewer(&[(AUTHORIZATION, &bearer)]), Ok((Viewer::Operator, false)));
    assert_eq!(viewer(&[(RELAY_SECRET, OLD_SECRET)]), Ok((Viewer::Operator, true)));
    assert_eq!(viewer(&[(RELAY_SECRET, "wrong")]), Err(StatusCode::UNAUTHORIZED));
    // An agent token is no secret: still a counts viewer, and not looked up.
    assert_eq!(viewer(&[(AGENT_TOKEN, "rly_unknown")]), Ok((Viewer::Counts, false)));
    let foreign = {
        let mut h = public_headers(&[(RELAY_SECRET, SECRET)]);
        h.insert(HOST, HeaderValue::from_static("evil.example"));
        h
    };
    assert_eq!(
        access.admit_public(&foreign, peer).unwrap_err().status,
        StatusCode::FORBIDDEN
    );

    // A hub without a secret has counts viewers only, whatever they send.
    let open = Access::new(&HttpSettings::default(), store).unwrap();
    let (visitor, _) = open
        .admit_public(&public_headers(&[(RELAY_SECRET, SECRET)]), peer)
        .unwrap();
    assert_eq!((visitor.viewer, visitor.hub_has_secret), (Viewer::Counts, false));
}
