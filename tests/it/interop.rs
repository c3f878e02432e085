//! Interop with the official Python MCP SDK (`pip install mcp`): its
//! stdio client drives `relay serve` through a real conversation.
//!
//! Needs a Python with the `mcp` package: `RELAY_TEST_PYTHON`, or
//! `.venv/bin/python` at the repository root (`.ci/run` creates it with
//! `python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt`).

use std::path::PathBuf;
use std::process::Command;

use crate::support::{Relay, relay_bin};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RELAY_TEST_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the interop test needs the Python MCP SDK: run \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt` in the repository root \
         (or set RELAY_TEST_PYTHON)"
    );
    venv
}

#[test]
fn python_sdk_client_talks_to_relay_serve() {
    let relay = Relay::new();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/python_client.py");
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
