//! `relay init` and the config file (flags > environment > file > defaults).

use std::os::unix::fs::PermissionsExt;

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Relay, relay_bin};

fn relay() -> Command {
    let mut cmd = Command::new(relay_bin());
    for var in ["RELAY_DB", "RELAY_CONFIG", "RELAY_AGENT"] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn init_writes_a_private_config_creates_the_store_and_prints_mcp_configs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cfg/config.toml");
    let db = dir.path().join("data/relay.db");
    let out = relay()
        .current_dir(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .args(["init", "--yes", "--agent", "frontend", "--install-hooks"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\"mcpServers\"") && stdout.contains("[mcp_servers.relay]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"--agent\"") && stdout.contains("frontend"),
        "{stdout}"
    );
    assert!(
        stdout.contains(db.to_str().unwrap()),
        "a non-default store is named in the snippets"
    );
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&config).unwrap().contains(db.to_str().unwrap()));
    assert!(db.exists());
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(".claude/settings.json")).unwrap()).unwrap();
    assert!(
        settings["hooks"]["Stop"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains("--agent frontend")
    );

    let again = relay()
        .arg("--config")
        .arg(&config)
        .args(["init", "--yes"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    relay()
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .args(["init", "--yes", "--force"])
        .assert()
        .success();

    // Not on a terminal and no --yes: refused.
    let other = dir.path().join("other.toml");
    relay().arg("--config").arg(&other).arg("init").assert().code(2);
}

#[tokio::test]
async fn the_config_file_sets_limits_and_the_store_and_flags_win() {
    let relay_env = Relay::new();
    let config = relay_env.dir.path().join("config.toml");
    let from_file = relay_env.dir.path().join("from-file.db");
    std::fs::write(
        &config,
        format!(
            "db = {:?}\n[limits]\nmax_content_bytes = 10\n",
            from_file.display().to_string()
        ),
    )
    .unwrap();
    // The harness passes --db, which beats the file's db; the limit applies.
    let a = relay_env
        .serve(&["--config", config.to_str().unwrap(), "--agent", "alice"])
        .await;
    a.call("send_message", json!({"to": "bob", "content": "ten bytes!"}))
        .await;
    let (code, _) = a
        .call_err("send_message", json!({"to": "bob", "content": "eleven byte"}))
        .await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    a.close().await;
    assert!(!from_file.exists(), "--db must beat the file's db");

    // Without --db, the file's db is used.
    let out = relay()
        .arg("--config")
        .arg(&config)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["store"], from_file.to_str().unwrap());

    std::fs::write(&config, "db = 5\nnonsense = true\n").unwrap();
    let out = relay().arg("--config").arg(&config).args(["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // doctor reports it as a FAIL with a fix instead of crashing.
    let out = relay()
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&relay_env.db)
        .args(["doctor"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("FAIL  config")), "{text}");
    let missing = relay_env.dir.path().join("missing.toml");
    relay().arg("--config").arg(&missing).args(["backup"]).assert().code(2);
}

#[test]
fn init_encrypt_writes_a_private_keyring_and_the_store_seals_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cfg/config.toml");
    let db = dir.path().join("data/relay.db");
    let init = |extra: &[&str]| {
        relay()
            .env_remove("RELAY_ENCRYPTION_KEYRING")
            .env_remove("RELAY_ENCRYPTION_KEYRING_PATH")
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .args(["init", "--yes", "--agent", "a", "--encrypt"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = init(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("new keyring written to"));
    let keyring = dir.path().join("cfg/keyring.json");
    assert_eq!(std::fs::metadata(&keyring).unwrap().permissions().mode() & 0o777, 0o600);
    let first: Value = serde_json::from_str(&std::fs::read_to_string(&keyring).unwrap()).unwrap();
    assert_eq!(first["current"], "k1");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("keyring_path = \"keyring.json\"")
    );

    // --force rewrites the config but never a keyring: it would lose data.
    let out = init(&["--force"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("keeping the keyring"));
    let second: Value = serde_json::from_str(&std::fs::read_to_string(&keyring).unwrap()).unwrap();
    assert_eq!(first, second);

    // Subcommands find the keyring through the config: doctor opens it.
    let out = relay()
        .env_remove("RELAY_ENCRYPTION_KEYRING")
        .env_remove("RELAY_ENCRYPTION_KEYRING_PATH")
        .arg("--config")
        .arg(&config)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = crate::support::doctor_check(&report, "keyring");
    assert_eq!(check["status"], "PASS", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("\"k1\""), "{check}");
}

/// The JSON object printed after `heading` in `relay init`'s output.
fn json_after(stdout: &str, heading: &str) -> Value {
    let at = stdout
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{stdout}"))
        + heading.len();
    serde_json::Deserializer::from_str(&stdout[at..])
        .into_iter::<Value>()
        .next()
        .expect("a JSON object")
        .expect("valid JSON")
}

#[test]
fn init_yes_transport_http_prints_hub_configs_for_claude_code_codex_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:4567/mcp";
    let out = relay()
        .current_dir(dir.path())
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("--db")
        .arg(dir.path().join("relay.db"))
        .args([
            "init",
            "--yes",
            "--agent",
            "frontend",
            "--transport",
            "http",
            "--hub-url",
            url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();

    let claude = json_after(&stdout, "Claude Code (.mcp.json in your project):");
    assert_eq!(
        claude,
        json!({"mcpServers": {"relay": {
            "type": "http",
            "url": url,
            "headers": {"X-Agent-Token": "${RELAY_AGENT_TOKEN}"},
        }}})
    );
    let cursor = json_after(&stdout, "Cursor (.cursor/mcp.json or ~/.cursor/mcp.json):");
    assert_eq!(
        cursor,
        json!({"mcpServers": {"relay": {
            "url": url,
            "headers": {"X-Agent-Token": "${env:RELAY_AGENT_TOKEN}"},
        }}})
    );
    let codex = format!(
        "[mcp_servers.relay]\nurl = \"{url}\"\nenv_http_headers = {{ \"X-Agent-Token\" = \"RELAY_AGENT_TOKEN\" }}\n"
    );
    assert!(stdout.contains(&codex), "{stdout}");
    let table: toml::Table = toml::from_str(&codex).unwrap();
    assert_eq!(table["mcp_servers"]["relay"]["url"].as_str(), Some(url));

    // How to start the hub there, get a token, and check both.
    assert!(stdout.contains("relay serve --transport http --port 4567"), "{stdout}");
    assert!(stdout.contains("'Mcp-Name: register_agent'"), "{stdout}");
    assert!(stdout.contains("\"arguments\":{\"name\":\"frontend\"}"), "{stdout}");
    assert!(stdout.contains(&format!("relay doctor --remote {url}")), "{stdout}");
    // A loopback hub needs no secret, so no client sends one.
    assert!(!stdout.contains("Authorization"), "{stdout}");
    assert!(
        !stdout.contains("\"command\""),
        "stdio configs printed for http:\n{stdout}"
    );

    // A URL that is not one is refused before anything is written.
    let other = dir.path().join("other.toml");
    relay()
        .arg("--config")
        .arg(&other)
        .args(["init", "--yes", "--transport", "http", "--hub-url", "127.0.0.1:3777"])
        .assert()
        .code(2);
    assert!(!other.exists());
}

#[test]
fn init_both_starts_the_hub_from_this_terminals_client_and_connects_the_rest_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay()
        .current_dir(dir.path())
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("--db")
        .arg(dir.path().join("relay.db"))
        .args(["init", "--yes", "--agent", "lead", "--transport", "both"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stdio = json_after(&stdout, "Claude Code (.mcp.json in your project):");
    let args: Vec<&str> = stdio["mcpServers"]["relay"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.ends_with(&["serve", "--transport", "both", "--agent", "lead"]),
        "{args:?}"
    );
    let others = &stdout[stdout.find("connects to the hub:").expect("the HTTP part")..];
    let http = json_after(others, "Claude Code (.mcp.json in your project):");
    assert_eq!(http["mcpServers"]["relay"]["url"], "http://127.0.0.1:3777/mcp");
    assert_eq!(
        http["mcpServers"]["relay"]["headers"]["X-Agent-Token"],
        "${RELAY_AGENT_TOKEN}"
    );
}
