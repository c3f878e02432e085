//! `relay generate-hooks`: the Claude Code hook settings that run `relay
//! hook` (SessionStart, PostToolUse, Stop), printed or merged into a
//! settings file. Merging is idempotent and keeps every other setting.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{GenerateHooksArgs, GlobalArgs};

/// Hook events relay installs, with the `relay hook` event name each runs.
const EVENTS: [(&str, &str); 3] = [
    ("SessionStart", "session-start"),
    ("PostToolUse", "post-tool-use"),
    ("Stop", "stop"),
];

/// The marker that identifies relay's own hook commands (for re-merging).
const MARKER: &str = " hook ";

/// Prints the hooks JSON, or merges it into `--write FILE`.
///
/// Errors (exit 2): the file is not valid JSON or not a JSON object, or
/// cannot be written.
pub fn run(args: &GenerateHooksArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    crate::store::validate::agent_name(&args.agent)?;
    let hooks = hooks(&args.agent, global.db.as_deref());
    match &args.write {
        None => {
            let text = serde_json::to_string_pretty(&json!({ "hooks": hooks }))?;
            super::write_stdout(format!("{text}\n").as_bytes())?;
        }
        Some(file) => {
            let changed = merge_into(file, &hooks)?;
            eprintln!(
                "{} {}",
                if changed {
                    "relay hooks written to"
                } else {
                    "relay hooks already up to date in"
                },
                file.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn shell_quote(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `hooks` object: one relay command per event.
pub fn hooks(agent: &str, db: Option<&Path>) -> Value {
    let db = db
        .map(|p| format!(" --db {}", shell_quote(&p.display().to_string())))
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    for (event, name) in EVENTS {
        let command = format!("relay{db}{MARKER}{name} --agent {}", shell_quote(agent));
        let mut entry = json!({ "hooks": [{ "type": "command", "command": command, "timeout": 10 }] });
        if event == "PostToolUse" {
            entry["matcher"] = json!("*");
        }
        out.insert(event.into(), json!([entry]));
    }
    Value::Object(out)
}

fn is_relay_entry(entry: &Value) -> bool {
    entry["hooks"].as_array().is_some_and(|hs| {
        hs.iter().any(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("relay") && c.contains(MARKER))
        })
    })
}

/// Merges `hooks` into the settings file: replaces earlier relay entries,
/// keeps everything else. Returns whether the file changed.
pub fn merge_into(file: &Path, hooks: &Value) -> anyhow::Result<bool> {
    let before = match std::fs::read_to_string(file) {
        Ok(text) if text.trim().is_empty() => String::new(),
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let mut settings: Value = if before.is_empty() {
        json!({})
    } else {
        serde_json::from_str(&before).with_context(|| format!("{} is not valid JSON; fix it first", file.display()))?
    };
    let Some(root) = settings.as_object_mut() else {
        bail!("{} is not a JSON object", file.display())
    };
    let all = root.entry("hooks").or_insert_with(|| json!({}));
    let Some(all) = all.as_object_mut() else {
        bail!("\"hooks\" in {} is not an object", file.display())
    };
    for (event, entries) in hooks.as_object().expect("hooks is an object") {
        let list = all.entry(event.clone()).or_insert_with(|| json!([]));
        let Some(list) = list.as_array_mut() else {
            bail!("hooks.{event} in {} is not a list", file.display())
        };
        list.retain(|e| !is_relay_entry(e));
        list.extend(entries.as_array().expect("a list").iter().cloned());
    }
    let after = format!("{}\n", serde_json::to_string_pretty(&settings)?);
    if after == before {
        return Ok(false);
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = file.with_extension("relay-tmp");
    std::fs::write(&tmp, &after).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(true)
}
