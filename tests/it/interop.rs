//! Interop with the official Python MCP SDK (`pip install mcp`): its stdio
//! client drives `relay serve` through a real conversation, and its
//! Streamable HTTP client drives the hub (`relay serve --transport http`)
//! in both protocol revisions. [`Hub`] and the `.venv` setup here serve
//! tests/it/conformance.rs too.
//!
//! Needs a Python with the `mcp` package. `RELAY_TEST_PYTHON` names one;
//! otherwise the test uses `.venv` at the repository root and sets it up
//! itself when it is missing or lacks a pinned package of
//! `tests/interop/requirements.txt` (`python3 -m venv .venv`, then
//! `pip install -r tests/interop/requirements.txt`, which needs PyPI), so
//! `cargo test` passes on a fresh clone. A file lock makes concurrent test
//! processes wait for one setup instead of racing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::support::{Reaper, Relay, ScrubRelayEnv, relay_bin};

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `name==version` pins of requirements.txt.
fn pins(requirements: &Path) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(requirements).unwrap_or_else(|e| panic!("cannot read {}: {e}", requirements.display()));
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once("=="))
        .map(|(name, version)| (name.trim().to_owned(), version.trim().to_owned()))
        .collect()
}

/// Whether `python` has every pinned package at its pinned version.
fn has_pins(python: &Path, pins: &[(String, String)]) -> bool {
    if !python.exists() {
        return false;
    }
    let check = "import sys, importlib.metadata as m\n\
                 pins = [a.split('==', 1) for a in sys.argv[1:]]\n\
                 sys.exit(0 if all(m.version(n) == v for n, v in pins) else 1)";
    let args = pins.iter().map(|(n, v)| format!("{n}=={v}"));
    Command::new(python)
        .arg("-c")
        .arg(check)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a setup step; panics with its output and what to do if it fails.
pub(crate) fn setup_step(what: &str, cmd: &mut Command) {
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("interop setup: cannot run {cmd:?} ({e}); {}", remedy()));
    if !out.status.success() {
        panic!(
            "interop setup: {what} failed ({}): {cmd:?}\n--- stdout\n{}\n--- stderr\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            remedy()
        );
    }
}

fn remedy() -> &'static str {
    "the interop and conformance tests need python3 (with venv and pip) and network access to PyPI to create .venv; \
     or point RELAY_TEST_PYTHON at a Python that has the packages of tests/interop/requirements.txt"
}

/// A Python with the pinned SDK: `RELAY_TEST_PYTHON`, or `.venv/bin/python`,
/// created or repaired first if needed.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RELAY_TEST_PYTHON") {
        return p.into();
    }
    venv_with(&repo().join("tests/interop/requirements.txt"))
}

/// Takes the one setup lock that serialises every change to `.venv`
/// (Python packages and the conformance suite's node_modules) across test
/// threads and processes; released when dropped.
pub(crate) fn setup_lock() -> nix::fcntl::Flock<std::fs::File> {
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv.lock");
    let file =
        std::fs::File::create(&lock_path).unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("cannot lock {}: {e}", lock_path.display()))
}

/// `.venv/bin/python` with every package pinned in `requirements`,
/// creating the venv and installing first if needed. Several requirements
/// files share the one `.venv`: installing one never removes another's.
pub(crate) fn venv_with(requirements: &Path) -> PathBuf {
    let pins = pins(requirements);
    let venv = repo().join(".venv");
    let python = venv.join("bin/python");
    if has_pins(&python, &pins) {
        return python;
    }
    // One setup at a time; whoever waited re-checks, and finds the work done.
    let _lock = setup_lock();
    if has_pins(&python, &pins) {
        return python;
    }
    if !python.exists() {
        eprintln!("interop: creating {} (python3 -m venv)", venv.display());
        setup_step(
            "python3 -m venv",
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
        );
    }
    eprintln!("interop: installing {} into {}", requirements.display(), venv.display());
    setup_step(
        "pip install",
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(requirements),
    );
    assert!(
        has_pins(&python, &pins),
        "interop setup: {} still lacks a package pinned in {} after pip install; {}",
        python.display(),
        requirements.display(),
        remedy()
    );
    python
}

/// A running `relay serve --transport http --port 0` on a temp store, for
/// clients written in other languages. Killed when dropped.
pub(crate) struct Hub {
    /// `http://HOST:PORT/mcp`, as the hub logged it.
    pub url: String,
    /// Everything the hub has written to stderr so far.
    log: Arc<Mutex<String>>,
    _child: Reaper,
    _relay: Relay,
}

impl Hub {
    pub(crate) fn start() -> Self {
        let relay = Relay::new();
        let mut child = Command::new(relay_bin())
            .env("RELAY_CONFIG", relay.config())
            .env_clear_relay()
            // Loopback needs no hub secret; a developer's must not apply.
            .env_remove("RELAY_HTTP_SECRET")
            .arg("--db")
            .arg(&relay.db)
            .args(["serve", "--transport", "http", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn relay serve --transport http");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        // Drains stderr for the hub's whole life, so it never blocks on a
        // full pipe; the first `listening on URL` line is sent back.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = listening_url(&line) {
                    let _ = tx.send(url);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let child = Reaper(child);
        let url = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!(
                "relay serve --transport http logged no `listening on` line:\n{}",
                log.lock().unwrap()
            )
        });
        Self {
            url,
            log,
            _child: child,
            _relay: relay,
        }
    }

    /// The hub's stderr so far, for failure messages.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// The URL of a `listening on http://HOST:PORT/mcp` log line.
fn listening_url(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let url = rest.split_whitespace().next()?;
    let url = url.trim_matches(|c: char| c == '"' || c == '\'' || c == ',');
    (url.starts_with("http://") && url.ends_with("/mcp")).then(|| url.to_owned())
}

#[test]
fn listening_url_is_parsed_from_plain_and_structured_lines() {
    let want = Some("http://127.0.0.1:41234/mcp".to_owned());
    assert_eq!(listening_url("listening on http://127.0.0.1:41234/mcp"), want);
    assert_eq!(
        listening_url("2026-01-01T00:00:00Z INFO relay: listening on http://127.0.0.1:41234/mcp"),
        want
    );
    assert_eq!(listening_url("msg=\"listening on http://127.0.0.1:41234/mcp\""), want);
    assert_eq!(listening_url("listening on stdio"), None);
}

#[test]
fn python_sdk_client_talks_to_relay_serve() {
    let relay = Relay::new();
    let script = repo().join("tests/interop/python_client.py");
    let out = Command::new(python())
        .arg(script)
        .arg(relay_bin())
        .arg(&relay.db)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("interop ok"), "{stdout}");
}

#[test]
fn python_sdk_http_client_talks_to_the_hub() {
    let hub = Hub::start();
    let script = repo().join("tests/interop/python_http_client.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&hub.url)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python HTTP client failed:\n{stdout}\n{stderr}\n--- hub stderr\n{}",
        hub.log()
    );
    assert!(stdout.contains("interop http ok"), "{stdout}");
}
