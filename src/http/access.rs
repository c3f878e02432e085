//! The hub's front door (SPEC §7): every request to `/mcp` and `/api/*`
//! passes [`guard`] before any handler runs, and handlers learn who is
//! calling from the [`Identity`] it leaves in the request's extensions
//! (an axum extractor); no handler reads an access header itself.
//!
//! [`guard`] checks, in this order, answering the first failure at once:
//!
//! 1. **Host and Origin** (DNS-rebinding protection, MCP 2025-11-25
//!    basic/transports §"Security Warning": servers must validate
//!    `Origin` and answer 403 to an invalid one). `Host` must name a
//!    loopback name (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`), the
//!    bound host or an `allowed_hosts` entry; a wildcard bind (`0.0.0.0`,
//!    `::`) with no `allowed_hosts` accepts any `Host`, since a secret is
//!    mandatory there. A request carrying `Origin` must come from the
//!    hub's own origin (`scheme://` + its `Host`) or an `allowed_origins`
//!    entry. Refused: 403 `AUTH_FAILED`.
//! 2. **Hub secret** (when one is configured): `Authorization: Bearer
//!    SECRET` or `X-Relay-Secret: SECRET`, compared in constant time (as
//!    SHA-256 digests, so not even the length leaks). A `previous_secrets`
//!    entry is accepted and the response carries
//!    `X-Relay-Secret-Deprecated: true`. Missing or wrong: 401
//!    `AUTH_FAILED` with `WWW-Authenticate: Bearer`.
//! 3. **Client IP and per-IP rate limit**: the peer address, or, when the
//!    peer is a `trusted_proxies` entry, the right-most untrusted
//!    `X-Forwarded-For` hop ([`super::proxy`]). Over the limit: 429
//!    `RATE_LIMITED` with `Retry-After` (RFC 6585 §4). Loopback clients
//!    are not limited unless `[http.rate_limit] loopback = true`.
//! 4. **Agent token**: `X-Agent-Token` names the agent (a read-only
//!    lookup by the token's SHA-256, [`crate::store::tokens`]; never the
//!    store's writer connection). Unknown, malformed or revoked: 401
//!    `AUTH_FAILED`. Over the per-agent limit: 429. Without the header
//!    the request is anonymous ([`Identity::agent`] is `None`) and the
//!    MCP layer allows only `health_check` and `register_agent`.
//! 5. **Body cap** = the JSON-RPC line limit (`max_line_bytes`, SPEC §8):
//!    a `Content-Length` over it gets 413 `PAYLOAD_TOO_LARGE` before a
//!    byte is read; a body without one (chunked) is read up to the cap
//!    and refused with 413 as soon as it passes it.
//!
//! The dashboard's routes pass [`guard_public`] instead: checks 1, 3 and 5
//! (the same code), with the secret optional: it decides the [`Viewer`]
//! (none: counts; the right one: operator; a wrong one: 401), and
//! operator-only routes take the [`Operator`] extractor (403 on a hub
//! without a secret, 401 without it).
//!
//! Every refusal is a JSON-RPC error object with `"id": null` and the
//! `error_code` in `error.data` ([`Refusal`]); nothing is stored and the
//! hub keeps serving.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::proxy;
use super::ratelimit::{Limiter, retry_after_seconds};
use crate::config::{self, HttpSettings};
use crate::error::{Error, ErrorCode, Result};
use crate::mcp::session::{RequestAgent, with_request_agent};
use crate::store::Store;
use crate::store::dashboard::Viewer;
use crate::store::tokens::TokenLookup;

/// The header naming the calling agent: its token (SPEC §2).
pub const AGENT_TOKEN: HeaderName = HeaderName::from_static("x-agent-token");
/// The header that may carry the hub secret instead of `Authorization`.
pub const RELAY_SECRET: HeaderName = HeaderName::from_static("x-relay-secret");
/// Set to `true` on responses to a request that used a previous secret.
pub const SECRET_DEPRECATED: HeaderName = HeaderName::from_static("x-relay-secret-deprecated");

/// JSON-RPC error code of a refusal (401, 403, 429): in the range JSON-RPC
/// 2.0 §5.1 leaves to servers. `error.data.error_code` says which.
pub const REFUSED: i32 = -32001;
/// JSON-RPC "Invalid Request", for a body over the cap (as the stdio
/// transport answers an oversized line).
pub const INVALID_REQUEST: i32 = -32600;
/// JSON-RPC "Internal error", for a store that cannot be read.
pub const INTERNAL_ERROR: i32 = -32603;

/// Who is calling: put into the request's extensions by [`guard`] for
/// every request it lets through. Handlers take it as an extractor
/// argument (it implements [`FromRequestParts`]); rmcp copies the
/// request's `http::request::Parts` into each MCP request context, so a
/// tool handler reads `parts.extensions.get::<Identity>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The agent `X-Agent-Token` belongs to; `None` for an anonymous
    /// request (no token).
    pub agent: Option<String>,
    /// The client's address: the peer, or the forwarded client behind a
    /// trusted proxy.
    pub client_ip: IpAddr,
}

/// The access layer's shared state: settings, token lookups and rate
/// limiters. Build one per hub and share it as `Arc<Access>`.
pub struct Access {
    http: HttpSettings,
    store: Arc<Store>,
    tokens: TokenLookup,
    /// SHA-256 of the current secret.
    secret: Option<[u8; 32]>,
    /// SHA-256 of each previous secret.
    previous: Vec<[u8; 32]>,
    /// Any `Host` is accepted (`allowed_hosts = ["*"]`, or a wildcard bind
    /// without `allowed_hosts`).
    any_host: bool,
    per_ip: Limiter<IpAddr>,
    per_agent: Limiter<String>,
    started: Instant,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("http", &self.http)
            .field("per_ip", &self.per_ip)
            .field("per_agent", &self.per_agent)
            .finish_non_exhaustive()
    }
}

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

impl Access {
    /// The access layer for a hub with settings `http` (bound to
    /// `http.host`; assign `--host` there first) over `store`. Opens the
    /// read-only token lookups on the store's file.
    ///
    /// Errors: those of [`TokenLookup::open`]; [`ErrorCode::Validation`]
    /// when `http.host` is not loopback and no secret is configured
    /// ([`HttpSettings::check_bind`]).
    pub fn new(http: &HttpSettings, store: Arc<Store>) -> Result<Self> {
        http.check_bind(&http.host)?;
        let tokens = TokenLookup::open(&store)?;
        let wildcard = http.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        Ok(Self {
            secret: http.secret.as_ref().map(|s| digest(s.expose())),
            previous: http.previous_secrets.iter().map(|s| digest(s.expose())).collect(),
            any_host: http.allowed_hosts.iter().any(|h| h == "*") || (wildcard && http.allowed_hosts.is_empty()),
            per_ip: Limiter::new(http.rate_limit.per_ip),
            per_agent: Limiter::new(http.rate_limit.per_agent),
            http: http.clone(),
            store,
            tokens,
            started: Instant::now(),
        })
    }

    /// The settings this layer enforces.
    pub fn settings(&self) -> &HttpSettings {
        &self.http
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// How long an idle MCP session lives (`idle_session_seconds`), for
    /// rmcp's session manager.
    pub fn idle_session(&self) -> Duration {
        Duration::from_secs(self.http.idle_session_seconds)
    }

    /// Time since [`Access::new`] (the hub's uptime).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The agent `token` belongs to now ([`TokenLookup::agent_for`]).
    ///
    /// Errors: as [`TokenLookup::agent_for`].
    pub fn token_agent(&self, token: &str) -> Result<String> {
        self.tokens.agent_for(token)
    }

    /// Whether a hub secret is configured.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Checks 1–4 of the module doc on a request's head. `peer` is the TCP
    /// peer. Returns who is calling and whether a previous secret was used.
    ///
    /// Errors: the [`Refusal`] to answer with.
    pub fn admit(&self, headers: &HeaderMap, peer: IpAddr) -> Result<(Identity, bool), Refusal> {
        self.check_host_and_origin(headers)?;
        let deprecated = match self.secret {
            None => false,
            Some(_) => self.check_secret(headers)?,
        };
        let (client_ip, limited) = self.check_client_ip(headers, peer)?;
        let agent = match headers.get(AGENT_TOKEN) {
            None => None,
            Some(value) => {
                let token = value.to_str().unwrap_or_default().trim();
                let agent = self.tokens.agent_for(token).map_err(Refusal::from_error)?;
                if limited && let Err(wait) = self.per_agent.check(&agent) {
                    return Err(Refusal::rate_limited(
                        format!("too many requests from agent {agent:?}"),
                        wait,
                    ));
                }
                Some(agent)
            }
        };
        Ok((Identity { agent, client_ip }, deprecated))
    }

    /// The public checks for the dashboard ([`guard_public`]): 1 (Host
    /// and Origin) and 3 (client IP, per-IP limit) of the module doc, and
    /// the secret only to decide the [`Viewer`]: none sent, or a hub
    /// without one, is [`Viewer::Counts`]; the current or a previous
    /// secret is [`Viewer::Operator`] (with whether it was a previous
    /// one). No agent token is looked at.
    ///
    /// Errors: the [`Refusal`] to answer with (403, 429, and 401 for a
    /// secret that is sent and wrong).
    pub fn admit_public(&self, headers: &HeaderMap, peer: IpAddr) -> Result<(Visitor, bool), Refusal> {
        self.check_host_and_origin(headers)?;
        let (viewer, deprecated) = match self.secret {
            None => (Viewer::Counts, false),
            Some(_) => match self.presented_secret(headers) {
                Presented::None => (Viewer::Counts, false),
                _ => (Viewer::Operator, self.check_secret(headers)?),
            },
        };
        let (client_ip, _) = self.check_client_ip(headers, peer)?;
        let visitor = Visitor {
            viewer,
            hub_has_secret: self.has_secret(),
            client_ip,
        };
        Ok((visitor, deprecated))
    }

    /// Check 3: the client's address and whether it is rate limited, or
    /// the 429 refusal.
    fn check_client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> Result<(IpAddr, bool), Refusal> {
        let client_ip = proxy::client_ip(peer, headers, &self.http.trusted_proxies);
        let limited = self.http.rate_limit.loopback || !client_ip.is_loopback();
        if limited && let Err(wait) = self.per_ip.check(&client_ip) {
            return Err(Refusal::rate_limited(
                format!("too many requests from {client_ip}"),
                wait,
            ));
        }
        Ok((client_ip, limited))
    }

    fn check_host_and_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if headers.get_all(HOST).iter().nth(1).is_some() {
            // RFC 9112 §3.2: a request with more than one Host is invalid.
            return Err(Refusal::forbidden("the request has more than one Host header"));
        }
        let host_header = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let Some(host_header) = host_header else {
            return Err(Refusal::forbidden("the request has no Host header"));
        };
        let host = config::split_host_port(host_header).map(|(h, _)| h.to_ascii_lowercase());
        let allowed = host.as_deref().is_some_and(|h| {
            self.any_host
                || config::is_loopback_host(h)
                || h == self.http.host
                || self.http.allowed_hosts.iter().any(|a| a == h)
        });
        if !allowed {
            return Err(Refusal::forbidden(format!(
                "Host {host_header:?} is not allowed (DNS-rebinding protection); add it to [http] allowed_hosts"
            )));
        }
        let Some(origin) = headers.get(ORIGIN) else {
            return Ok(());
        };
        let origin_text = origin.to_str().unwrap_or_default();
        let same_origin = |scheme: &str| config::normalize_origin(&format!("{scheme}://{host_header}"));
        let ok = config::normalize_origin(origin_text).is_some_and(|o| {
            self.http.allowed_origins.contains(&o)
                || same_origin("http").as_ref() == Some(&o)
                || same_origin("https").as_ref() == Some(&o)
        });
        if ok {
            Ok(())
        } else {
            Err(Refusal::forbidden(format!(
                "Origin {origin_text:?} is not allowed to call this hub; add it to [http] allowed_origins"
            )))
        }
    }

    /// Whether the request's secret is a previous one (the current one:
    /// `false`).
    fn check_secret(&self, headers: &HeaderMap) -> Result<bool, Refusal> {
        match self.presented_secret(headers) {
            Presented::Current => Ok(false),
            Presented::Previous => Ok(true),
            Presented::None => Err(Refusal::unauthorized(
                "this hub needs its secret: send `Authorization: Bearer SECRET` or `X-Relay-Secret: SECRET`",
            )),
            Presented::Wrong => Err(Refusal::unauthorized(
                "the hub secret does not match; check RELAY_HTTP_SECRET or [http] secret on both sides",
            )),
        }
    }

    /// Which secret the request carries, compared in constant time.
    fn presented_secret(&self, headers: &HeaderMap) -> Presented {
        let candidates = headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .chain(
                headers
                    .get_all(RELAY_SECRET)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(str::trim),
            );
        let (mut current, mut previous, mut any) = (false, false, false);
        for candidate in candidates {
            any = true;
            let d = digest(candidate.as_bytes());
            if let Some(s) = &self.secret {
                current |= bool::from(s.ct_eq(&d));
            }
            for p in &self.previous {
                previous |= bool::from(p.ct_eq(&d));
            }
        }
        match (current, previous, any) {
            (true, _, _) => Presented::Current,
            (false, true, _) => Presented::Previous,
            (false, false, false) => Presented::None,
            (false, false, true) => Presented::Wrong,
        }
    }

    /// Check 5: `req` with its body capped at `max_body_bytes`, or the
    /// 413 refusal. A body without a `Content-Length` is read into memory
    /// (at most the cap) first.
    pub async fn cap_body(&self, req: Request) -> Result<Request, Refusal> {
        let limit = self.http.max_body_bytes;
        let too_large = || {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_REQUEST,
                Error::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the request body exceeds the limit of {limit} bytes ([limits] max_line_bytes)"),
                ),
            )
        };
        if let Some(len) = req.headers().get(CONTENT_LENGTH) {
            return match len.to_str().ok().and_then(|l| l.parse::<u64>().ok()) {
                Some(n) if n > limit as u64 => Err(too_large()),
                // hyper holds the body to its Content-Length.
                Some(_) => Ok(req),
                None => Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    INVALID_REQUEST,
                    Error::validation("Content-Length is not a number"),
                )),
            };
        }
        if req.body().size_hint().upper().is_some_and(|n| n <= limit as u64) {
            return Ok(req);
        }
        let (parts, body) = req.into_parts();
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    INVALID_REQUEST,
                    Error::validation(format!("the request body could not be read: {e}")),
                )
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Request::from_parts(parts, Body::from(buf)))
    }
}

/// The peer address axum recorded (`into_make_service_with_connect_info`).
fn peer_of(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The access middleware for `/mcp` and `/api/*` (install with
/// `axum::middleware::from_fn_with_state(access, guard)`): runs the five
/// checks of the module doc and, when they pass, hands the request on
/// with its [`Identity`] in the extensions (and, for the MCP layer, the
/// agent as [`RequestAgent`] and as the task's
/// [`request_agent`](crate::mcp::session::request_agent)). The peer address comes from
/// `ConnectInfo<SocketAddr>`; without it the request is refused (500),
/// never let through unchecked.
pub async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let Some(peer) = peer_of(&req) else {
        return Refusal::no_peer().into_response();
    };
    let (identity, deprecated) = match access.admit(req.headers(), peer) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let agent = identity.agent.clone();
    req.extensions_mut().insert(RequestAgent(agent.clone()));
    req.extensions_mut().insert(identity);
    pass(&access, req, deprecated, |req| with_request_agent(agent, next.run(req))).await
}

/// The public access middleware for the dashboard (install with
/// `axum::middleware::from_fn_with_state(access, guard_public)`): the
/// same Host/Origin, client IP, rate limit and body cap checks as
/// [`guard`] ([`Access::admit_public`]), but the secret is not
/// mandatory: it decides the [`Viewer`], once, and a wrong one is 401.
/// Leaves a [`Visitor`] (and an anonymous [`Identity`]) in the request's
/// extensions.
pub async fn guard_public(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let Some(peer) = peer_of(&req) else {
        return Refusal::no_peer().into_response();
    };
    let (visitor, deprecated) = match access.admit_public(req.headers(), peer) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    req.extensions_mut().insert(Identity {
        agent: None,
        client_ip: visitor.client_ip,
    });
    req.extensions_mut().insert(visitor);
    pass(&access, req, deprecated, |req| next.run(req)).await
}

/// The common tail of both guards: check 5 (body cap), then `run`, then
/// the deprecated-secret header.
async fn pass<F: Future<Output = Response>>(
    access: &Access,
    req: Request,
    deprecated: bool,
    run: impl FnOnce(Request) -> F,
) -> Response {
    let req = match access.cap_body(req).await {
        Ok(req) => req,
        Err(refusal) => return refusal.into_response(),
    };
    let mut response = run(req).await;
    if deprecated {
        response
            .headers_mut()
            .insert(SECRET_DEPRECATED, HeaderValue::from_static("true"));
    }
    response
}

/// Which secret a request carries.
enum Presented {
    /// None.
    None,
    /// The current secret.
    Current,
    /// A `previous_secrets` entry.
    Previous,
    /// Something else.
    Wrong,
}

/// A dashboard request as [`guard_public`] admitted it; an extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor {
    /// What it may see.
    pub viewer: Viewer,
    /// Whether the hub has a secret at all.
    pub hub_has_secret: bool,
    /// The client's address.
    pub client_ip: IpAddr,
}

/// A dashboard request that carries the hub secret: the extractor of
/// operator-only routes. Rejections: 403 `AUTH_FAILED` when the hub has
/// no secret (nobody is an operator there), 401 `AUTH_FAILED` when the
/// request carries none (a wrong one was refused by [`guard_public`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator(pub Visitor);

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Refusal;

    /// The [`Visitor`] [`guard_public`] recorded. Rejection (500): the
    /// route is not behind [`guard_public`].
    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Visitor>().copied().ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                INTERNAL_ERROR,
                Error::internal("this route is not behind the public access guard"),
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match (visitor.hub_has_secret, visitor.viewer) {
            (false, _) => Err(Refusal::forbidden(
                "the dashboard shows content only with the hub secret and this hub has none; \
                 set RELAY_HTTP_SECRET or [http] secret_file",
            )),
            (true, Viewer::Counts) => Err(Refusal::unauthorized(
                "this needs the hub secret: send `Authorization: Bearer SECRET` or `X-Relay-Secret: SECRET`",
            )),
            (true, Viewer::Operator) => Ok(Self(visitor)),
        }
    }
}

/// Middleware for endpoints that always need the hub secret
/// (`/api/snapshot`), layered inside [`guard`]: refuses with 403
/// `AUTH_FAILED` when the hub has no secret configured (a loopback hub
/// without one serves no snapshot: set one to use it), and with 401 when
/// the request does not carry it.
pub async fn require_secret(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    if !access.has_secret() {
        return Refusal::forbidden(
            "this endpoint needs the hub secret and none is configured; set RELAY_HTTP_SECRET or [http] secret_file",
        )
        .into_response();
    }
    let deprecated = match access.check_secret(req.headers()) {
        Ok(d) => d,
        Err(refusal) => return refusal.into_response(),
    };
    let mut response = next.run(req).await;
    if deprecated {
        response
            .headers_mut()
            .insert(SECRET_DEPRECATED, HeaderValue::from_static("true"));
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Refusal;

    /// The [`Identity`] [`guard`] recorded. Rejection (500): the route is
    /// not behind [`guard`].
    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                INTERNAL_ERROR,
                Error::internal("this route is not behind the access guard"),
            )
        })
    }
}

/// A request the access layer refuses: an HTTP status and a JSON-RPC
/// error body,
/// `{"jsonrpc":"2.0","id":null,"error":{"code":C,"message":M,"data":{"error_code":E,"error":M}}}`,
/// plus `Retry-After` (429) or `WWW-Authenticate` (401).
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON-RPC error code ([`REFUSED`], [`INVALID_REQUEST`],
    /// [`INTERNAL_ERROR`]).
    pub code: i32,
    /// The relay error (`error_code` and message).
    pub error: Error,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// A refusal with `status`, JSON-RPC `code` and `error`.
    pub fn new(status: StatusCode, code: i32, error: Error) -> Self {
        Self {
            status,
            code,
            error,
            retry_after: None,
        }
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            REFUSED,
            Error::new(ErrorCode::AuthFailed, message),
        )
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            REFUSED,
            Error::new(ErrorCode::AuthFailed, message),
        )
    }

    fn rate_limited(what: String, wait: Duration) -> Self {
        let seconds = retry_after_seconds(wait);
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                REFUSED,
                Error::new(
                    ErrorCode::RateLimited,
                    format!("{what}; retry in {seconds} s (see Retry-After)"),
                ),
            )
        }
    }

    fn no_peer() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL_ERROR,
            Error::internal("the hub does not know the peer address; serve with connect info"),
        )
    }

    /// A token lookup failure: 401 for [`ErrorCode::AuthFailed`], 503 for
    /// a store that stayed locked, 500 otherwise.
    fn from_error(error: Error) -> Self {
        match error.code {
            ErrorCode::AuthFailed => Self::new(StatusCode::UNAUTHORIZED, REFUSED, error),
            ErrorCode::Timeout => Self::new(StatusCode::SERVICE_UNAVAILABLE, INTERNAL_ERROR, error),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR, error),
        }
    }

    /// The JSON-RPC error body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {
                "code": self.code,
                "message": self.error.message,
                "data": self.error.to_json(),
            }
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), code = %self.error.code, error = %self.error.message, "http request refused");
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"relay\""));
        }
        response
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
