//! Interop with the official Python MCP SDK (`pip install mcp`): its stdio
//! client drives `relay serve` through a real conversation, and its
//! Streamable HTTP client drives the hub (`relay serve --transport http`)
//! in both protocol revisions. The `.venv` setup here serves
//! tests/it/conformance.rs too.
//!
//! Needs a Python with the `mcp` package. `RELAY_TEST_PYTHON` names one;
//! otherwise the test uses `.venv` at the repository root and sets it up
//! itself when it is missing or lacks a pinned package of
//! `tests/interop/requirements.txt` (`python3 -m venv .venv`, then
//! `pip install -r tests/interop/requirements.txt`, which needs PyPI), so
//! `cargo test` passes on a fresh clone. A file lock makes concurrent test
//! processes wait for one setup instead of racing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{Hub, Relay, relay_bin};

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

/// The hub's stderr so far, for failure messages.
pub(crate) fn hub_log(hub: &Hub) -> String {
    hub.stderr.lock().unwrap().join("\n")
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
    let relay = Relay::new();
    let hub = relay.hub(&[]);
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
        hub_log(&hub)
    );
    assert!(stdout.contains("interop http ok"), "{stdout}");
}
