//! The dashboard in a real headless Chromium over WebDriver (issue 12):
//! Debian's `chromium` driven by `chromedriver` through fantoccini, against
//! a real hub with a secret, fed by real MCP sessions. Missing browser
//! binaries fail the tests (CI installs them); they are never skipped.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client as WebDriver, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{Client, Reaper, Relay, free_port, hub_on, terminate};

const SECRET: &str = "dashboard-test-secret-0123456789";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

// ---------- the browser ----------

/// chromedriver's `POST /session/{id}/se/log {"type": "browser"}`: the
/// console entries since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// One chromedriver child (its own process group, so chromium goes with
/// it) and one WebDriver session on a fresh profile.
struct Browser {
    web: WebDriver,
    driver: Child,
    _profile: tempfile::TempDir,
    console: Vec<Value>,
}

impl Browser {
    async fn start() -> Browser {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the dashboard's browser tests need Debian's chromium and \
                 chromium-driver (apt-get install chromium chromium-driver)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut driver = DriverGuard(Some(driver));
        let url = format!("http://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let caps = caps.as_object().unwrap().clone();
        let mut last = None;
        // chromedriver may accept connections a moment before it serves sessions.
        for _ in 0..5 {
            match ClientBuilder::rustls()
                .expect("rustls")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(web) => {
                    return Browser {
                        web,
                        driver: driver.0.take().unwrap(),
                        _profile: profile,
                        console: Vec::new(),
                    };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("no WebDriver session from chromedriver: {last:?}");
    }

    /// Opens the dashboard at `base`; with `secret`, as an operator who
    /// unlocked it before (the secret in sessionStorage), then waits for
    /// the first overview (`relay:ready`).
    async fn open(&self, base: &str, secret: Option<&str>) {
        self.web.goto(&format!("{base}/")).await.expect("open the dashboard");
        if let Some(secret) = secret {
            self.js(
                "sessionStorage.setItem('relay.secret', arguments[0]); location.reload()",
                vec![json!(secret)],
            )
            .await;
        }
        self.wait(
            "the first overview (relay:ready)",
            "return document.readyState === 'complete' && performance.getEntriesByName('relay:ready').length === 1",
            20,
        )
        .await;
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.web
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` (every 25 ms, at most `secs` seconds) until it
    /// returns something truthy; returns that.
    async fn wait(&self, what: &str, script: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.js(script, vec![]).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("") && v != json!([]);
            if truthy {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what} (last: {v})");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn text(&self, testid: &str) -> String {
        self.js(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`); return e ? e.textContent.trim() : null",
            vec![json!(testid)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn wait_live(&self) {
        self.wait(
            "connection-status live",
            "return document.querySelector('[data-testid=connection-status]').textContent.trim() === 'live'",
            20,
        )
        .await;
    }

    async fn click(&self, css: &str) {
        self.web
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The `data-event-id`s in the event list, top (newest) first.
    async fn event_ids(&self) -> Vec<i64> {
        let v = self
            .js(
                "return [...document.querySelectorAll('[data-testid=event-list] > li')].map(li => Number(li.dataset.eventId))",
                vec![],
            )
            .await;
        serde_json::from_value(v).unwrap()
    }

    /// The whole DOM as HTML, for "this is not on the page" checks.
    async fn html(&self) -> String {
        self.js("return document.documentElement.outerHTML", vec![])
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Collects the console entries logged so far.
    async fn drain_console(&mut self) {
        let v = self.web.issue_cmd(BrowserLog).await.expect("read the browser log");
        self.console.extend(v.as_array().cloned().unwrap_or_default());
    }

    /// Asserts no SEVERE or WARNING console entry except ones containing
    /// one of `expected` (e.g. a 401 the test provoked).
    async fn assert_clean_console(&mut self, expected: &[&str]) {
        self.drain_console().await;
        let bad: Vec<&Value> = self
            .console
            .iter()
            .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
            .filter(|e| {
                let m = e["message"].as_str().unwrap_or_default();
                !expected.iter().any(|x| m.contains(x))
            })
            .collect();
        assert!(bad.is_empty(), "console errors or warnings: {bad:#?}");
    }

    async fn screenshot(&self, path: &Path) {
        let png = self.web.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }

    async fn close(self) {
        let _ = self.web.clone().close().await;
        drop(self);
    }
}

/// Kills chromedriver's process group (chromedriver and its chromium)
/// if [`Browser::start`] fails half-way.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill_group(child);
        }
    }
}

fn kill_group(child: &mut Child) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

// ---------- the hub and its agents ----------

/// A hub with [`SECRET`] on a fixed port (so it can restart at the same URL).
fn hub_at(relay: &Relay, port: u16) -> Reaper {
    hub_on(relay, port, Some(SECRET))
}

/// A started hub and its base URL (`http://127.0.0.1:PORT`).
fn hub(relay: &Relay) -> (Reaper, u16, String) {
    let port = free_port();
    let hub = hub_at(relay, port);
    (hub, port, format!("http://127.0.0.1:{port}"))
}

async fn send(from: &Client, to: &str, content: &str) -> i64 {
    from.call("send_message", json!({"to": to, "content": content})).await["message_id"]
        .as_i64()
        .expect("message_id")
}

async fn post(boss: &Client, body: Value) -> i64 {
    boss.call("post_task", body).await["task"]["id"].as_i64().unwrap()
}

async fn task_state(agent: &Client, id: i64) -> String {
    agent.call("get_task", json!({"task_id": id})).await["task"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every outbox event id, oldest first.
fn outbox_ids(relay: &Relay) -> Vec<i64> {
    relay
        .store()
        .events_after(0, 10_000)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect()
}

/// Milliseconds since the Unix epoch on this machine's clock (the
/// browser's `Date.now()` reads the same clock).
fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn sorted_desc(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

// ---------- the tests ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_loads_cleanly_and_shows_a_sent_message_within_a_second() {
    let relay = Relay::new();
    let (_hub, _port, base) = hub(&relay);
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    send(&alice, "bob", "before the page opened").await;

    let mut browser = Browser::start().await;
    browser.open(&base, Some(SECRET)).await;
    assert_eq!(browser.text("viewer").await, "operator");
    browser.wait_live().await;
    browser
        .wait(
            "the earlier message",
            "return document.querySelector('[data-testid=event-list]').textContent.includes('before the page opened')",
            20,
        )
        .await;
    assert_eq!(browser.text("count-agents").await, "2");
    assert_eq!(browser.text("count-messages").await, "1");
    let agents = browser
        .js(
            "return [...document.querySelectorAll('[data-testid=agents-table] tbody th')].map(e => e.textContent)",
            vec![],
        )
        .await;
    assert_eq!(agents, json!(["alice", "bob"]));
    // Every asset loaded (a missing favicon or stylesheet logs an error),
    // the charts drew, and index.html has no inline script or style.
    assert_eq!(
        browser
            .js("return document.querySelectorAll('.uplot canvas').length", vec![])
            .await,
        json!(3)
    );
    let page = browser.js("return fetch('/').then(r => r.text())", vec![]).await;
    let page = page.as_str().unwrap();
    assert!(
        !page.contains("style=")
            && !page.contains("<style")
            && page.matches("<script").count() == page.matches("<script src=").count(),
        "inline script or style in index.html"
    );

    let text = "live message through MCP";
    // Live: a message appears within a second of its send, without a
    // reload. Timed by the page itself (window.__relayEvents' received_ms,
    // taken in the same task that inserts the <li>) against the send's
    // return on the same machine clock, so WebDriver's polling does not count.
    let started = Instant::now();
    let id = send(&alice, "bob", text).await;
    let sent_ms = epoch_ms();
    let sent = Instant::now();
    let shown = browser
        .wait(
            "the live message",
            "const li = [...document.querySelectorAll('[data-testid=event-list] > li')].find(li => li.textContent.includes('live message through MCP')); return li ? Number(li.dataset.eventId) : null",
            10,
        )
        .await;
    let polled = sent.elapsed();
    let latest = *outbox_ids(&relay).last().unwrap();
    assert_eq!(shown, json!(latest), "message {id} shown with the outbox event id");
    let received_ms = browser
        .js(
            "return window.__relayEvents.find(e => e.id === arguments[0]).received_ms",
            vec![json!(latest)],
        )
        .await
        .as_i64()
        .unwrap();
    let latency = received_ms - sent_ms;
    assert!(
        latency < 1000,
        "the message reached the page {latency} ms after send_message returned \
         (send took {:?}, seen by polling after {polled:?})",
        sent - started
    );
    // Still the same document: no reload happened.
    assert_eq!(
        browser
            .js("return performance.getEntriesByType('navigation').length", vec![])
            .await,
        json!(1)
    );
    browser.assert_clean_console(&[]).await;
    browser.close().await;
    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_hidden_without_the_secret_and_shown_after_unlocking() {
    let relay = Relay::new();
    let (_hub, _port, base) = hub(&relay);
    let boss = relay.agent("boss", &["tasks"]).await;
    let message = "the-private-message-text";
    let title = "the-private-task-title";
    send(&boss, "worker", message).await;
    post(
        &boss,
        json!({"to": "worker", "title": title, "description": "secret plan"}),
    )
    .await;

    let mut browser = Browser::start().await;
    browser.open(&base, None).await;
    browser.wait_live().await;
    assert_eq!(browser.text("viewer").await, "counts");
    // Counts and the stream's kinds arrive, names and content do not.
    browser
        .wait(
            "the counts and events",
            "return document.querySelector('[data-testid=count-messages]').textContent === '1' && document.querySelectorAll('[data-testid=event-list] > li').length >= 2",
            20,
        )
        .await;
    let html = browser.html().await;
    for hidden in [message, title, "secret plan", "boss"] {
        assert!(!html.contains(hidden), "{hidden:?} is on the locked page");
    }
    assert_eq!(
        browser
            .js(
                "return document.querySelector('[data-testid=unlock-form]').checkVisibility()",
                vec![]
            )
            .await,
        json!(true)
    );

    // A wrong secret: an error, still locked, nothing stored.
    browser
        .web
        .find(Locator::Css("[data-testid=secret-input]"))
        .await
        .unwrap()
        .send_keys("not-the-secret-at-all")
        .await
        .unwrap();
    browser.click("[data-testid=unlock-submit]").await;
    browser
        .wait(
            "the wrong-secret message",
            "return document.getElementById('unlock-error').textContent",
            10,
        )
        .await;
    assert!(browser.html().await.to_lowercase().contains("wrong secret"));
    assert_eq!(browser.text("viewer").await, "counts");
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('relay.secret')", vec![])
            .await,
        Value::Null
    );
    let html = browser.html().await;
    assert!(!html.contains(message) && !html.contains(title));

    // The right one: operator view with names and content.
    let input = browser
        .web
        .find(Locator::Css("[data-testid=secret-input]"))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(SECRET).await.unwrap();
    browser.click("[data-testid=unlock-submit]").await;
    browser
        .wait(
            "the operator view",
            "return document.querySelector('[data-testid=viewer]').textContent === 'operator'",
            10,
        )
        .await;
    browser
        .wait(
            "the message text and the task title",
            "const t = document.body.textContent; return t.includes('the-private-message-text') && document.querySelector('[data-testid=tasks-table]').textContent.includes('the-private-task-title')",
            20,
        )
        .await;
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('relay.secret')", vec![])
            .await,
        json!(SECRET)
    );
    let url = browser.web.current_url().await.unwrap();
    assert!(!url.as_str().contains(SECRET), "{url}");

    // Lock: content gone again.
    browser.click("[data-testid=lock-button]").await;
    browser
        .wait(
            "the counts view again",
            "return document.querySelector('[data-testid=viewer]').textContent === 'counts' && !document.body.textContent.includes('the-private-message-text')",
            10,
        )
        .await;
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('relay.secret')", vec![])
            .await,
        Value::Null
    );
    // A hub without a secret: counts only, and the page says why.
    let open_relay = Relay::new();
    let open_hub = open_relay.hub(&[]);
    browser.open(&open_hub.base(), None).await;
    assert_eq!(browser.text("viewer").await, "counts");
    assert_eq!(
        browser
            .js(
                "return [document.getElementById('no-secret').checkVisibility(), document.querySelector('[data-testid=unlock-form]').checkVisibility(), document.getElementById('no-secret').textContent.includes('no secret')]",
                vec![]
            )
            .await,
        json!([true, false, true])
    );
    // The provoked 401 is the only console error.
    browser
        .assert_clean_console(&[
            "/api/dashboard/board - Failed to load resource: the server responded with a status of 401",
        ])
        .await;
    browser.close().await;
    boss.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_cancels_a_task_from_a_populated_board() {
    let relay = Relay::new();
    let (_hub, _port, base) = hub(&relay);
    let boss = relay.agent("boss", &["tasks", "channels"]).await;
    let builder = relay.agent("builder", &["tasks", "channels"]).await;
    let reviewer = relay.agent("reviewer", &["channels"]).await;
    // A channel with posts and members.
    boss.call(
        "create_channel",
        json!({"name": "ops", "description": "deploys and incidents"}),
    )
    .await;
    builder.call("join_channel", json!({"channel": "ops"})).await;
    reviewer.call("join_channel", json!({"channel": "ops"})).await;
    boss.call(
        "post_to_channel",
        json!({"channel": "ops", "content": "release 0.9 goes out at 17:00"}),
    )
    .await;
    builder
        .call(
            "post_to_channel",
            json!({"channel": "ops", "content": "migrations are ready"}),
        )
        .await;
    builder
        .call("set_status", json!({"status": "busy", "note": "migrating the store"}))
        .await;
    send(&boss, "reviewer", "please look at the parser change when you can").await;
    send(&reviewer, "boss", "on it, will report back within the hour").await;
    send(&boss, "builder", "the release notes are in CHANGELOG.md").await;
    // Read messages give the delivery latency figures; one agent left.
    reviewer.call("get_messages", json!({})).await;
    boss.call("get_messages", json!({})).await;
    let scout = relay.agent("scout", &[]).await;
    send(&scout, "boss", "scouting done, signing off").await;
    scout.close().await;
    // Tasks in several states.
    let done = post(
        &boss,
        json!({"to": "builder", "title": "Build release 0.9", "description": "cargo build --release"}),
    )
    .await;
    let t = builder
        .call("update_task", json!({"task_id": done, "action": "accept"}))
        .await["task"]["fencing_token"]
        .clone();
    builder
        .call(
            "update_task",
            json!({"task_id": done, "action": "complete", "result": "built", "fencing_token": t}),
        )
        .await;
    let parked = post(
        &boss,
        json!({"to": "builder", "title": "Migrate the task table", "description": "ALTER TABLE", "write": true}),
    )
    .await;
    builder
        .call(
            "update_task",
            json!({"task_id": parked, "action": "accept", "lease_seconds": 30}),
        )
        .await;
    relay.advance_clock(45_000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while task_state(&boss, parked).await != "needs_recovery" {
        assert!(Instant::now() < deadline, "the write task was not parked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let working = post(
        &boss,
        json!({"to": "builder", "title": "Update the changelog", "description": "0.9 notes"}),
    )
    .await;
    builder
        .call(
            "update_task",
            json!({"task_id": working, "action": "accept", "lease_seconds": 900}),
        )
        .await;
    let victim = post(
        &boss,
        json!({"to": "reviewer", "title": "Review the parser change", "description": "src/parser.rs"}),
    )
    .await;
    post(
        &boss,
        json!({"to": "builder", "title": "Audit the webhook signatures", "description": "after the release"}),
    )
    .await;

    let mut browser = Browser::start().await;
    browser.open(&base, Some(SECRET)).await;
    browser.wait_live().await;
    browser
        .wait(
            "the board with the parked task",
            "return document.querySelector('[data-testid=tasks-table] tr.warn') && document.querySelectorAll('[data-testid=tasks-table] tbody tr[data-task-id]').length === 4",
            20,
        )
        .await;
    // The parked task comes first and is marked.
    let first = browser
        .js(
            "return Number(document.querySelector('[data-testid=tasks-table] tbody tr').dataset.taskId)",
            vec![],
        )
        .await;
    assert_eq!(first, json!(parked));

    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("dashboard.png");
    browser
        .web
        .set_window_size(1280, 1600)
        .await
        .expect("resize for the screenshot");
    tokio::time::sleep(Duration::from_millis(600)).await;
    browser.screenshot(&png).await;
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
    if std::env::var_os("RELAY_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("dashboard.png"), &bytes).unwrap();
    }

    // Open the task with the keyboard (focus the row, Enter), cancel, confirm.
    browser
        .js(
            "document.querySelector(`[data-testid=tasks-table] tr[data-task-id=\"${arguments[0]}\"]`).focus()",
            vec![json!(victim)],
        )
        .await;
    browser
        .web
        .active_element()
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    browser
        .wait(
            "the task dialog with its history and Cancel",
            "const d = document.querySelector('[data-testid=task-dialog]'); const c = document.querySelector('[data-testid=action-cancel]'); return d.open && !c.hidden && d.textContent.includes('Review the parser change') && d.querySelectorAll('#td-history li').length >= 1",
            10,
        )
        .await;
    browser.click("[data-testid=action-cancel]").await;
    browser.click("[data-testid=confirm-yes]").await;
    browser
        .wait(
            "the action's result",
            "return document.querySelector('[data-testid=action-result]').textContent.includes('cancelled')",
            10,
        )
        .await;
    assert_eq!(task_state(&boss, victim).await, "cancelled");
    // The board follows: the task left the open ones.
    browser
        .wait(
            "the cancelled task out of the open tasks",
            &format!("return !document.querySelector('[data-testid=tasks-table] tr[data-task-id=\"{victim}\"]')"),
            10,
        )
        .await;
    // Recover the parked write task the same way (a click this time).
    browser.click("#cf-close").await;
    browser.click("[data-testid=task-dialog] button[value=close]").await;
    browser
        .click(&format!(
            "[data-testid=tasks-table] tr[data-task-id=\"{parked}\"] td.title"
        ))
        .await;
    browser
        .wait(
            "the parked task's dialog with Recover",
            "const d = document.querySelector('[data-testid=task-dialog]'); return d.open && d.textContent.includes('Migrate the task table') && !document.querySelector('[data-testid=action-recover]').hidden",
            10,
        )
        .await;
    browser.click("[data-testid=action-recover]").await;
    browser.click("[data-testid=confirm-yes]").await;
    browser
        .wait(
            "the recover result",
            "return document.querySelector('[data-testid=action-result]').textContent.includes('posted')",
            10,
        )
        .await;
    assert_eq!(task_state(&boss, parked).await, "posted");
    browser.click("#cf-close").await;
    browser.click("[data-testid=task-dialog] button[value=close]").await;

    // Revoke the agent that left, with a recovery token: shown once.
    browser
        .click("[data-testid=agents-table] button[data-agent=scout]")
        .await;
    browser.click("[data-testid=confirm-yes]").await;
    let result = browser
        .wait(
            "the revoke result with its recovery token",
            "const r = document.querySelector('[data-testid=action-result]').textContent; return r.includes('rly_') && r",
            10,
        )
        .await;
    assert!(result.as_str().unwrap().contains("revoked"), "{result}");
    browser
        .wait(
            "scout's row with its new auth state and no Revoke",
            "const tr = document.querySelector('[data-testid=agents-table] tr[data-agent=scout]'); return tr && tr.textContent.includes('recovery_pending') && tr.querySelector('button').disabled",
            10,
        )
        .await;

    // On a phone-sized window the grid folds to one column: no page-wide
    // horizontal scrolling (wide tables scroll inside their card).
    browser.click("#cf-close").await;
    browser.web.set_window_size(390, 844).await.expect("phone size");
    browser
        .wait(
            "a one-column layout without horizontal scrolling",
            "const d = document.documentElement; return d.clientWidth < 500 && d.scrollWidth <= d.clientWidth",
            10,
        )
        .await;
    browser.assert_clean_console(&[]).await;
    browser.close().await;
    for agent in [boss, builder, reviewer] {
        agent.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_hub_restart_the_page_shows_every_event_exactly_once() {
    let relay = Relay::new();
    let (mut hub, port, base) = hub(&relay);
    let alice = relay.agent("alice", &[]).await;
    send(&alice, "bob", "m0").await;

    let mut browser = Browser::start().await;
    browser.open(&base, Some(SECRET)).await;
    browser.wait_live().await;
    send(&alice, "bob", "m1").await;
    let ids = outbox_ids(&relay);
    let script = |n: usize| format!("return document.querySelectorAll('[data-testid=event-list] > li').length >= {n}");
    browser
        .wait("the events before the restart", &script(ids.len()), 20)
        .await;
    assert_eq!(browser.event_ids().await, sorted_desc(ids));

    terminate(&mut hub);
    browser
        .wait(
            "connection-status reconnecting",
            "return document.querySelector('[data-testid=connection-status]').textContent === 'reconnecting'",
            20,
        )
        .await;
    send(&alice, "bob", "m2 while down").await;
    send(&alice, "bob", "m3 while down").await;
    let _hub = hub_at(&relay, port);
    browser.wait_live().await;
    send(&alice, "bob", "m4 after").await;
    let ids = outbox_ids(&relay);
    browser
        .wait("every event after the restart", &script(ids.len()), 20)
        .await;
    // Give a duplicate time to show up, then compare exactly.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let shown = browser.event_ids().await;
    assert_eq!(shown, sorted_desc(ids), "missed, repeated or reordered events");
    let text = browser.html().await;
    for m in ["m2 while down", "m3 while down", "m4 after"] {
        assert_eq!(text.matches(m).count(), 1, "{m}");
    }
    // The browser logs the refused connections while the hub was down.
    browser
        .assert_clean_console(&[
            "net::ERR_CONNECTION_REFUSED",
            "net::ERR_EMPTY_RESPONSE",
            "net::ERR_INCOMPLETE_CHUNKED_ENCODING",
            "net::ERR_CONNECTION_RESET",
        ])
        .await;
    browser.close().await;
    alice.close().await;
}

/// This tab's part in the shared stream: `leader`, `follower` or `own`.
const STREAM_ROLE: &str = "return document.querySelector('[data-testid=connection-status]').dataset.stream";

/// The `data-testid=event-list` holds an `<li>` whose text contains `text`.
fn shows(text: &str) -> String {
    format!(
        "return [...document.querySelectorAll('[data-testid=event-list] > li')].some(li => li.textContent.includes({text:?}))"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tabs_share_one_stream_and_survive_the_leader_closing() {
    // Chromium keeps at most 6 HTTP/1.1 connections per host: eight tabs
    // with a stream each would leave the 7th and 8th without one (and
    // without their page). One tab per level holds the stream (Web Locks)
    // and forwards its events to the others (BroadcastChannel).
    const TABS: usize = 8;
    let relay = Relay::new();
    let (_hub, _port, base) = hub(&relay);
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    send(&alice, "bob", "before the tabs opened").await;

    let mut browser = Browser::start().await;
    // A page that cannot get a connection never loads: fail in 20 s, not 300.
    browser
        .web
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(20)),
            Some(Duration::from_secs(20)),
            Some(Duration::ZERO),
        ))
        .await
        .unwrap();
    let mut tabs = vec![browser.web.window().await.unwrap()];
    for i in 0..TABS {
        if i > 0 {
            let tab = browser.web.new_window(true).await.expect("a new tab").handle;
            browser.web.switch_to_window(tab.clone()).await.unwrap();
            tabs.push(tab);
        }
        // (Without the sharing this is where the 6th tab stalls: five
        // streams and its own page load hold the six connections.)
        eprintln!("opening tab {i} of {TABS}");
        browser.open(&base, Some(SECRET)).await;
        browser.wait_live().await;
        assert_eq!(browser.text("viewer").await, "operator", "tab {i}");
    }

    // A message over MCP reaches every tab.
    send(&alice, "bob", "first message to eight tabs").await;
    let mut leader = None;
    for (i, tab) in tabs.iter().enumerate() {
        browser.web.switch_to_window(tab.clone()).await.unwrap();
        browser
            .wait(
                &format!("the first message in tab {i}"),
                &shows("first message to eight tabs"),
                10,
            )
            .await;
        if browser.js(STREAM_ROLE, vec![]).await == json!("leader") {
            assert!(leader.replace(i).is_none(), "two tabs hold the stream");
        }
    }
    let leader = leader.expect("no tab holds the stream");

    // Close the tab holding the stream: another takes it over, resuming
    // from the last id it saw.
    browser.web.switch_to_window(tabs[leader].clone()).await.unwrap();
    browser.drain_console().await;
    browser.web.close_window().await.unwrap();
    let rest: Vec<_> = tabs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, t)| t.clone())
        .collect();
    browser.web.switch_to_window(rest[0].clone()).await.unwrap();
    send(&alice, "bob", "second message after the leader left").await;
    let ids = sorted_desc(outbox_ids(&relay));
    let mut leaders = 0;
    for (i, tab) in rest.iter().enumerate() {
        browser.web.switch_to_window(tab.clone()).await.unwrap();
        browser
            .wait(
                &format!("the second message in remaining tab {i}"),
                &shows("second message after the leader left"),
                10,
            )
            .await;
        // No gap and no duplicate across the hand-over.
        assert_eq!(browser.event_ids().await, ids, "remaining tab {i}");
        if browser.js(STREAM_ROLE, vec![]).await == json!("leader") {
            leaders += 1;
        }
        browser.drain_console().await;
    }
    assert_eq!(leaders, 1, "exactly one remaining tab holds the stream");
    browser.assert_clean_console(&[]).await;
    browser.close().await;
    alice.close().await;
    bob.close().await;
}
