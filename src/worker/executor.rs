//! Executors: how a worker turns a task into a child process (SPEC §4
//! Workers), and how it reads what the child said. The prompt or
//! description never passes through a shell, and for codex and claude it
//! always follows `--`, so a task text starting with `-` cannot become a
//! flag.
//!
//! A task with a `session` continues that executor conversation (issue
//! 13): codex runs `exec … resume SESSION`, claude runs `-p --resume
//! SESSION`. Every run reports the session it ran in (codex: the
//! `thread.started` event of `--json`; claude: `session_id` of
//! `--output-format json`; shell: the file `RELAY_SESSION_FILE`), and the
//! worker records it on the task, so a follow-up can continue it. The
//! exact argument vectors are on [`Executor::Codex`] and
//! [`Executor::Claude`].

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::store::tasks::Task;
use crate::store::tasks::session as task_session;

/// Which executor runs tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executor {
    /// A command (no shell): the description on stdin, stdout is the
    /// result. It gets `RELAY_SESSION` (the session the task continues,
    /// when it has one) and `RELAY_SESSION_FILE` (a path in a private
    /// directory): whatever it writes there, trimmed, is recorded as the
    /// session it ran in (1-128 characters from `A-Z a-z 0-9 . _ : -`;
    /// anything else is ignored with a warning).
    Shell {
        /// Program to run.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// OpenAI Codex CLI, `MODE` = `read-only`, or `workspace-write` for a
    /// write task:
    ///
    /// - new conversation: `codex exec -s MODE -C DIR --skip-git-repo-check
    ///   --json --output-last-message FILE -- PROMPT`
    /// - continuing `SESSION`: `codex exec -s MODE -C DIR
    ///   --skip-git-repo-check --json --output-last-message FILE -c
    ///   sandbox_mode="MODE" resume SESSION -- PROMPT`
    ///
    /// The result is FILE (else the last `agent_message` of the event
    /// stream); the session is the `thread_id` of the first event,
    /// `{"type":"thread.started","thread_id":…}`, which `--json` prints
    /// "when a thread is started or resumed" (openai/codex `docs/exec.md`).
    ///
    /// Why this order (openai/codex `codex-rs/exec/src/cli.rs` and
    /// `codex-rs/utils/cli/src/{shared_options,config_override}.rs`, main
    /// at 0280533, the codex-cli 0.14x line): `resume [SESSION_ID]
    /// [PROMPT]` is a subcommand of `exec` that takes only `--last`,
    /// `--all`, `-i` and the *global* flags (`--skip-git-repo-check`,
    /// `--json`, `-o/--output-last-message`, `-c/--config`, `-m`, …).
    /// `-s/--sandbox` and `-C/--cd` are options of `exec` itself and are
    /// refused after `resume` ("unexpected argument '-C' found", codex-cli
    /// 0.125–0.147), so every flag goes before `resume`, where `exec`
    /// applies them to the resumed thread (`thread_resume_params_from_config`
    /// in `exec/src/lib.rs` passes its cwd and sandbox). The sandbox is
    /// also given as the config override `-c sandbox_mode="MODE"`, the
    /// form releases that dropped or ignored `-s` on resume still honour
    /// (openai/codex#40149; a resumed turn must never get more than the
    /// task allows). The prompt is the second positional of `resume`,
    /// after `--`.
    ///
    /// `codex exec resume ID` with an unknown UUID exits 1 with "thread/resume
    /// failed: no rollout found for thread id ID"; with a string that is
    /// not a UUID it looks the name up and, finding nothing, silently starts
    /// a new thread. So SESSION must be a thread id (a UUID, as
    /// `thread.started` reported it; anything else fails the task before
    /// codex starts), and a resume whose `thread.started` names another
    /// thread fails the task as "session not found" too.
    Codex,
    /// Claude Code CLI, `MODE` = `plan`, or `acceptEdits` for a write task:
    ///
    /// - new conversation: `claude -p --permission-mode MODE --output-format
    ///   json -- PROMPT`
    /// - continuing `SESSION`: `claude -p --permission-mode MODE
    ///   --output-format json --resume SESSION -- PROMPT`
    ///
    /// `--output-format json` prints one object when the run ends, `{"type":
    /// "result", "subtype": "success", "is_error": false, "result": TEXT,
    /// "session_id": ID, …}` (Claude Code CLI reference and "Run Claude
    /// Code programmatically", docs.anthropic.com/en/docs/claude-code, 2.1
    /// line): the result is `result`, the session `session_id`. An answer
    /// with `is_error: true` fails the task even when the exit code is 0.
    /// A session that no longer exists (or belongs to another project
    /// directory: Claude Code keeps sessions per working directory, so
    /// continue with the same `--cwd`) ends with "No conversation found
    /// with session ID: ID" on stderr, or in the result's `errors`, and
    /// a non-zero exit (anthropics/claude-code#1967, #40609). Claude Code
    /// may answer a resume with a new `session_id`; the task records the
    /// one it reported, which is the one to continue next.
    Claude,
}

/// How to read a finished child's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// stdout is the result.
    Plain,
    /// `codex exec --json`: JSONL events on stdout, the result in a file.
    CodexEvents,
    /// `claude -p --output-format json`: one result object on stdout.
    ClaudeResult,
}

/// A prepared child process for one task.
#[derive(Debug)]
pub struct Prepared {
    /// The command, with stdio and process group set.
    pub command: tokio::process::Command,
    /// Text for the child's stdin (shell executor), if any.
    pub stdin: Option<String>,
    /// Where codex writes its last message (the result): a file in a
    /// private (0700) temporary directory, removed when this is dropped.
    pub output_file: Option<PathBuf>,
    /// Where a shell executor may write the session it ran in (same
    /// private directory).
    pub session_file: Option<PathBuf>,
    /// Keeps that directory alive until the result has been read.
    pub scratch: Option<tempfile::TempDir>,
    /// The session the task continues, if any.
    pub resumes: Option<String>,
    reading: Reading,
}

/// What a finished child means for its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Complete the task with `result`.
    Complete {
        /// The result text (not yet truncated to the content limit).
        result: String,
        /// The executor session it ran in, if the executor reported one.
        session: Option<String>,
    },
    /// Fail the task with `error`.
    Fail {
        /// Why (not yet truncated).
        error: String,
        /// The executor session it ran in, if it reported one (never the
        /// session of a resume that did not find its session).
        session: Option<String>,
    },
}

/// The prompt codex and claude get: the title, a blank line, the description.
pub fn prompt(task: &Task) -> String {
    format!("{}\n\n{}", task.title, task.description)
}

/// How much of stdout the worker keeps for `reading`, in bytes, when a
/// result may be `limit` bytes: the result itself (plus one byte, to see
/// it was cut), or room for the result inside codex's or claude's JSON.
fn stdout_bytes(reading: Reading, limit: usize) -> usize {
    match reading {
        Reading::Plain => limit + 1,
        Reading::CodexEvents | Reading::ClaudeResult => limit.saturating_mul(4).saturating_add(64 * 1024),
    }
}

/// Whether `s` is a UUID in its text form (8-4-4-4-12 hex digits): what a
/// Codex thread id is.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Executor {
    /// The executor's name, for output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Shell { .. } => "shell",
            Self::Codex => "codex",
            Self::Claude => "claude",
        }
    }

    /// Builds the child for `task`, running in `cwd`: the argument vectors
    /// above, resuming `task.session` when it has one. The child leads its
    /// own process group (so cancel can signal everything it started),
    /// gets `RELAY_TASK_ID`, `RELAY_TASK_TITLE`, `RELAY_TASK_WRITE` (and
    /// the shell executor `RELAY_SESSION`, `RELAY_SESSION_FILE`), and is
    /// killed if the worker drops it.
    ///
    /// Errors: the private temporary directory cannot be created; codex
    /// asked to continue a session that is not a thread id (a UUID)
    /// ([`std::io::ErrorKind::InvalidInput`]).
    pub fn prepare(&self, task: &Task, cwd: &Path) -> std::io::Result<Prepared> {
        // A fresh 0700 directory: no other user can plant a file or
        // symlink where the result will be read from.
        let private = || tempfile::Builder::new().prefix("relay-task-").tempdir();
        let resumes = task.session.clone();
        let mut scratch = None;
        let mut output_file = None;
        let mut session_file = None;
        let (mut command, stdin, reading) = match self {
            Self::Shell { program, args } => {
                let dir = private()?;
                let file = dir.path().join("session");
                scratch = Some(dir);
                let mut c = tokio::process::Command::new(program);
                c.args(args).env("RELAY_SESSION_FILE", &file);
                match &resumes {
                    Some(s) => c.env("RELAY_SESSION", s),
                    None => c.env_remove("RELAY_SESSION"),
                };
                session_file = Some(file);
                (c, Some(task.description.clone()), Reading::Plain)
            }
            Self::Codex => {
                if let Some(s) = &resumes
                    && !is_uuid(s)
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "codex continues a thread by its id (a UUID, as a codex task reported it as its \
                             session), not {s:?}: post the task with such a session, or without session to start \
                             a new conversation"
                        ),
                    ));
                }
                let dir = private()?;
                let file = dir.path().join("last-message.txt");
                scratch = Some(dir);
                let mode = if task.write { "workspace-write" } else { "read-only" };
                let mut c = tokio::process::Command::new("codex");
                c.arg("exec")
                    .arg("-s")
                    .arg(mode)
                    .arg("-C")
                    .arg(cwd)
                    .arg("--skip-git-repo-check")
                    .arg("--json")
                    .arg("--output-last-message")
                    .arg(&file);
                if let Some(s) = &resumes {
                    c.arg("-c").arg(format!("sandbox_mode=\"{mode}\"")).arg("resume").arg(s);
                }
                c.arg("--").arg(prompt(task));
                output_file = Some(file);
                (c, None, Reading::CodexEvents)
            }
            Self::Claude => {
                let mut c = tokio::process::Command::new("claude");
                c.arg("-p")
                    .arg("--permission-mode")
                    .arg(if task.write { "acceptEdits" } else { "plan" })
                    .arg("--output-format")
                    .arg("json");
                if let Some(s) = &resumes {
                    c.arg("--resume").arg(s);
                }
                c.arg("--").arg(prompt(task));
                (c, None, Reading::ClaudeResult)
            }
        };
        command
            .current_dir(cwd)
            // The keyring itself stays out of a task's environment, where
            // an `env` in the task's output would print it. A keyring file
            // (RELAY_ENCRYPTION_KEYRING_PATH) is only a path.
            .env_remove(crate::crypto::ENV_KEYRING)
            .env("RELAY_TASK_ID", task.id.to_string())
            .env("RELAY_TASK_TITLE", &task.title)
            .env("RELAY_TASK_WRITE", if task.write { "1" } else { "0" })
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        Ok(Prepared {
            command,
            stdin,
            output_file,
            session_file,
            scratch,
            resumes,
            reading,
        })
    }
}

impl Prepared {
    /// How much of stdout to keep when a result may be `limit` bytes.
    pub fn stdout_bytes(&self, limit: usize) -> usize {
        stdout_bytes(self.reading, limit)
    }

    /// What the child's exit means for the task, from its exit `status`,
    /// the kept `stdout` and the tail of `stderr` (and the result and
    /// session files). A resume whose session the executor does not know
    /// fails with "executor session S not found: post the task without
    /// session to start a new conversation (…)" — a final failure: the
    /// worker never retries it.
    pub fn verdict(&self, status: std::process::ExitStatus, stdout: &[u8], stderr: &[u8]) -> Verdict {
        let read = |path: &Option<PathBuf>| {
            path.as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .filter(|t| !t.trim().is_empty())
        };
        judge(
            self.reading,
            self.resumes.as_deref(),
            Exit {
                success: status.success(),
                code: status.code(),
            },
            &Output {
                stdout,
                stderr,
                result_file: read(&self.output_file),
                session_file: read(&self.session_file),
            },
        )
    }
}

/// How the child ended.
#[derive(Debug, Clone, Copy)]
struct Exit {
    success: bool,
    code: Option<i32>,
}

/// What the child left behind.
struct Output<'a> {
    stdout: &'a [u8],
    stderr: &'a [u8],
    /// codex's `--output-last-message` file, if not empty.
    result_file: Option<String>,
    /// The shell executor's `RELAY_SESSION_FILE`, if not empty.
    session_file: Option<String>,
}

/// What a codex `--json` event stream says.
#[derive(Debug, Default, PartialEq, Eq)]
struct CodexEvents {
    /// `thread.started`'s `thread_id`.
    thread_id: Option<String>,
    /// The last completed `agent_message`'s text.
    last_message: Option<String>,
    /// The last `turn.failed` or `error` message.
    error: Option<String>,
}

fn codex_events(stdout: &[u8]) -> CodexEvents {
    let mut events = CodexEvents::default();
    for line in String::from_utf8_lossy(stdout).lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match event["type"].as_str() {
            Some("thread.started") if events.thread_id.is_none() => events.thread_id = text(&event["thread_id"]),
            Some("item.completed") if event["item"]["type"] == "agent_message" => {
                events.last_message = text(&event["item"]["text"]);
            }
            Some("turn.failed") => events.error = text(&event["error"]["message"]),
            Some("error") => events.error = text(&event["message"]),
            _ => {}
        }
    }
    events
}

/// What claude's `--output-format json` result object says.
#[derive(Debug, Default, PartialEq, Eq)]
struct ClaudeResult {
    session_id: Option<String>,
    result: Option<String>,
    is_error: bool,
    subtype: Option<String>,
    errors: Vec<String>,
}

fn claude_result(stdout: &[u8]) -> Option<ClaudeResult> {
    let text = String::from_utf8_lossy(stdout);
    // The object is the output; take the last line that parses as one, in
    // case something printed before it.
    let v = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok().filter(Value::is_object))
        .or_else(|| serde_json::from_str::<Value>(text.trim()).ok().filter(Value::is_object))?;
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    Some(ClaudeResult {
        session_id: s("session_id"),
        result: s("result"),
        is_error: v["is_error"].as_bool().unwrap_or(false),
        subtype: s("subtype"),
        errors: v["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    })
}

/// The line of `text` saying the executor does not know `session`, if
/// one does: codex's "no rollout found for thread id …", "missing rollout
/// path", "thread not loaded: …", "thread … not found"; claude's "No
/// conversation found with session ID: …".
fn missing_session<'a>(text: &'a str, session: &str) -> Option<&'a str> {
    const MARKERS: [&str; 5] = [
        "no rollout found",
        "missing rollout path",
        "rollout not found",
        "thread not loaded",
        "no conversation found",
    ];
    text.lines().map(str::trim).find(|line| {
        let lower = line.to_ascii_lowercase();
        MARKERS.iter().any(|m| lower.contains(m)) || (line.contains(session) && lower.contains("not found"))
    })
}

fn session_not_found(session: &str, executor: &str, detail: &str) -> String {
    let mut detail: String = detail.chars().take(400).collect();
    if detail.is_empty() {
        detail = "it exited without finding it".into();
    }
    format!(
        "executor session {session} not found: post the task without session to start a new conversation \
         ({executor}: {detail})"
    )
}

fn exit_text(exit: Exit, stderr_tail: &str) -> String {
    match exit.code {
        Some(code) => format!("exit code {code}: {stderr_tail}"),
        None => format!("killed by a signal: {stderr_tail}"),
    }
}

/// A reported session, if it is one relay can store (see
/// [`task_session::validate`]).
fn usable(session: Option<String>, executor: &str) -> Option<String> {
    let session = session.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    match task_session::validate(&session) {
        Ok(()) => Some(session),
        Err(e) => {
            tracing::warn!("the {executor} executor reported a session relay cannot record: {e}");
            None
        }
    }
}

fn judge(reading: Reading, resumes: Option<&str>, exit: Exit, out: &Output<'_>) -> Verdict {
    let stderr = String::from_utf8_lossy(out.stderr).trim().to_owned();
    let stdout = || String::from_utf8_lossy(out.stdout).into_owned();
    match reading {
        Reading::Plain => {
            let session = usable(out.session_file.clone(), "shell");
            if exit.success {
                Verdict::Complete {
                    result: stdout(),
                    session,
                }
            } else {
                Verdict::Fail {
                    error: exit_text(exit, &stderr),
                    session,
                }
            }
        }
        Reading::CodexEvents => {
            let events = codex_events(out.stdout);
            let thread = usable(events.thread_id.clone(), "codex");
            if let Some(wanted) = resumes {
                if !exit.success {
                    let said = format!("{stderr}\n{}", events.error.clone().unwrap_or_default());
                    if let Some(line) = missing_session(&said, wanted) {
                        return Verdict::Fail {
                            error: session_not_found(wanted, "codex", line),
                            session: None,
                        };
                    }
                } else if let Some(other) = thread.as_deref()
                    && !other.eq_ignore_ascii_case(wanted)
                {
                    return Verdict::Fail {
                        error: session_not_found(wanted, "codex", &format!("it started a new thread {other} instead")),
                        session: None,
                    };
                }
            }
            if exit.success {
                let result = out.result_file.clone().or(events.last_message).unwrap_or_default();
                Verdict::Complete {
                    result,
                    session: thread,
                }
            } else {
                let why = if stderr.is_empty() {
                    events.error.unwrap_or_default()
                } else {
                    stderr
                };
                Verdict::Fail {
                    error: exit_text(exit, &why),
                    session: thread,
                }
            }
        }
        Reading::ClaudeResult => {
            let parsed = claude_result(out.stdout);
            let session = usable(parsed.as_ref().and_then(|r| r.session_id.clone()), "claude");
            let failed = !exit.success || parsed.as_ref().is_some_and(|r| r.is_error);
            let errors = parsed.as_ref().map(|r| r.errors.join("; ")).unwrap_or_default();
            if failed && let Some(wanted) = resumes {
                let said = format!("{stderr}\n{errors}");
                if let Some(line) = missing_session(&said, wanted) {
                    return Verdict::Fail {
                        error: session_not_found(wanted, "claude", line),
                        session: None,
                    };
                }
            }
            match parsed {
                Some(r) if failed => {
                    let said = [stderr.as_str(), errors.as_str(), r.result.as_deref().unwrap_or("")]
                        .into_iter()
                        .find(|t| !t.is_empty())
                        .unwrap_or("")
                        .to_owned();
                    let error = if exit.success {
                        format!(
                            "claude reported an error ({}): {said}",
                            r.subtype.as_deref().unwrap_or("is_error")
                        )
                    } else {
                        exit_text(exit, &said)
                    };
                    Verdict::Fail { error, session }
                }
                Some(r) => Verdict::Complete {
                    result: r.result.unwrap_or_default(),
                    session,
                },
                // Not the JSON claude prints (an older CLI): stdout is the result.
                None if exit.success => Verdict::Complete {
                    result: stdout(),
                    session: None,
                },
                None => Verdict::Fail {
                    error: exit_text(exit, &stderr),
                    session: None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREAD: &str = "0199a213-81c0-7800-8aa1-bbab2a035a53";
    const OK: Exit = Exit {
        success: true,
        code: Some(0),
    };
    const ONE: Exit = Exit {
        success: false,
        code: Some(1),
    };

    fn out<'a>(stdout: &'a str, stderr: &'a str) -> Output<'a> {
        Output {
            stdout: stdout.as_bytes(),
            stderr: stderr.as_bytes(),
            result_file: None,
            session_file: None,
        }
    }

    fn codex_stream(thread: &str, message: &str) -> String {
        format!(
            "{{\"type\":\"thread.started\",\"thread_id\":\"{thread}\"}}\n{{\"type\":\"turn.started\"}}\n\
             {{\"type\":\"item.completed\",\"item\":{{\"id\":\"item_3\",\"type\":\"agent_message\",\"text\":\"{message}\"}}}}\n\
             {{\"type\":\"turn.completed\",\"usage\":{{\"input_tokens\":1,\"cached_input_tokens\":0,\"output_tokens\":1}}}}\n"
        )
    }

    #[test]
    fn codex_reports_the_thread_and_the_last_message_file_is_the_result() {
        let stream = codex_stream(THREAD, "from the stream");
        let mut o = out(&stream, "");
        assert_eq!(
            judge(Reading::CodexEvents, None, OK, &o),
            Verdict::Complete {
                result: "from the stream".into(),
                session: Some(THREAD.into())
            }
        );
        o.result_file = Some("from the file\n".into());
        assert_eq!(
            judge(Reading::CodexEvents, Some(THREAD), OK, &o),
            Verdict::Complete {
                result: "from the file\n".into(),
                session: Some(THREAD.into())
            }
        );
    }

    #[test]
    fn a_codex_resume_of_a_missing_or_replaced_thread_fails_as_session_not_found() {
        let stderr = format!(
            "Error: thread/resume: thread/resume failed: no rollout found for thread id {THREAD} (code -32600)"
        );
        let Verdict::Fail { error, session } = judge(Reading::CodexEvents, Some(THREAD), ONE, &out("", &stderr)) else {
            panic!("not a failure");
        };
        assert!(
            error.starts_with(&format!(
                "executor session {THREAD} not found: post the task without session to start a new conversation (codex: Error: thread/resume"
            )),
            "{error}"
        );
        assert_eq!(session, None);
        // Exit 0, but codex answered with another thread: not a continuation.
        let other = "0199a213-0000-7800-8aa1-bbab2a035a53";
        let Verdict::Fail { error, .. } = judge(
            Reading::CodexEvents,
            Some(THREAD),
            OK,
            &out(&codex_stream(other, "hi"), ""),
        ) else {
            panic!("not a failure");
        };
        assert!(
            error.contains(&format!("it started a new thread {other} instead")),
            "{error}"
        );
        // Any other failure of a resume is reported as it is.
        let Verdict::Fail { error, session } = judge(
            Reading::CodexEvents,
            Some(THREAD),
            ONE,
            &out(&codex_stream(THREAD, ""), "rate limited"),
        ) else {
            panic!("not a failure");
        };
        assert_eq!(
            (error.as_str(), session.as_deref()),
            ("exit code 1: rate limited", Some(THREAD))
        );
    }

    #[test]
    fn claude_reads_result_and_session_id_and_fails_on_is_error() {
        let ok = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":12,"num_turns":1,"result":"done","session_id":"abc-1","total_cost_usd":0.01}"#;
        assert_eq!(
            judge(Reading::ClaudeResult, None, OK, &out(ok, "")),
            Verdict::Complete {
                result: "done".into(),
                session: Some("abc-1".into())
            }
        );
        let bad = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"result":"","session_id":"abc-1"}"#;
        assert_eq!(
            judge(Reading::ClaudeResult, None, OK, &out(bad, "")),
            Verdict::Fail {
                error: "claude reported an error (error_max_turns): ".into(),
                session: Some("abc-1".into())
            }
        );
        // Not JSON (an older CLI): stdout is the result, no session.
        assert_eq!(
            judge(Reading::ClaudeResult, None, OK, &out("plain\n", "")),
            Verdict::Complete {
                result: "plain\n".into(),
                session: None
            }
        );
    }

    #[test]
    fn a_claude_resume_of_a_missing_session_fails_as_session_not_found() {
        for (stdout, stderr) in [
            ("", "No conversation found with session ID: abc-1"),
            (
                r#"{"type":"result","subtype":"error_during_execution","is_error":true,"session_id":"new-2","errors":["No conversation found with session ID: abc-1"]}"#,
                "",
            ),
        ] {
            let Verdict::Fail { error, session } =
                judge(Reading::ClaudeResult, Some("abc-1"), ONE, &out(stdout, stderr))
            else {
                panic!("not a failure");
            };
            assert_eq!(
                error,
                "executor session abc-1 not found: post the task without session to start a new conversation \
                 (claude: No conversation found with session ID: abc-1)"
            );
            assert_eq!(session, None);
        }
        // The same words without a resume are an ordinary failure.
        let Verdict::Fail { error, .. } = judge(
            Reading::ClaudeResult,
            None,
            ONE,
            &out("", "No conversation found with session ID: x"),
        ) else {
            panic!("not a failure");
        };
        assert!(error.starts_with("exit code 1: "), "{error}");
    }

    #[test]
    fn the_shell_executor_reports_what_it_wrote_to_the_session_file_if_it_is_a_session() {
        let mut o = out("result\n", "");
        o.session_file = Some("shell-session-1\n".into());
        assert_eq!(
            judge(Reading::Plain, None, OK, &o),
            Verdict::Complete {
                result: "result\n".into(),
                session: Some("shell-session-1".into())
            }
        );
        o.session_file = Some("two words".into());
        assert_eq!(
            judge(Reading::Plain, None, OK, &o),
            Verdict::Complete {
                result: "result\n".into(),
                session: None
            }
        );
        assert_eq!(
            judge(Reading::Plain, None, ONE, &out("", "boom")),
            Verdict::Fail {
                error: "exit code 1: boom".into(),
                session: None
            }
        );
    }

    #[test]
    fn codex_thread_ids_are_uuids() {
        assert!(is_uuid(THREAD));
        assert!(is_uuid(&THREAD.to_uppercase()));
        for bad in [
            "auth-refactor",
            "0199a213-81c0-7800-8aa1",
            "0199a213-81c0-7800-8aa1-bbab2a035a5z",
            "",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }
}
