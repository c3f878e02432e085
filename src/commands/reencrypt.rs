//! `relay re-encrypt`: move the encrypted columns to another key (SPEC §5,
//! §6), or check that no value uses a key any more.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;

use crate::cli::ReEncryptArgs;
use crate::config::Settings;
use crate::crypto::{self, Field, Keyring};
use crate::error::Error;
use crate::store::Store;
use crate::store::lock::ReencryptLock;
use crate::store::reencrypt::{KeyCounts, Plan};

/// One column's line in the report.
#[derive(Debug, Serialize)]
struct FieldReport {
    field: &'static str,
    /// Values that needed moving when the run started.
    to_move: u64,
    /// Values this run moved.
    moved: u64,
}

/// Runs `relay re-encrypt`.
///
/// Exit codes: 0 done, stopped at `--max-batches`, or `--verify-clean`
/// found nothing; 1 `--verify-clean` found values under the key, values
/// kept being written under another key during every pass, or another run
/// holds the store (`CONFLICT`); 2 no or bad keyring, a key not in it, a
/// value that does not open, a store error.
pub fn run(args: &ReEncryptArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(key) = &args.verify_clean {
        return verify_clean(key, args.json, &settings.open_store()?);
    }
    let to = args.to.clone().expect("clap requires --to without --verify-clean");
    let Some(keyring) = settings.keyring()? else {
        bail!(Error::validation(format!(
            "re-encrypt needs an encryption keyring: set {} to a keyring file (or {}, or [encryption] \
             keyring_path in the config file)",
            crypto::ENV_KEYRING_PATH,
            crypto::ENV_KEYRING
        )));
    };
    for key in std::iter::once(&to).chain(&args.from) {
        if !keyring.contains(key) {
            bail!(Error::validation(format!(
                "the keyring has no key {key:?} (it has {}); add it first",
                keyring.key_ids().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let plan = Plan {
        to,
        from: args.from.clone(),
    };
    let store = settings.open_store()?;
    let counts: Vec<KeyCounts> = Field::ALL
        .into_iter()
        .map(|f| store.key_counts(f))
        .collect::<Result<_, _>>()?;
    let mut fields: Vec<FieldReport> = Field::ALL
        .into_iter()
        .zip(&counts)
        .map(|(f, c)| FieldReport {
            field: f.name(),
            to_move: c.to_move(&plan),
            moved: 0,
        })
        .collect();
    let total: u64 = fields.iter().map(|f| f.to_move).sum();
    if args.dry_run {
        report(args.json, &plan, true, false, Outcome::Complete, &fields, &counts)?;
        return Ok(ExitCode::SUCCESS);
    }
    if plan.to != keyring.current() {
        eprintln!(
            "relay: warning: the keyring's current key is {:?}: new values are still sealed with it, not {:?}",
            keyring.current(),
            plan.to
        );
    }
    let _one_run = ReencryptLock::acquire(&settings.db)?;
    let resumed = store.reencrypt_begin(&plan)?;
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:<26} {wide_bar} {pos}/{len} values ({per_sec}, {eta} left)")
                .expect("a valid template"),
        );
        bar
    });
    let mut batches = 0u64;
    let mut outcome = Outcome::Complete;
    for pass in 1..=MAX_PASSES {
        let stopped = match one_pass(&store, &keyring, &plan, args, &mut fields, &mut batches, bar.as_ref()) {
            Ok(stopped) => stopped,
            Err(e) => {
                if let Some(bar) = &bar {
                    bar.abandon();
                }
                return Err(e.into());
            }
        };
        if stopped {
            outcome = Outcome::Stopped;
            break;
        }
        // Rows behind the cursor can change during a pass (a task
        // completed by a process whose current key is another, a reused
        // audit rowid): count again, and go round once more if needed.
        let left: u64 = Field::ALL
            .into_iter()
            .map(|f| store.key_counts(f).map(|c| c.to_move(&plan)))
            .sum::<Result<_, _>>()?;
        if left == 0 {
            store.reencrypt_finish()?;
            break;
        }
        if pass == MAX_PASSES {
            outcome = Outcome::Left(left);
        } else {
            store.reencrypt_rewind()?;
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    report(args.json, &plan, false, resumed, outcome, &fields, &counts)?;
    Ok(match outcome {
        Outcome::Left(_) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// How many times a run goes over the columns before it reports values
/// that keep changing under another key.
const MAX_PASSES: u32 = 3;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every value is under the target key.
    Complete,
    /// `--max-batches` stopped it; the progress is recorded.
    Stopped,
    /// This many values still need moving after every pass: something
    /// keeps writing them under another key.
    Left(u64),
}

/// One pass over every column from the recorded cursors. Returns whether
/// `--max-batches` stopped it.
fn one_pass(
    store: &Store,
    keyring: &Keyring,
    plan: &Plan,
    args: &ReEncryptArgs,
    fields: &mut [FieldReport],
    batches: &mut u64,
    bar: Option<&indicatif::ProgressBar>,
) -> crate::error::Result<bool> {
    for (field, line) in Field::ALL.into_iter().zip(fields) {
        if let Some(bar) = bar {
            bar.set_message(field.name());
        }
        loop {
            if args.max_batches.is_some_and(|max| *batches >= max) {
                return Ok(true);
            }
            let batch = store.reencrypt_batch(keyring, plan, field, args.batch_size as usize)?;
            if batch.done {
                break;
            }
            *batches += 1;
            line.moved += batch.moved;
            if let Some(bar) = bar {
                bar.inc(batch.moved);
            }
        }
    }
    Ok(false)
}

fn report(
    json: bool,
    plan: &Plan,
    dry_run: bool,
    resumed: bool,
    outcome: Outcome,
    fields: &[FieldReport],
    counts: &[KeyCounts],
) -> anyhow::Result<()> {
    let moved: u64 = fields.iter().map(|f| f.moved).sum();
    let to_move: u64 = fields.iter().map(|f| f.to_move).sum();
    let left = match outcome {
        Outcome::Left(n) => n,
        _ => 0,
    };
    if json {
        let report = serde_json::json!({
            "to": plan.to, "from": plan.from, "dry_run": dry_run, "resumed": resumed,
            "complete": outcome == Outcome::Complete, "left": left,
            "to_move": to_move, "moved": moved, "fields": fields, "keys": counts,
        });
        return Ok(super::write_stdout(format!("{report}\n").as_bytes())?);
    }
    let mut text = String::new();
    let scope = match &plan.from {
        Some(from) => format!("sealed with {from:?}"),
        None => "plain or sealed with another key".to_owned(),
    };
    if dry_run {
        text.push_str(&format!(
            "would move {to_move} values ({scope}) to key {:?}:\n",
            plan.to
        ));
    } else if outcome == Outcome::Complete {
        let how = if resumed { " (resumed an earlier run)" } else { "" };
        text.push_str(&format!("moved {moved} values to key {:?}{how}:\n", plan.to));
    } else if left > 0 {
        text.push_str(&format!(
            "moved {moved} values to key {:?}, but {left} were written again under another key meanwhile; \
             make {:?} the keyring's current key, restart the agents, and run this again:\n",
            plan.to, plan.to
        ));
    } else {
        text.push_str(&format!(
            "moved {moved} values to key {:?}, then stopped at --max-batches; run the same command again to go on:\n",
            plan.to
        ));
    }
    for f in fields {
        let n = if dry_run { f.to_move } else { f.moved };
        text.push_str(&format!("  {:<26} {n}\n", f.field));
    }
    Ok(super::write_stdout(text.as_bytes())?)
}

fn verify_clean(key: &str, json: bool, store: &Store) -> anyhow::Result<ExitCode> {
    if !crypto::valid_key_id(key) {
        bail!(Error::validation(format!(
            "{key:?} is not a key id: use 1-64 letters, digits, '.', '_' or '-'"
        )));
    }
    let mut in_use = Vec::new();
    for field in Field::ALL {
        let count = store.key_counts(field)?.by_key.get(key).copied().unwrap_or(0);
        in_use.push((field.name(), count));
    }
    let total: u64 = in_use.iter().map(|(_, n)| n).sum();
    if json {
        let fields: Vec<_> = in_use
            .iter()
            .map(|(field, count)| serde_json::json!({ "field": field, "count": count }))
            .collect();
        let report = serde_json::json!({ "key": key, "clean": total == 0, "in_use": total, "fields": fields });
        super::write_stdout(format!("{report}\n").as_bytes())?;
    } else if total == 0 {
        super::write_stdout(format!("clean: no stored value is sealed with key {key:?}\n").as_bytes())?;
    } else {
        let mut text = format!("{total} stored values are still sealed with key {key:?}:\n");
        for (field, count) in in_use.iter().filter(|(_, n)| *n > 0) {
            text.push_str(&format!("  {field:<26} {count}\n"));
        }
        text.push_str("move them with relay re-encrypt --to <the current key> before removing the key\n");
        super::write_stdout(text.as_bytes())?;
    }
    Ok(if total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
