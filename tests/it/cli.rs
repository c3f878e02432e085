//! The command line itself: help, exit codes, and the generated man pages
//! and completions committed in `man/` and `completions/`.

use std::path::Path;

use assert_cmd::Command;

use crate::support::relay_bin;

fn relay() -> Command {
    let mut cmd = Command::new(relay_bin());
    for var in [
        "RELAY_DB",
        "RELAY_AGENT",
        "RELAY_ROLE",
        "RELAY_CAPABILITIES",
        "RELAY_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn help_lists_only_working_subcommands() {
    let out = relay().arg("--help").assert().success().get_output().stdout.clone();
    let help = String::from_utf8(out).unwrap();
    for sub in [
        "serve",
        "worker",
        "hook",
        "generate-hooks",
        "tail",
        "init",
        "test",
        "doctor",
        "backup",
        "restore",
        "recover",
        "agents",
        "token",
        "pair",
        "re-encrypt",
        "completions",
        "man",
    ] {
        assert!(
            help.contains(&format!("  {sub} ")),
            "{sub} missing from --help:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    relay().arg("no-such-command").assert().code(2);
    relay()
        .args(["serve", "--transport", "carrier-pigeon"])
        .assert()
        .code(2);
    relay().args(["serve", "--role", "x"]).assert().code(2); // --role needs --agent
}

#[test]
fn corrupt_store_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    std::fs::write(
        &db,
        b"this is not a sqlite database, just text that is long enough to fill a header page",
    )
    .unwrap();
    let out = relay()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--agent", "a"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("CORRUPT_STORE"), "{stderr}");
    assert!(out.get_output().stdout.is_empty());
}

fn assert_dir_matches(committed: &Path, generated: &Path, regenerate: &str) {
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(committed),
        names(generated),
        "file set differs; regenerate with: {regenerate}"
    );
    for name in names(generated) {
        let want = std::fs::read(generated.join(&name)).unwrap();
        let have = std::fs::read(committed.join(&name)).unwrap();
        assert!(
            want == have,
            "{} is out of date; regenerate with: {regenerate}",
            committed.join(&name).display()
        );
    }
}

#[test]
fn committed_man_pages_and_completions_match_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let regenerate = "cargo run -q -- man --out-dir man && cargo run -q -- completions --out-dir completions";
    relay()
        .args(["man", "--out-dir"])
        .arg(tmp.path().join("man"))
        .assert()
        .success();
    relay()
        .args(["completions", "--out-dir"])
        .arg(tmp.path().join("completions"))
        .assert()
        .success();
    assert_dir_matches(&root.join("man"), &tmp.path().join("man"), regenerate);
    assert_dir_matches(&root.join("completions"), &tmp.path().join("completions"), regenerate);
}

#[test]
fn completions_and_man_print_to_stdout() {
    let bash = relay()
        .args(["completions", "bash"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&bash).contains("complete -F _relay"));
    let man = relay().arg("man").assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&man).starts_with(".ie"));
}

#[test]
fn relay_test_passes_every_step_on_a_throwaway_store() {
    let home = tempfile::tempdir().unwrap();
    let out = relay()
        .env("HOME", home.path())
        .args(["test", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "serve starts",
            "message",
            "wake notification",
            "task through a worker",
            "backup",
            "restore"
        ]
    );
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "PASS"),
        "{report}"
    );
    // The user's store (default path under HOME) was never created.
    assert!(!home.path().join(".local/share/relay").exists());
}
