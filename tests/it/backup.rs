//! `relay backup` and `relay restore` through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Relay, relay_bin};

fn relay_cmd(relay: &Relay, args: &[&str]) -> std::process::Output {
    relay.command(args).output().unwrap()
}

fn rewrite_manifest(archive: &Path, out: &Path, edit: impl Fn(&mut Value)) {
    use std::io::Read;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap()));
    let file = std::fs::File::create(out).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == "manifest.json" {
            let mut v: Value = serde_json::from_slice(&data).unwrap();
            edit(&mut v);
            data = serde_json::to_vec(&v).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder.append_data(&mut header, &name, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

#[tokio::test]
async fn backup_then_restore_brings_the_store_back_with_a_safety_backup() {
    let relay = Relay::new();
    let dir = relay.dir.path().join("backups");
    {
        let alice = relay.agent("alice", &[]).await;
        alice
            .call("send_message", json!({"to": "bob", "content": "before the backup"}))
            .await;
        // Silent under cron: no terminal, no --json.
        let out = relay_cmd(&relay, &["backup", "--output", &format!("{}/", dir.display())]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
        alice
            .call("send_message", json!({"to": "bob", "content": "after the backup"}))
            .await;
        alice.close().await;
    }
    let archives: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(archives.len(), 1);
    let archive = &archives[0];
    assert_eq!(std::fs::metadata(archive).unwrap().permissions().mode() & 0o777, 0o600);

    // While a relay process has the store open, restore refuses.
    let busy = relay.agent("watcher", &[]).await;
    let out = relay_cmd(&relay, &["restore", archive.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DAEMON_RUNNING"));
    busy.close().await;

    let out = relay_cmd(&relay, &["restore", archive.to_str().unwrap(), "--yes", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["manifest"]["row_counts"]["messages"], 1);
    // The archive also carries the config file the backup ran with.
    let names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap()))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["relay.db", "manifest.json", "config.toml"]);
    let safety = report["safety_backup"].as_str().unwrap();
    assert!(Path::new(safety).exists());

    let bob = relay.agent("bob", &[]).await;
    let inbox = bob.call("get_messages", json!({"status": "all"})).await;
    let contents: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["before the backup"]);
    bob.close().await;
}

#[tokio::test]
async fn bad_archives_change_nothing() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "keep me"}))
        .await;
    alice.close().await;
    let good = relay.dir.path().join("good.tar.gz");
    assert!(
        relay_cmd(&relay, &["backup", "--output", good.to_str().unwrap()])
            .status
            .success()
    );
    let before = std::fs::read(&relay.db).unwrap();

    let truncated = relay.dir.path().join("truncated.tar.gz");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = relay.dir.path().join("foreign.tar.gz");
    std::fs::write(&foreign, b"not a tarball at all").unwrap();
    let newer = relay.dir.path().join("newer.tar.gz");
    rewrite_manifest(&good, &newer, |m| m["schema_version"] = json!(99));

    for (archive, code) in [
        (&truncated, "CORRUPT_STORE"),
        (&foreign, "CORRUPT_STORE"),
        (&newer, "SCHEMA_MISMATCH"),
    ] {
        let out = relay_cmd(&relay, &["restore", archive.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(2), "{}", archive.display());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&relay.db).unwrap(), before, "the store changed");
    }
    assert!(
        !relay.dir.path().join("backups").exists(),
        "no safety backup for a refused restore"
    );
}

#[tokio::test]
async fn keep_prunes_the_oldest_backups() {
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    let dir = relay.dir.path().join("kept");
    for _ in 0..4 {
        let out = relay_cmd(
            &relay,
            &[
                "backup",
                "--output",
                &format!("{}/", dir.display()),
                "--keep",
                "2",
                "--json",
            ],
        );
        assert!(out.status.success());
        std::thread::sleep(std::time::Duration::from_millis(5)); // distinct names
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    let out = Command::new(relay_bin())
        .arg("--db")
        .arg(relay.dir.path().join("none.db"))
        .arg("backup")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Adds `mib` MiB of incompressible rows to the store, so a backup of it
/// runs long enough to be watched.
fn grow(db: &Path, mib: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS filler(b BLOB)").unwrap();
    for _ in 0..mib {
        conn.execute("INSERT INTO filler VALUES (randomblob(1 << 20))", [])
            .unwrap();
    }
}

/// `relay backup --output OUT/`, started, with SIGINT, SIGTERM and SIGHUP
/// at their default actions whatever the test runner inherited.
fn spawn_backup(relay: &Relay, out: &Path) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(relay_bin());
    cmd.env("RELAY_CONFIG", relay.config())
        .arg("--db")
        .arg(&relay.db)
        .args(["backup", "--output"])
        .arg(format!("{}/", out.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [nix::libc::SIGINT, nix::libc::SIGTERM, nix::libc::SIGHUP] {
                nix::libc::signal(sig, nix::libc::SIG_DFL);
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Scratch entries of backups and restores (`.relay-backup-tmp-*`,
/// `.relay-restore-tmp-*`, and the older `.relay-backup-*`) in `dir`.
fn scratch(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(".relay-backup-") || name.starts_with(".relay-restore-")
        })
        .collect()
}

fn mode(p: &Path) -> Option<u32> {
    std::fs::symlink_metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// Waits (at most 60 s) until a scratch directory of a running backup
/// (beside the store or in `out`) holds a snapshot file; returns it.
fn wait_for_snapshot(relay: &Relay, out: &Path, child: &mut std::process::Child) -> std::path::PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut all = scratch(relay.dir.path());
        all.extend(scratch(out));
        if let Some(d) = all.into_iter().find(|d| d.join("relay.db").exists()) {
            return d;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it was seen"
        );
        assert!(std::time::Instant::now() < deadline, "no scratch directory appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[tokio::test]
async fn a_running_backup_keeps_its_copy_of_the_store_private() {
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    grow(&relay.db, 12);
    let out = relay.dir.path().join("out");
    let mut child = spawn_backup(&relay, &out);
    let store_dir = relay.dir.path().to_owned();
    let mut seen = Vec::new();
    while child.try_wait().unwrap().is_none() {
        for d in scratch(&store_dir).into_iter().chain(scratch(&out)) {
            if let Some(m) = mode(&d) {
                seen.push((d.clone(), m));
            }
            for f in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if let Some(m) = mode(&f.path()) {
                    seen.push((f.path(), m));
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(child.wait().unwrap().success());
    assert!(
        seen.iter().any(|(p, _)| p.ends_with("relay.db")),
        "the snapshot was never seen: {seen:?}"
    );
    for (path, m) in &seen {
        let want = if path.file_name().unwrap().to_string_lossy().starts_with(".relay-") {
            0o700
        } else {
            0o600
        };
        assert_eq!(*m, want, "{} is {m:o}", path.display());
    }
    assert!(scratch(&store_dir).is_empty() && scratch(&out).is_empty());
    let archives: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(archives.len(), 1);
    assert_eq!(mode(&archives[0]), Some(0o600));
}

#[tokio::test]
async fn a_signalled_backup_removes_its_copy_of_the_store_and_dies_of_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    grow(&relay.db, 12);
    let out = relay.dir.path().join("out");
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let mut child = spawn_backup(&relay, &out);
        wait_for_snapshot(&relay, &out, &mut child);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal as i32), "{signal}: {status:?}");
        assert_eq!(scratch(relay.dir.path()), Vec::<std::path::PathBuf>::new(), "{signal}");
        assert_eq!(scratch(&out), Vec::<std::path::PathBuf>::new(), "{signal}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "{signal}: no archive");
    }
}

#[tokio::test]
async fn a_killed_backups_leftover_is_reported_by_doctor_and_removed_by_the_next_backup() {
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    grow(&relay.db, 12);
    let out = relay.dir.path().join("out");
    // SIGKILL cannot be caught: the copy stays.
    let mut child = spawn_backup(&relay, &out);
    let left = wait_for_snapshot(&relay, &out, &mut child);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    assert!(left.exists());
    // One that is still running (its owner holds owner.lock) is left alone.
    let running = relay.dir.path().join(".relay-backup-tmp-1-running");
    std::fs::create_dir(&running).unwrap();
    let owner = std::fs::File::create(running.join("owner.lock")).unwrap();
    owner.lock().unwrap();

    let doctor = |relay: &Relay| -> Value {
        let out = relay_cmd(relay, &["doctor", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let report = doctor(&relay);
    let check = crate::support::doctor_check(&report, "backup leftovers");
    assert_eq!(check["status"], "WARN", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains(&*left.to_string_lossy()), "{detail}");
    assert!(!detail.contains("running"), "{detail}");
    assert!(check["fix"].as_str().unwrap().starts_with("rm -r "), "{check}");

    let done = relay_cmd(
        &relay,
        &["backup", "--output", &format!("{}/", out.display()), "--json"],
    );
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let done: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(done["removed_leftovers"], json!([left]));
    assert!(!left.exists());
    assert!(running.exists(), "a running backup's directory was removed");
    let report = doctor(&relay);
    let check = crate::support::doctor_check(&report, "backup leftovers");
    assert_eq!(check["status"], "PASS", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("running"), "{check}");
    drop(owner);
}

#[tokio::test]
async fn restore_refuses_while_a_session_runs_even_with_the_lock_file_deleted() {
    let relay = Relay::new();
    let backups = relay.dir.path().join("backups");
    let alice = relay.agent("alice", &[]).await;
    let out = relay_cmd(&relay, &["backup", "--output", &format!("{}/", backups.display())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let archive = std::fs::read_dir(&backups).unwrap().next().unwrap().unwrap().path();
    alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "acknowledged after the backup"}),
        )
        .await;
    // People delete stray lock files.
    std::fs::remove_file(relay.dir.path().join("relay.db.lock")).unwrap();
    // doctor sees the session anyway.
    let report: Value = serde_json::from_slice(&relay_cmd(&relay, &["doctor", "--json"]).stdout).unwrap();
    let check = crate::support::doctor_check(&report, "relay processes");
    assert_eq!(check["status"], "WARN", "{check}");
    assert_eq!(check["pids"].as_array().map(Vec::len), Some(1), "{check}");
    assert!(check["detail"].as_str().unwrap().contains("is missing"), "{check}");

    let out = relay_cmd(&relay, &["restore", archive.to_str().unwrap(), "--yes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DAEMON_RUNNING"), "{stderr}");
    assert!(
        stderr.contains("pid ") && stderr.contains("serve --agent alice"),
        "{stderr}"
    );
    assert!(stderr.contains("then restore"), "{stderr}");

    alice.close().await;
    let conn = rusqlite::Connection::open(&relay.db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM messages WHERE content LIKE '%acknowledged after the backup%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "the acknowledged message vanished");
}
