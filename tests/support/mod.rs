//! Test harness: a temporary store, `relay serve` child processes, and
//! clients that talk to them — rmcp's MCP client, or raw JSON-RPC lines for
//! protocol-level cases.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

/// Variables a developer's shell may set that would change what a spawned
/// relay does; every spawned process has them removed.
pub const SCRUBBED_ENV: [&str; 10] = [
    "RELAY_AGENT",
    "RELAY_ROLE",
    "RELAY_CAPABILITIES",
    "RELAY_ENCRYPTION_KEYRING",
    "RELAY_ENCRYPTION_KEYRING_PATH",
    // Loopback hubs need no secret; a developer's must not apply.
    "RELAY_HTTP_SECRET",
    // Remote clients (issue 11) must not reach a developer's hub.
    "RELAY_HUB",
    "RELAY_AGENT_TOKEN",
    "RELAY_DB",
    // Set per installation below (Relay::advance_clock).
    "RELAY_TEST_CLOCK_FILE",
];

/// The clock file ([`relay::clock::TEST_CLOCK_ENV`]) of the installation
/// whose config file is `config`.
pub fn clock_file(config: &Path) -> PathBuf {
    config.with_file_name("clock")
}

/// The `relay` binary under test.
pub fn relay_bin() -> &'static str {
    env!("CARGO_BIN_EXE_relay")
}

/// A throwaway relay installation: a temp dir holding the store.
pub struct Relay {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Relay {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("relay.db");
        // An empty config of its own: a developer's ~/.config/relay must
        // not change what the tests see.
        std::fs::write(dir.path().join("empty-config.toml"), "").expect("config");
        Self { dir, db }
    }

    /// Moves the clock of every relay process this installation spawned
    /// (and spawns) forward by `ms` milliseconds
    /// ([`relay::clock::OffsetFileClock`]); they follow within about
    /// [`relay::clock::OFFSET_REFRESH_MS`].
    pub fn advance_clock(&self, ms: i64) {
        let path = clock_file(&self.config());
        let now: i64 = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, (now + ms).to_string()).expect("write the clock file");
        std::fs::rename(&tmp, &path).expect("replace the clock file");
    }

    /// The empty config file every spawned relay gets (`RELAY_CONFIG`).
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("empty-config.toml")
    }

    /// `relay serve --agent NAME [--capabilities ...]` with an MCP client attached.
    pub async fn agent(&self, name: &str, caps: &[&str]) -> Client {
        let mut args = vec!["--agent".to_string(), name.to_string()];
        if !caps.is_empty() {
            args.push("--capabilities".into());
            args.push(caps.join(","));
        }
        self.serve(&args).await
    }

    /// `relay serve ARGS...` with an MCP client attached.
    pub async fn serve<S: AsRef<str>>(&self, args: &[S]) -> Client {
        self.serve_env(args, &[]).await
    }

    /// `relay serve ARGS...` with extra environment variables.
    pub async fn serve_env<S: AsRef<str>>(&self, args: &[S], env: &[(&str, &str)]) -> Client {
        self.serve_with(args, env, ()).await
    }

    /// `relay serve ARGS...` whose client records the notifications it gets.
    pub async fn listen<S: AsRef<str>>(&self, args: &[S]) -> Client<Recorder> {
        self.serve_with(args, &[], Recorder::default()).await
    }

    async fn serve_with<S: AsRef<str>, H: rmcp::ClientHandler>(
        &self,
        args: &[S],
        env: &[(&str, &str)],
        handler: H,
    ) -> Client<H> {
        let db = self.db.clone();
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = self.config();
        let cmd = tokio::process::Command::new(relay_bin()).configure(|c| {
            c.arg("--db").arg(&db).arg("serve").args(&args);
            for var in SCRUBBED_ENV {
                c.env_remove(var);
            }
            c.env("RELAY_CONFIG", &config);
            c.env(relay::clock::TEST_CLOCK_ENV, clock_file(&config));
            c.envs(env.iter().map(|(k, v)| (k, v)));
        });
        let (transport, _stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn relay serve");
        let service = handler.serve(transport).await.expect("MCP initialize");
        Client { service }
    }

    /// `relay --db DB ARGS...` with this installation's config and clock,
    /// the developer's relay variables removed and stdin empty, not yet
    /// run: for the operator's one-shot commands.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(relay_bin());
        cmd.env_clear_relay()
            .env("RELAY_CONFIG", self.config())
            .env(relay::clock::TEST_CLOCK_ENV, clock_file(&self.config()))
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `relay --db DB worker ARGS...`, not yet started.
    pub fn worker(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(relay_bin());
        cmd.arg("--db").arg(&self.db).arg("worker").args(args);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("RELAY_CONFIG", self.config())
            .env(relay::clock::TEST_CLOCK_ENV, clock_file(&self.config()));
        cmd
    }

    /// `relay --db DB serve ARGS...` with stdin and stdout piped and
    /// stderr discarded, not yet started: for tests that own the pipes.
    pub fn serve_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(relay_bin());
        cmd.env("RELAY_CONFIG", self.config())
            .arg("--db")
            .arg(&self.db)
            .arg("serve")
            .args(args)
            .env_clear_relay()
            .env(relay::clock::TEST_CLOCK_ENV, clock_file(&self.config()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }

    /// A `relay serve` child driven by raw JSON-RPC lines.
    pub fn raw(&self, args: &[&str]) -> RawSession {
        RawSession::spawn(&self.db, &self.config(), args)
    }

    /// Opens an encrypted store directly, with the keyring file `keyring`.
    pub fn store_with_keyring(&self, keyring: &Path) -> relay::store::Store {
        let keyring = relay::crypto::KeyringSource::EnvPath(keyring.to_owned())
            .load()
            .expect("keyring");
        relay::store::Store::open_with(
            &self.db,
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
            relay::crypto::Codec::new(Some(std::sync::Arc::new(keyring))),
        )
        .expect("open store")
    }

    /// Opens the store directly, for assertions on what was stored.
    pub fn store(&self) -> relay::store::Store {
        relay::store::Store::open(
            &self.db,
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
        )
        .expect("open store")
    }
}

/// An MCP client connected to one `relay serve` process.
pub struct Client<H: rmcp::ClientHandler = ()> {
    pub service: RunningService<RoleClient, H>,
}

/// A client handler that records `resources/updated` URIs and custom
/// notifications (method, params), and wakes waiters when one arrives.
#[derive(Clone, Default)]
pub struct Recorder {
    pub updated: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub custom: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    arrived: std::sync::Arc<tokio::sync::Notify>,
}

impl rmcp::ClientHandler for Recorder {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri);
        self.arrived.notify_waiters();
    }

    async fn on_custom_notification(
        &self,
        notification: rmcp::model::CustomNotification,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.custom
            .lock()
            .unwrap()
            .push((notification.method, notification.params.unwrap_or(Value::Null)));
        self.arrived.notify_waiters();
    }
}

impl Recorder {
    /// Waits (at most `secs` seconds) until `done` holds for what arrived.
    pub async fn wait_for(&self, secs: u64, done: impl Fn(&Recorder) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let arrived = self.arrived.notified();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return done(self);
            }
        }
    }

    pub fn updated(&self) -> Vec<String> {
        self.updated.lock().unwrap().clone()
    }

    pub fn custom(&self) -> Vec<(String, Value)> {
        self.custom.lock().unwrap().clone()
    }
}

impl Client<Recorder> {
    pub fn recorder(&self) -> &Recorder {
        self.service.service()
    }

    pub async fn subscribe(&self, uri: &str) {
        #[allow(deprecated)]
        self.service
            .subscribe(rmcp::model::SubscribeRequestParams::new(uri))
            .await
            .unwrap_or_else(|e| panic!("subscribe {uri}: {e}"));
    }
}

impl<H: rmcp::ClientHandler> Client<H> {
    /// Calls `tool` and returns the raw result.
    pub async fn call_raw(&self, tool: &str, args: Value) -> CallToolResult {
        let args = args.as_object().cloned().unwrap_or_default();
        let name: String = tool.to_owned();
        self.service
            .call_tool(CallToolRequestParams::new(name).with_arguments(args))
            .await
            .unwrap_or_else(|e| panic!("{tool}: transport error {e}"))
    }

    /// Calls `tool`, asserts success, returns `structuredContent`.
    pub async fn call(&self, tool: &str, args: Value) -> Value {
        let r = self.call_raw(tool, args).await;
        assert_eq!(r.is_error, Some(false), "{tool} failed: {:?}", r.structured_content);
        let structured = r.structured_content.clone().expect("structuredContent");
        // The same JSON is also the text block, for text-only clients.
        let text = r.content[0].as_text().expect("text block").text.clone();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), structured);
        structured
    }

    /// Calls `tool`, asserts it failed, returns `(error_code, body)`.
    pub async fn call_err(&self, tool: &str, args: Value) -> (String, Value) {
        let r = self.call_raw(tool, args).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} unexpectedly succeeded: {:?}",
            r.structured_content
        );
        let body = r.structured_content.expect("structuredContent on error");
        let code = body["error_code"].as_str().expect("error_code").to_owned();
        assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "error text");
        (code, body)
    }

    /// Closes the session (the child exits on EOF).
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}

/// A `relay serve` child spoken to line by line.
pub struct RawSession {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl RawSession {
    pub fn spawn(db: &Path, config: &Path, args: &[&str]) -> Self {
        let mut child = std::process::Command::new(relay_bin())
            .env("RELAY_CONFIG", config)
            .arg("--db")
            .arg(db)
            .arg("serve")
            .args(args)
            .env_clear_relay()
            .env(relay::clock::TEST_CLOCK_ENV, clock_file(config))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn relay serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines: rx,
        }
    }

    /// Writes raw bytes followed by a newline.
    pub fn send_line(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Writes raw bytes with no newline.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes stdin (EOF for the server) but keeps reading stdout.
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    pub fn send(&mut self, v: &Value) {
        self.send_line(v.to_string().as_bytes());
    }

    /// The next stdout line, parsed; panics if it is not JSON or none comes in 10 s.
    pub fn recv(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line on stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
    }

    /// The next stdout line if one arrives within `ms` milliseconds.
    pub fn recv_within(&self, ms: u64) -> Option<Value> {
        let line = self.lines.recv_timeout(Duration::from_millis(ms)).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}")))
    }

    /// Sends `initialize` + `notifications/initialized` and returns the result.
    pub fn initialize(&mut self) -> Value {
        self.send(&serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        }));
        let r = self.recv();
        self.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        r
    }

    /// `tools/call` with id `id`; returns the response.
    pub fn call(&mut self, id: i64, tool: &str, args: Value) -> Value {
        self.send(&serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}
        }));
        self.recv()
    }

    /// Closes stdin and waits for the process to exit; returns its status.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills and reaps a child process when dropped, so a failed assertion
/// leaves no `relay` running.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port the OS just handed out on 127.0.0.1 (free a moment ago): for a
/// hub that must restart at the same URL.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A hub on a fixed `port` (so it can be restarted at the same URL), with
/// the installation's clock file and an optional secret; waits for its
/// `listening on` line.
pub fn hub_on(relay: &Relay, port: u16, secret: Option<&str>) -> Reaper {
    let mut cmd = std::process::Command::new(relay_bin());
    cmd.env_clear_relay()
        .env("RELAY_CONFIG", relay.config())
        .env(relay::clock::TEST_CLOCK_ENV, clock_file(&relay.config()))
        .arg("--db")
        .arg(&relay.db)
        .args(["serve", "--transport", "http", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        cmd.env("RELAY_HTTP_SECRET", secret);
    }
    let mut child = cmd.spawn().expect("spawn the hub");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("listening on ") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("the hub did not start");
    Reaper(child)
}

/// SIGTERMs a hub and waits (at most 20 s) until it has exited.
pub fn terminate(hub: &mut Reaper) {
    let pid = nix::unistd::Pid::from_raw(hub.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM the hub");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if hub.0.try_wait().unwrap().is_some() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the hub did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes [`SCRUBBED_ENV`] from a command.
pub trait ScrubRelayEnv {
    fn env_clear_relay(&mut self) -> &mut Self;
}

impl ScrubRelayEnv for std::process::Command {
    fn env_clear_relay(&mut self) -> &mut Self {
        for var in SCRUBBED_ENV {
            self.env_remove(var);
        }
        self
    }
}

/// The check called `name` in a `relay doctor --json` report (`Null` when
/// there is none).
pub fn doctor_check(report: &Value, name: &str) -> Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted on drop
/// (mounting needs root, which these tests and CI run as).
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount (these tests run as root)");
        assert!(status.success(), "mount -t tmpfs failed (these tests run as root)");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` until the file system is full.
    pub fn fill(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        for size in [chunk.len(), 4096, 1] {
            while f.write_all(&chunk[..size]).is_ok() {}
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A `relay serve --transport http --port 0` child: the hub, on loopback.
/// It is also a [`HubClient`] for itself (`hub.url`, `hub.session(…)`).
pub struct Hub {
    pub child: Reaper,
    /// The clients' side, at `http://127.0.0.1:PORT/mcp`.
    pub client: HubClient,
    /// What the hub wrote on stderr so far.
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Relay {
    /// Starts the hub with `args` after `serve --transport http --port 0`
    /// and waits for its `listening on` line.
    pub fn hub(&self, args: &[&str]) -> Hub {
        self.hub_env(args, &[])
    }

    /// [`Relay::hub`] with extra environment variables.
    pub fn hub_env(&self, args: &[&str], env: &[(&str, &str)]) -> Hub {
        let mut cmd = std::process::Command::new(relay_bin());
        cmd.env("RELAY_CONFIG", self.config())
            .arg("--db")
            .arg(&self.db)
            .args(["serve", "--transport", "http", "--port", "0"])
            .args(args)
            .env_clear_relay()
            .env(relay::clock::TEST_CLOCK_ENV, clock_file(&self.config()))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the hub");
        let stderr = child.stderr.take().expect("stderr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                seen.lock().unwrap().push(line);
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the hub did not say where it listens: {:?}", lines.lock().unwrap()));
        Hub {
            child: Reaper(child),
            client: HubClient { url },
            stderr: lines,
        }
    }
}

impl std::ops::Deref for Hub {
    type Target = HubClient;

    fn deref(&self) -> &HubClient {
        &self.client
    }
}

impl Hub {
    /// A handle on a hub some other process runs at `url` (no child).
    pub fn at(url: &str) -> HubClient {
        HubClient { url: url.to_owned() }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.0.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        self.child.0.wait().expect("wait for the hub")
    }
}

/// An MCP client factory for a hub at `url`.
pub struct HubClient {
    pub url: String,
}

impl HubClient {
    /// `http://127.0.0.1:PORT` (no path).
    pub fn base(&self) -> String {
        self.url.trim_end_matches("/mcp").to_owned()
    }

    fn transport(&self, token: Option<&str>) -> rmcp::transport::StreamableHttpClientTransport<reqwest::Client> {
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let mut headers = std::collections::HashMap::new();
        if let Some(token) = token {
            headers.insert(
                reqwest::header::HeaderName::from_static("x-agent-token"),
                reqwest::header::HeaderValue::from_str(token).unwrap(),
            );
        }
        rmcp::transport::StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).custom_headers(headers),
        )
    }

    /// A 2025-11-25 session (initialize, Mcp-Session-Id) as `token`'s agent.
    pub async fn session(&self, token: Option<&str>) -> Client {
        self.session_with(token, ()).await
    }

    /// A 2025-11-25 session that records its notifications.
    pub async fn listener(&self, token: Option<&str>) -> Client<Recorder> {
        self.session_with(token, Recorder::default()).await
    }

    async fn session_with<H: rmcp::ClientHandler>(&self, token: Option<&str>, handler: H) -> Client<H> {
        let service = handler
            .serve(self.transport(token))
            .await
            .expect("MCP initialize over HTTP");
        Client { service }
    }

    /// A 2026-07-28 client (server/discover, stateless requests).
    pub async fn stateless(&self, token: Option<&str>) -> Client {
        use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
        let lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        };
        let service =
            ().serve_with_lifecycle(self.transport(token), lifecycle)
                .await
                .expect("server/discover over HTTP");
        Client { service }
    }

    /// Registers `name` from a request without a token; returns its token.
    pub async fn register(&self, name: &str) -> String {
        self.register_with(name, &[]).await
    }

    /// Registers `name` with `capabilities` (the self-service ones: an
    /// anonymous request may grant no more); returns its token.
    pub async fn register_with(&self, name: &str, capabilities: &[&str]) -> String {
        let anon = self.session(None).await;
        let reg = anon
            .call(
                "register_agent",
                serde_json::json!({ "name": name, "capabilities": capabilities }),
            )
            .await;
        anon.close().await;
        reg["token"].as_str().expect("a new name's token").to_owned()
    }
}
