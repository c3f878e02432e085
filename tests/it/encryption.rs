//! Encryption at rest (SPEC §6) and `relay re-encrypt`, through the real
//! binary: what reaches the database file, bad keyrings, key rotation.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{Client, Relay, ScrubRelayEnv, relay_bin};

const KEYRING_PATH: &str = "RELAY_ENCRYPTION_KEYRING_PATH";

/// Writes a keyring file (0600) holding `keys` (id, fill byte), current `current`.
fn keyring(relay: &Relay, file: &str, current: &str, keys: &[(&str, u8)]) -> PathBuf {
    let keys: serde_json::Map<String, Value> = keys
        .iter()
        .map(|(id, fill)| {
            let b64 = base64::engine::general_purpose::STANDARD.encode([*fill; 32]);
            (id.to_string(), Value::String(b64))
        })
        .collect();
    let path = relay.dir.path().join(file);
    std::fs::write(&path, json!({"current": current, "keys": keys}).to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `relay --db DB ARGS...` with the test's empty config and `env`.
fn cli(relay: &Relay, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(relay_bin());
    cmd.env_clear_relay()
        .env("RELAY_CONFIG", relay.config())
        .arg("--db")
        .arg(&relay.db)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Every byte of the store's files (database, WAL).
fn store_bytes(relay: &Relay) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let mut path = relay.db.clone().into_os_string();
        path.push(suffix);
        if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn agent_with(relay: &Relay, name: &str, ring: &Path) -> Client {
    relay
        .serve_env(
            &["--agent", name, "--capabilities", "tasks,channels"],
            &[(KEYRING_PATH, ring.to_str().unwrap())],
        )
        .await
}

/// Alice sends Bob a message, a channel post and a task, which Bob
/// completes; each text carries `tag`. Returns the task id.
async fn traffic(alice: &Client, bob: &Client, tag: &str) -> i64 {
    alice
        .call(
            "send_message",
            json!({"to": "bob", "content": format!("{tag}-message")}),
        )
        .await;
    alice
        .call("create_channel", json!({"name": format!("c-{}", tag.to_lowercase())}))
        .await;
    bob.call("join_channel", json!({"channel": format!("c-{}", tag.to_lowercase())}))
        .await;
    alice
        .call(
            "post_to_channel",
            json!({"channel": format!("c-{}", tag.to_lowercase()), "content": format!("{tag}-post")}),
        )
        .await;
    let id = alice
        .call(
            "post_task",
            json!({"to": "bob", "title": "t", "description": format!("{tag}-description")}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let token = bob
        .call("update_task", json!({"task_id": id, "action": "accept"}))
        .await["task"]["fencing_token"]
        .as_i64()
        .unwrap();
    bob.call(
        "update_task",
        json!({"task_id": id, "action": "complete", "result": format!("{tag}-result"), "fencing_token": token}),
    )
    .await;
    id
}

/// Bob sees every text of `traffic(tag)` in clear.
async fn assert_readable(alice: &Client, bob: &Client, tag: &str, id: i64) {
    let inbox = bob.call("get_messages", json!({"status": "all", "limit": 100})).await;
    let texts: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(texts.contains(&format!("{tag}-message").as_str()), "{inbox}");
    let posts = bob
        .call(
            "get_channel_messages",
            json!({"channel": format!("c-{}", tag.to_lowercase()), "status": "all"}),
        )
        .await;
    assert_eq!(posts["messages"][0]["content"], format!("{tag}-post"));
    let task = alice.call("get_task", json!({"task_id": id})).await["task"].clone();
    assert_eq!(task["description"], format!("{tag}-description"));
    assert_eq!(task["result"], format!("{tag}-result"));
}

#[tokio::test]
async fn under_a_keyring_no_plaintext_reaches_the_database_file() {
    let relay = Relay::new();
    let ring = keyring(&relay, "keyring.json", "k1", &[("k1", 1)]);
    let alice = agent_with(&relay, "alice", &ring).await;
    let bob = agent_with(&relay, "bob", &ring).await;
    let id = traffic(&alice, &bob, "SECRET").await;
    assert_readable(&alice, &bob, "SECRET", id).await;
    // A message that imitates a sealed value is just text.
    alice
        .call("send_message", json!({"to": "bob", "content": "enc:k1:AAAA:BBBB"}))
        .await;

    // What reached the files (database and WAL): ciphertext only.
    let bytes = store_bytes(&relay);
    for secret in ["SECRET-message", "SECRET-post", "SECRET-description", "SECRET-result"] {
        assert!(!contains(&bytes, secret), "{secret} is in the store file");
    }
    let conn = rusqlite::Connection::open(&relay.db).unwrap();
    for sql in [
        "SELECT content FROM messages",
        "SELECT content FROM channel_messages",
        "SELECT description FROM tasks",
        "SELECT result FROM tasks",
        "SELECT params FROM audit",
    ] {
        let values: Vec<String> = conn
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!values.is_empty(), "{sql}");
        assert!(values.iter().all(|v| v.starts_with("enc:k1:")), "{sql}: {values:?}");
    }

    // Without the keyring a process refuses to open the store at all,
    // rather than write plain text next to sealed values.
    let out = cli(&relay, &["serve", "--agent", "bob"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted at rest and no keyring is configured"));
    // A keyring whose k1 is another key fails authentication: a clear
    // error for that call, and the session keeps serving.
    let wrong = keyring(&relay, "wrong.json", "k1", &[("k1", 9)]);
    let mallory = agent_with(&relay, "alice", &wrong).await;
    let (code, body) = mallory.call_err("get_task", json!({"task_id": id})).await;
    assert_eq!(code, "CORRUPT_STORE");
    assert!(body["error"].as_str().unwrap().contains("does not decrypt"), "{body}");
    assert_eq!(mallory.call("health_check", json!({})).await["status"], "ok");

    let inbox = bob.call("get_messages", json!({"status": "all"})).await;
    assert_eq!(inbox["messages"][1]["content"], "enc:k1:AAAA:BBBB");
    for c in [alice, bob, mallory] {
        c.close().await;
    }
}

#[test]
fn a_bad_keyring_refuses_to_start_with_exit_2() {
    let relay = Relay::new();
    let good = keyring(&relay, "keyring.json", "k1", &[("k1", 1)]);
    let short = relay.dir.path().join("short.json");
    std::fs::write(&short, r#"{"current":"k1","keys":{"k1":"c2hvcnQ="}}"#).unwrap();
    let malformed = relay.dir.path().join("malformed.json");
    std::fs::write(&malformed, r#"{"current":"k1","keys":"#).unwrap();
    let cases: Vec<(Vec<(&str, &Path)>, &str)> = vec![
        (vec![(KEYRING_PATH, &malformed)], "is cut short"),
        (vec![(KEYRING_PATH, &short)], "5 bytes"),
        (
            vec![(KEYRING_PATH, Path::new("/nonexistent/keyring.json"))],
            "cannot read",
        ),
        (
            vec![(KEYRING_PATH, &good), ("RELAY_ENCRYPTION_KEYRING", Path::new("{}"))],
            "more than one place",
        ),
    ];
    for (env, needle) in cases {
        let out = cli(&relay, &["serve", "--agent", "a"], &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(!err.contains(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])));
    }
    assert!(!relay.db.exists(), "nothing was created");

    // The config file's keyring_path is a source too (relative to the file).
    let config = relay.dir.path().join("config.toml");
    std::fs::write(&config, "[encryption]\nkeyring_path = \"keyring.json\"\n").unwrap();
    let out = Command::new(relay_bin())
        .env_clear_relay()
        .env("RELAY_CONFIG", &config)
        .env(KEYRING_PATH, &good)
        .args([
            "--db",
            relay.db.to_str().unwrap(),
            "re-encrypt",
            "--to",
            "k1",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the config file's keyring_path"));
    let out = Command::new(relay_bin())
        .env_clear_relay()
        .env("RELAY_CONFIG", &config)
        .args([
            "--db",
            relay.db.to_str().unwrap(),
            "re-encrypt",
            "--to",
            "k1",
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["to_move"], 0);

    // doctor reports the broken keyring as a FAIL with a fix.
    let out = cli(&relay, &["doctor", "--json"], &[(KEYRING_PATH, &short)]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    let check = crate::support::doctor_check(&report, "keyring");
    assert_eq!(check["status"], "FAIL", "{check}");
    assert!(check["fix"].as_str().unwrap().contains("openssl rand -base64 32"));
}

#[tokio::test]
async fn re_encrypt_rotates_keys_resumably_while_values_stay_readable() {
    let relay = Relay::new();
    // Plain traffic first, written before any keyring.
    let alice = relay.agent("alice", &["tasks", "channels"]).await;
    let bob = relay.agent("bob", &["tasks", "channels"]).await;
    let plain_task = traffic(&alice, &bob, "PLAIN").await;
    for i in 0..20 {
        alice
            .call(
                "send_message",
                json!({"to": "bob", "content": format!("PLAIN-bulk-{i}")}),
            )
            .await;
    }
    alice.close().await;
    bob.close().await;

    let k1 = keyring(&relay, "k1.json", "k1", &[("k1", 1)]);
    let env = [(KEYRING_PATH, k1.as_path())];
    // No keyring, or a key it does not hold: refused before anything moves.
    let out = cli(&relay, &["re-encrypt", "--to", "k1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs an encryption keyring"));
    let out = cli(&relay, &["re-encrypt", "--to", "k7"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key \"k7\""));

    let dry = json_of(&cli(&relay, &["re-encrypt", "--to", "k1", "--dry-run", "--json"], &env));
    let fields: Vec<(String, u64)> = dry["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().to_owned(), f["to_move"].as_u64().unwrap()))
        .collect();
    assert_eq!(fields[0], ("messages.content".into(), 21));
    assert_eq!(fields[1], ("channel_messages.content".into(), 1));
    assert_eq!(fields[2], ("tasks.description".into(), 1));
    assert_eq!(fields[3], ("tasks.result".into(), 1));
    let total = dry["to_move"].as_u64().unwrap();
    assert!(total > 24, "audit rows move too: {dry}");
    assert!(
        contains(&store_bytes(&relay), "PLAIN-bulk-7"),
        "a dry run changes nothing"
    );

    // Interrupted after two batches of 4: progress is recorded...
    let part = json_of(&cli(
        &relay,
        &[
            "re-encrypt",
            "--to",
            "k1",
            "--batch-size",
            "4",
            "--max-batches",
            "2",
            "--json",
        ],
        &env,
    ));
    assert_eq!(part["complete"], false);
    assert_eq!(part["moved"], 8);
    let progress = relay.store_with_keyring(&k1).reencrypt_progress().unwrap();
    assert_eq!(progress[0].field, "messages.content");
    assert_eq!(progress[0].cursor, 8);
    // ...and the same command resumes from it.
    let rest = json_of(&cli(
        &relay,
        &["re-encrypt", "--to", "k1", "--batch-size", "4", "--json"],
        &env,
    ));
    assert_eq!(rest["resumed"], true);
    assert_eq!(rest["complete"], true);
    assert_eq!(rest["moved"].as_u64().unwrap(), total - 8);
    assert!(relay.store_with_keyring(&k1).reencrypt_progress().unwrap().is_empty());
    let bytes = store_bytes(&relay);
    for secret in [
        "PLAIN-bulk-7",
        "PLAIN-message",
        "PLAIN-post",
        "PLAIN-description",
        "PLAIN-result",
    ] {
        assert!(!contains(&bytes, secret), "{secret} survived re-encryption in the file");
    }
    let out = cli(&relay, &["re-encrypt", "--verify-clean", "k1"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("still sealed with key \"k1\""));

    // Rotate: k2 becomes current; new traffic is sealed with k2 while old
    // values under k1 still read.
    let k12 = keyring(&relay, "k12.json", "k2", &[("k1", 1), ("k2", 2)]);
    let alice = agent_with(&relay, "alice", &k12).await;
    let bob = agent_with(&relay, "bob", &k12).await;
    let new_task = traffic(&alice, &bob, "NEW").await;
    assert_readable(&alice, &bob, "PLAIN", plain_task).await;
    let moved = json_of(&cli(
        &relay,
        &["re-encrypt", "--to", "k2", "--from", "k1", "--json"],
        &[(KEYRING_PATH, &k12)],
    ));
    assert_eq!(moved["complete"], true);
    assert_eq!(moved["moved"].as_u64().unwrap(), total);
    let env12 = [(KEYRING_PATH, k12.as_path())];
    let clean = json_of(&cli(&relay, &["re-encrypt", "--verify-clean", "k1", "--json"], &env12));
    assert_eq!(clean["clean"], true);
    assert_eq!(
        cli(&relay, &["re-encrypt", "--verify-clean", "k1"], &env12)
            .status
            .code(),
        Some(0)
    );
    alice.close().await;
    bob.close().await;

    // k1 is gone from the keyring: everything still reads under k2 alone.
    let k2 = keyring(&relay, "k2.json", "k2", &[("k2", 2)]);
    let alice = agent_with(&relay, "alice", &k2).await;
    let bob = agent_with(&relay, "bob", &k2).await;
    assert_readable(&alice, &bob, "PLAIN", plain_task).await;
    assert_readable(&alice, &bob, "NEW", new_task).await;
    let inbox = bob.call("get_messages", json!({"status": "all", "limit": 100})).await;
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 22);
    let doctor = json_of(&cli(&relay, &["doctor", "--json"], &[(KEYRING_PATH, &k2)]));
    let check = crate::support::doctor_check(&doctor, "keyring");
    assert_eq!(check["status"], "PASS", "{check}");
    // doctor without the keyring: the sealed values need one.
    let doctor = json_of(&cli(&relay, &["doctor", "--json"], &[]));
    let check = crate::support::doctor_check(&doctor, "keyring");
    assert_eq!(check["status"], "FAIL", "{check}");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn a_worker_under_a_keyring_reads_and_seals_tasks_and_keeps_the_keyring_from_the_task() {
    let relay = Relay::new();
    let ring = keyring(&relay, "keyring.json", "k1", &[("k1", 4)]);
    let json = std::fs::read_to_string(&ring).unwrap();
    let env = [("RELAY_ENCRYPTION_KEYRING", json.as_str())];
    let boss = relay
        .serve_env(&["--agent", "boss", "--capabilities", "tasks"], &env)
        .await;
    let id = boss
        .call(
            "post_task",
            json!({"to": "w", "title": "t", "description": "SEALED-brief"}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let out = relay
        .worker(&[
            "--agent",
            "w",
            "--once",
            "--",
            "sh",
            "-c",
            "echo \"keyring=${RELAY_ENCRYPTION_KEYRING:-unset}\"; cat",
        ])
        .env("RELAY_ENCRYPTION_KEYRING", &json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let task = boss.call("get_task", json!({"task_id": id})).await["task"].clone();
    assert_eq!(task["state"], "completed");
    assert_eq!(task["result"], "keyring=unset\nSEALED-brief");
    boss.close().await;
    assert!(!contains(&store_bytes(&relay), "SEALED-brief"));
}

#[test]
fn only_one_re_encrypt_runs_at_a_time() {
    let relay = Relay::new();
    let ring = keyring(&relay, "keyring.json", "k1", &[("k1", 5)]);
    let env = [(KEYRING_PATH, ring.as_path())];
    assert!(cli(&relay, &["re-encrypt", "--to", "k1"], &env).status.success());
    // Another run holds the lock.
    let mut lock = relay.db.clone().into_os_string();
    lock.push(".reencrypt.lock");
    let held = std::fs::File::create(&lock).unwrap();
    held.lock().unwrap();
    let out = cli(&relay, &["re-encrypt", "--to", "k1"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another relay re-encrypt is running"));
    // A dry run only reads, and goes ahead.
    assert!(
        cli(&relay, &["re-encrypt", "--to", "k1", "--dry-run"], &env)
            .status
            .success()
    );
    held.unlock().unwrap();
    assert!(cli(&relay, &["re-encrypt", "--to", "k1"], &env).status.success());
}

/// The terms of the search index (`fts5vocab`), as SQLite reads them.
fn index_terms(relay: &Relay) -> Vec<String> {
    let conn = rusqlite::Connection::open(&relay.db).unwrap();
    conn.execute_batch("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, message_search, 'row')")
        .unwrap();
    conn.prepare("SELECT term FROM temp.terms")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn found(c: &Client, query: &str) -> Value {
    c.call("search_messages", json!({ "query": query })).await
}

#[tokio::test]
async fn search_under_a_keyring_keeps_words_off_the_disk_and_survives_key_rotation() {
    let relay = Relay::new();
    let k1 = keyring(&relay, "k1.json", "k1", &[("k1", 1)]);
    let alice = agent_with(&relay, "alice", &k1).await;
    let bob = agent_with(&relay, "bob", &k1).await;
    alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "the Quokkaword plan ships friday"}),
        )
        .await;
    alice.call("create_channel", json!({"name": "ops"})).await;
    bob.call("join_channel", json!({"channel": "ops"})).await;
    alice
        .call(
            "post_to_channel",
            json!({"channel": "ops", "content": "wombatword checklist"}),
        )
        .await;
    let r = found(&bob, "quokkaword").await;
    assert_eq!(r["count"], 1, "{r}");
    assert_eq!(r["results"][0]["snippet"], "the [Quokkaword] plan ships friday");
    assert_eq!(
        found(&bob, "wombatword checklist").await["results"][0]["kind"],
        "channel"
    );
    assert_eq!(
        found(&bob, "\"plan ships\"").await["count"],
        1,
        "phrases work on hashed terms"
    );

    // Neither word reaches the files, in any case; the index's word terms
    // are 16 hex digits, its other terms the names and ids the tables hold.
    let bytes = store_bytes(&relay);
    for word in ["quokkaword", "Quokkaword", "wombatword", "checklist"] {
        assert!(!contains(&bytes, word), "{word} is in the store files");
    }
    let terms = index_terms(&relay);
    assert!(!terms.is_empty());
    for t in &terms {
        let hashed = t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit());
        let meta = t
            .strip_prefix('·')
            .and_then(|m| m.strip_prefix(['s', 'r', 't', 'c', 'p']))
            .is_some_and(|m| m.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(hashed || meta, "term {t:?} is neither a keyed hash nor a name or id");
    }
    for word in ["quokkaword", "plan", "friday", "wombatword"] {
        assert!(!terms.iter().any(|t| t == word), "{word} is an index term");
    }
    alice.close().await;
    bob.close().await;

    // Rotate: k2 becomes current; new mail is indexed under k2, old mail
    // is still found under k1.
    let k12 = keyring(&relay, "k12.json", "k2", &[("k1", 1), ("k2", 2)]);
    let alice = agent_with(&relay, "alice", &k12).await;
    let bob = agent_with(&relay, "bob", &k12).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "numbatword arrives"}))
        .await;
    assert_eq!(found(&bob, "numbatword").await["count"], 1);
    assert_eq!(found(&bob, "quokkaword").await["count"], 1);
    let moved = json_of(&cli(
        &relay,
        &["re-encrypt", "--to", "k2", "--from", "k1", "--json"],
        &[(KEYRING_PATH, &k12)],
    ));
    assert_eq!(moved["complete"], true, "{moved}");
    alice.close().await;
    bob.close().await;

    // k1 is gone: re-encrypt re-indexed everything under k2.
    let k2 = keyring(&relay, "k2.json", "k2", &[("k2", 2)]);
    let bob = agent_with(&relay, "bob", &k2).await;
    for (query, kind) in [
        ("quokkaword plan", "direct"),
        ("wombatword", "channel"),
        ("numbatword", "direct"),
    ] {
        let r = found(&bob, query).await;
        assert_eq!(r["count"], 1, "{query}: {r}");
        assert_eq!(r["results"][0]["kind"], kind);
    }
    assert!(!contains(&store_bytes(&relay), "quokkaword"));
    bob.close().await;
}

#[tokio::test]
async fn re_encrypt_of_a_plain_store_takes_its_indexed_words_off_the_disk() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "zebrafishword kiwi"}))
        .await;
    assert_eq!(found(&bob, "zebrafishword").await["count"], 1);
    alice.close().await;
    bob.close().await;
    // Without a keyring the index holds the words themselves.
    assert!(index_terms(&relay).iter().any(|t| t == "zebrafishword"));
    assert!(contains(&store_bytes(&relay), "zebrafishword"));

    let k1 = keyring(&relay, "k1.json", "k1", &[("k1", 1)]);
    // Until re-encrypt, the old words stay findable next to new, hashed ones.
    let alice = agent_with(&relay, "alice", &k1).await;
    let bob = agent_with(&relay, "bob", &k1).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "zebrafishword again"}))
        .await;
    assert_eq!(found(&bob, "zebrafishword").await["count"], 2);
    alice.close().await;
    bob.close().await;
    let out = json_of(&cli(
        &relay,
        &["re-encrypt", "--to", "k1", "--json"],
        &[(KEYRING_PATH, &k1)],
    ));
    assert_eq!(out["complete"], true, "{out}");
    // The content is sealed, the index re-hashed and rewritten, the old
    // pages zeroed: the word is nowhere in the files.
    assert!(!index_terms(&relay).iter().any(|t| t == "zebrafishword" || t == "kiwi"));
    assert!(!contains(&store_bytes(&relay), "zebrafishword"));
    let bob = agent_with(&relay, "bob", &k1).await;
    let r = found(&bob, "zebrafishword").await;
    assert_eq!(r["count"], 2, "{r}");
    bob.close().await;
}
