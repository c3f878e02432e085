//! `relay guard` (SPEC §9, issue 13): the git pre-commit hook that
//! refuses commits touching paths another agent reserved exclusively,
//! driven through real `git commit`s in a throwaway repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{Relay, SCRUBBED_ENV, clock_file};

/// A git repository in a temp dir, with an identity and no global or
/// system git config (a developer's hooksPath must not apply).
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        let repo = Self { _dir: dir, root };
        repo.ok(&["init", "-q", "-b", "main"]);
        repo.ok(&["config", "user.name", "Test"]);
        repo.ok(&["config", "user.email", "test@example.com"]);
        repo.ok(&["remote", "add", "origin", "git@github.com:owner/repo.git"]);
        repo.write("README.md", "readme\n");
        repo.ok(&["add", "README.md"]);
        repo.ok(&["commit", "-q", "--no-verify", "-m", "init"]);
        // git prints the root with symlinks resolved: the project as agents see it.
        let top = repo.ok(&["rev-parse", "--show-toplevel"]);
        Self {
            root: PathBuf::from(String::from_utf8(top.stdout).unwrap().trim()),
            ..repo
        }
    }

    fn project(&self) -> String {
        self.root.display().to_string()
    }

    fn git(&self, relay: Option<&Relay>, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.root)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env_remove("RELAY_GUARD");
        if let Some(relay) = relay {
            cmd.env("RELAY_CONFIG", relay.config())
                .env(relay::clock::TEST_CLOCK_ENV, clock_file(&relay.config()));
        }
        cmd.envs(env.iter().copied());
        cmd.output().expect("run git")
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.git(None, &[], args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn write(&self, path: &str, text: &str) {
        let p = self.root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Stages `path` with new content and commits it as the environment
    /// says; returns the commit's output (the hook's stderr included).
    fn commit(&self, relay: &Relay, path: &str, env: &[(&str, &str)]) -> Output {
        self.write(path, &format!("{}\n", rand_line()));
        self.ok(&["add", path]);
        self.git(Some(relay), env, &["commit", "-q", "-m", &format!("change {path}")])
    }

    fn head(&self) -> String {
        String::from_utf8(self.ok(&["rev-parse", "HEAD"]).stdout).unwrap()
    }

    fn hook(&self) -> PathBuf {
        self.root.join(".git/hooks/pre-commit")
    }
}

fn rand_line() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("line {}", N.fetch_add(1, Ordering::SeqCst))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn install(relay: &Relay, repo: &Path, extra: &[&str]) -> Output {
    let repo = repo.display().to_string();
    let mut args = vec!["guard", "install", "--repo", repo.as_str()];
    args.extend_from_slice(extra);
    relay.command(&args).output().unwrap()
}

#[tokio::test]
async fn the_hook_refuses_a_commit_on_paths_another_agent_holds_and_names_the_holder() {
    let relay = Relay::new();
    let repo = Repo::new();
    let out = install(&relay, &repo.root, &["--agent", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("as agent bob"), "{}", stderr(&out));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(repo.hook()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);

    let alice = relay.agent("alice", &[]).await;
    let held = alice
        .call(
            "reserve_paths",
            json!({"project": repo.project(), "paths": ["src/**"], "ttl_seconds": 600, "reason": "refactoring the store"}),
        )
        .await;
    let expires_at = held["granted"][0]["expires_at"].as_str().unwrap().to_owned();

    // Bob (the hook's agent) touches src/: refused, naming alice.
    let before = repo.head();
    let refused = repo.commit(&relay, "src/lib.rs", &[]);
    assert!(!refused.status.success(), "the commit went through");
    let err = stderr(&refused);
    assert!(err.contains("commit refused"), "{err}");
    assert!(err.contains("src/lib.rs: reserved by alice (src/**)"), "{err}");
    assert!(err.contains("refactoring the store"), "{err}");
    assert!(err.contains(&expires_at), "{err}");
    assert!(err.contains("RELAY_GUARD=off"), "the way out is named: {err}");
    assert_eq!(repo.head(), before);

    // Alice herself may commit it (RELAY_AGENT wins over the hook's agent).
    let mine = repo.git(
        Some(&relay),
        &[("RELAY_AGENT", "alice")],
        &["commit", "-q", "-m", "alice"],
    );
    assert!(mine.status.success(), "{}", stderr(&mine));
    assert_ne!(repo.head(), before);

    // Unrelated paths pass for bob.
    let unrelated = repo.commit(&relay, "docs/intro.md", &[]);
    assert!(unrelated.status.success(), "{}", stderr(&unrelated));

    // The override lets bob through, and says so.
    let before = repo.head();
    let bypassed = repo.commit(&relay, "src/store.rs", &[("RELAY_GUARD", "off")]);
    assert!(bypassed.status.success(), "{}", stderr(&bypassed));
    let err = stderr(&bypassed);
    assert!(err.contains("RELAY_GUARD=off"), "{err}");
    assert!(err.contains("reserved by alice"), "it says what it let through: {err}");
    assert_ne!(repo.head(), before);

    // Once alice releases, bob's commit passes.
    alice.call("release_paths", json!({"project": repo.project()})).await;
    let after = repo.commit(&relay, "src/lib.rs", &[]);
    assert!(after.status.success(), "{}", stderr(&after));
    alice.close().await;
}

#[tokio::test]
async fn shared_reservations_expired_ones_and_other_repositories_do_not_block() {
    let relay = Relay::new();
    let repo = Repo::new();
    assert!(install(&relay, &repo.root, &["--agent", "bob"]).status.success());
    let alice = relay.agent("alice", &[]).await;
    let r = |project: &str, paths: &[&str], exclusive: bool, ttl: u32| json!({"project": project, "paths": paths, "ttl_seconds": ttl, "reason": "r", "exclusive": exclusive});
    alice
        .call("reserve_paths", r(&repo.project(), &["shared/**"], false, 600))
        .await;
    alice
        .call("reserve_paths", r("/somewhere/else", &["src/**"], true, 600))
        .await;
    alice
        .call("reserve_paths", r(&repo.project(), &["soon/**"], true, 60))
        .await;
    for path in ["shared/a.txt", "src/lib.rs"] {
        let out = repo.commit(&relay, path, &[]);
        assert!(out.status.success(), "{path}: {}", stderr(&out));
    }
    assert!(!repo.commit(&relay, "soon/a.txt", &[]).status.success());
    relay.advance_clock(61_000);
    let out = repo.git(Some(&relay), &[], &["commit", "-q", "-m", "later"]);
    assert!(out.status.success(), "expired: {}", stderr(&out));
    alice.close().await;
}

#[tokio::test]
async fn a_reservation_under_the_remote_url_counts_and_check_works_standalone_with_json() {
    let relay = Relay::new();
    let repo = Repo::new();
    let alice = relay.agent("alice", &[]).await;
    alice
        .call(
            "reserve_paths",
            json!({"project": "https://github.com/owner/repo", "paths": ["Cargo.toml"], "ttl_seconds": 600, "reason": "bumping deps"}),
        )
        .await;
    let root = repo.root.display().to_string();
    let check = |agent: Option<&str>, paths: &[&str]| {
        let mut args = vec!["guard", "check", "--json", "--repo", root.as_str()];
        if let Some(a) = agent {
            args.extend(["--agent", a]);
        }
        args.extend_from_slice(paths);
        relay.command(&args).output().unwrap()
    };
    let out = check(Some("bob"), &["Cargo.toml", "README.md"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["bypassed"], false);
    assert_eq!(report["agent"], "bob");
    assert_eq!(report["checked"], 2);
    assert_eq!(report["repository"], root.as_str());
    assert_eq!(report["projects"], json!([root, "github.com/owner/repo"]));
    assert_eq!(report["blocked"][0]["path"], "Cargo.toml");
    assert_eq!(report["blocked"][0]["holders"][0]["agent"], "alice");
    assert_eq!(report["blocked"][0]["holders"][0]["reason"], "bumping deps");
    assert_eq!(report["blocked"].as_array().unwrap().len(), 1);
    // Alice is not blocked by her own reservation.
    let out = check(Some("alice"), &["Cargo.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Staged paths are what is checked by default; nothing staged passes.
    let out = check(Some("bob"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    repo.write("Cargo.toml", "[package]\n");
    repo.ok(&["add", "Cargo.toml"]);
    let out = check(Some("bob"), &[]);
    assert_eq!(out.status.code(), Some(1));
    // With nobody named, every exclusive reservation counts.
    let out = check(None, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("RELAY_AGENT is not set"), "{}", stderr(&out));
    // Outside a repository: exit 2.
    let out = relay
        .command(&["guard", "check", "--repo", relay.dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    alice.close().await;
}

#[tokio::test]
async fn install_respects_hooks_path_and_another_hook_unless_told() {
    let relay = Relay::new();
    let repo = Repo::new();
    // core.hooksPath: the hook goes there.
    repo.ok(&["config", "core.hooksPath", "githooks"]);
    let out = install(&relay, &repo.root, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(repo.root.join("githooks/pre-commit").exists());
    assert!(!repo.hook().exists());
    // Installing again updates relay's own hook.
    assert!(install(&relay, &repo.root, &["--agent", "bob"]).status.success());
    let script = std::fs::read_to_string(repo.root.join("githooks/pre-commit")).unwrap();
    assert!(script.contains("RELAY_AGENT:-bob"));
    repo.ok(&["config", "--unset", "core.hooksPath"]);

    // A foreign hook is left alone...
    let hooks = repo.root.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let foreign = "#!/bin/sh\necho foreign-ran >> \"$(git rev-parse --show-toplevel)/.git/foreign.log\"\n";
    std::fs::write(repo.hook(), foreign).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(repo.hook(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = install(&relay, &repo.root, &["--agent", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--chain"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(repo.hook()).unwrap(), foreign);

    // ...or chained: it keeps running first, and the guard runs after it.
    let out = install(&relay, &repo.root, &["--agent", "bob", "--chain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit.relay-chained")).unwrap(),
        foreign
    );
    let alice = relay.agent("alice", &[]).await;
    alice
        .call(
            "reserve_paths",
            json!({"project": repo.project(), "paths": ["locked.txt"], "ttl_seconds": 600, "reason": "mine"}),
        )
        .await;
    let refused = repo.commit(&relay, "locked.txt", &[]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("reserved by alice"));
    let ran = std::fs::read_to_string(repo.root.join(".git/foreign.log")).unwrap();
    assert_eq!(ran.lines().count(), 1, "the chained hook ran first");

    // ...or replaced with --force, kept as a backup.
    std::fs::write(repo.hook(), foreign).unwrap();
    let out = install(&relay, &repo.root, &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(hooks.join("pre-commit.relay-backup")).unwrap(),
        foreign
    );
    assert!(std::fs::read_to_string(repo.hook()).unwrap().contains("relay guard"));
    // A bad agent name is refused before anything is written.
    let out = install(&relay, &repo.root, &["--agent", "not a name"]);
    assert_eq!(out.status.code(), Some(2));
    alice.close().await;
}
