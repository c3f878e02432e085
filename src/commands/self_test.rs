//! `relay test`: an end-to-end self-check on a throwaway store, driving
//! real `relay serve` and `relay worker` child processes over MCP
//! (newline-delimited JSON-RPC on their stdio). The user's store is never
//! opened.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::SelfTestArgs;

/// How long one step may wait for a reply or notification.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

struct Serve {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Lines that arrived while waiting for something else (a
    /// notification racing a reply), kept for later waits.
    backlog: std::collections::VecDeque<Value>,
    next_id: u64,
}

impl Serve {
    fn start(exe: &Path, db: &Path, config: &Path, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .env("RELAY_CONFIG", config)
            .arg("--db")
            .arg(db)
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start relay serve")?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = BufWriter::new(child.stdin.take().expect("piped"));
        let mut s = Self {
            child,
            stdin,
            lines,
            backlog: Default::default(),
            next_id: 1,
        };
        s.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "relay-test", "version": env!("CARGO_PKG_VERSION")}}}))?;
        s.wait_for(|v| v["id"] == 0)?;
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(s)
    }

    fn send(&mut self, v: &Value) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.stdin, v)?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// The next line matching `pred`, within [`STEP_TIMEOUT`]; other lines
    /// are kept for later waits.
    fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return Ok(self.backlog.remove(i).expect("index in range"));
        }
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| anyhow!("no answer in time"))?;
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| anyhow!("no answer in time"))?;
            let v: Value = serde_json::from_str(&line).with_context(|| format!("stdout is not JSON-RPC: {line}"))?;
            if pred(&v) {
                return Ok(v);
            }
            self.backlog.push_back(v);
        }
    }

    fn call(&mut self, tool: &str, args: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
        )?;
        let reply = self.wait_for(|v| v["id"] == id)?;
        if reply["result"]["isError"] != false {
            bail!("{tool} failed: {}", reply["result"]["structuredContent"]);
        }
        Ok(reply["result"]["structuredContent"].clone())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay(exe: &Path, db: &Path, config: &Path, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new(exe)
        .env("RELAY_CONFIG", config)
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run relay")
}

/// Runs every step; each step's outcome is recorded, a failed step does
/// not stop the ones that do not depend on it.
pub fn run(args: &SelfTestArgs) -> anyhow::Result<ExitCode> {
    let exe: PathBuf = std::env::current_exe().context("cannot find the relay binary")?;
    let dir = tempfile::Builder::new().prefix("relay-test-").tempdir()?;
    let db = dir.path().join("relay.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "")?;
    let mut results: Vec<(&str, Result<String, String>)> = Vec::new();
    let mut step =
        |name: &'static str, r: anyhow::Result<String>| results.push((name, r.map_err(|e| format!("{e:#}"))));

    let sessions = (|| -> anyhow::Result<(Serve, Serve)> {
        let alice = Serve::start(
            &exe,
            &db,
            &config,
            &["--agent", "selftest-alice", "--capabilities", "tasks"],
        )?;
        let bob = Serve::start(&exe, &db, &config, &["--agent", "selftest-bob", "--channel"])?;
        Ok((alice, bob))
    })();
    match sessions {
        Err(e) => step("serve starts", Err(e)),
        Ok((mut alice, mut bob)) => {
            step("serve starts", Ok("two relay serve processes initialized".into()));
            let sent = alice.call("send_message", json!({"to": "selftest-bob", "content": "self-test"}));
            let sent_id = sent.as_ref().ok().and_then(|s| s["message_id"].as_i64());
            step(
                "message",
                sent.and_then(|_| {
                    let inbox = bob.call("get_messages", json!({}))?;
                    let got = inbox["messages"][0]["id"].as_i64();
                    if got == sent_id {
                        Ok("sent by one process, read by another".into())
                    } else {
                        bail!("got {inbox}")
                    }
                }),
            );
            step(
                "wake notification",
                bob.wait_for(|v| v["method"] == "notifications/claude/channel")
                    .map(|n| format!("notifications/claude/channel for {}", n["params"]["meta"]["event"])),
            );
            let worker = Command::new(&exe)
                .env("RELAY_CONFIG", &config)
                .arg("--db")
                .arg(&db)
                .args(["worker", "--agent", "selftest-worker", "--lease-seconds", "30", "--"])
                .arg(&exe)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            step(
                "task through a worker",
                worker.map_err(anyhow::Error::from).and_then(|mut worker| {
                    let done = alice.call(
                        "post_task",
                        json!({"to": "selftest-worker", "title": "self-test", "description": "print the version", "wait_seconds": 20}),
                    );
                    let _ = worker.kill();
                    let _ = worker.wait();
                    let done = done?;
                    match done["task"]["state"].as_str() {
                        Some("completed") => Ok(format!("completed: {}", done["task"]["result"].as_str().unwrap_or("").trim())),
                        other => bail!("task ended {other:?}: {}", done["task"]),
                    }
                }),
            );
        }
    }
    // Every relay process on the throwaway store has ended (Serve drops).
    let archive = dir.path().join("backup.tar.gz");
    let backed_up = relay(
        &exe,
        &db,
        &config,
        &["backup", "--output", archive.to_str().unwrap_or_default()],
    );
    step(
        "backup",
        backed_up.and_then(|o| {
            if o.status.success() {
                Ok(format!("{} written", archive.display()))
            } else {
                bail!("{}", String::from_utf8_lossy(&o.stderr))
            }
        }),
    );
    let restored = relay(
        &exe,
        &db,
        &config,
        &["restore", archive.to_str().unwrap_or_default(), "--yes"],
    );
    step(
        "restore",
        restored.and_then(|o| {
            if !o.status.success() {
                bail!("{}", String::from_utf8_lossy(&o.stderr));
            }
            let doctor = relay(&exe, &db, &config, &["doctor", "--json"])?;
            let report: Value = serde_json::from_slice(&doctor.stdout)?;
            let healthy = report["checks"].as_array().is_some_and(|c| {
                c.iter()
                    .filter(|c| ["store opens", "quick_check"].contains(&c["name"].as_str().unwrap_or("")))
                    .all(|c| c["status"] == "PASS")
            });
            if healthy {
                Ok("restored store passes quick_check".into())
            } else {
                bail!("doctor: {report}")
            }
        }),
    );

    let ok = results.iter().all(|(_, r)| r.is_ok());
    if args.json {
        let steps: Vec<Value> = results
            .iter()
            .map(|(name, r)| match r {
                Ok(detail) => json!({"step": name, "status": "PASS", "detail": detail}),
                Err(e) => json!({"step": name, "status": "FAIL", "detail": e}),
            })
            .collect();
        super::write_stdout(format!("{}\n", json!({ "ok": ok, "steps": steps })).as_bytes())?;
    } else {
        let mut text = String::new();
        for (name, r) in &results {
            match r {
                Ok(detail) => text.push_str(&format!("PASS  {name:<22} {detail}\n")),
                Err(e) => text.push_str(&format!("FAIL  {name:<22} {e}\n")),
            }
        }
        super::write_stdout(text.as_bytes())?;
    }
    drop(dir);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
