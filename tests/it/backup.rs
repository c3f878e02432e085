//! `relay backup` and `relay restore` through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Relay, relay_bin};

fn relay_cmd(relay: &Relay, args: &[&str]) -> std::process::Output {
    Command::new(relay_bin())
        .env("RELAY_CONFIG", relay.config())
        .arg("--db")
        .arg(&relay.db)
        .args(args)
        .output()
        .unwrap()
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
