//! Interop with the official Python MCP SDK (`pip install mcp`): its
//! stdio client drives `relay serve` through a real conversation.
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

use crate::support::{Relay, relay_bin};

fn repo() -> PathBuf {
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
fn setup_step(what: &str, cmd: &mut Command) {
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
    "the interop test needs python3 (with venv and pip) and network access to PyPI to create .venv; \
     or point RELAY_TEST_PYTHON at a Python that has the packages of tests/interop/requirements.txt"
}

/// A Python with the pinned SDK: `RELAY_TEST_PYTHON`, or `.venv/bin/python`,
/// created or repaired first if needed.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RELAY_TEST_PYTHON") {
        return p.into();
    }
    let requirements = repo().join("tests/interop/requirements.txt");
    let pins = pins(&requirements);
    let venv = repo().join(".venv");
    let python = venv.join("bin/python");
    if has_pins(&python, &pins) {
        return python;
    }
    // One setup at a time, across test threads and processes; whoever
    // waited re-checks, and finds the work done.
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv.lock");
    let file =
        std::fs::File::create(&lock_path).unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("cannot lock {}: {e}", lock_path.display()));
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
            .arg(&requirements),
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
