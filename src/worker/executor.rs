//! Executors: how a worker turns a task into a child process (SPEC §4
//! Workers). The prompt or description never passes through a shell, and
//! for codex and claude it always follows `--`, so a task text starting
//! with `-` cannot become a flag.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::store::tasks::Task;

/// Which executor runs tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executor {
    /// A command (no shell): the description on stdin, stdout is the result.
    Shell {
        /// Program to run.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// `codex exec -s read-only|workspace-write -C DIR --skip-git-repo-check
    /// --output-last-message FILE -- PROMPT`; the result is FILE.
    Codex,
    /// `claude -p --permission-mode plan|acceptEdits -- PROMPT`; the result
    /// is stdout.
    Claude,
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
    /// Keeps that directory alive until the result has been read.
    pub scratch: Option<tempfile::TempDir>,
}

/// The prompt codex and claude get: the title, a blank line, the description.
pub fn prompt(task: &Task) -> String {
    format!("{}\n\n{}", task.title, task.description)
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

    /// Builds the child for `task`, running in `cwd`. The child leads its
    /// own process group (so cancel can signal everything it started),
    /// gets `RELAY_TASK_ID`, `RELAY_TASK_TITLE`, `RELAY_TASK_WRITE`, and is
    /// killed if the worker drops it.
    ///
    /// Errors: the private temporary directory for codex's output cannot
    /// be created.
    pub fn prepare(&self, task: &Task, cwd: &Path) -> std::io::Result<Prepared> {
        let mut scratch = None;
        let (mut command, stdin, output_file) = match self {
            Self::Shell { program, args } => {
                let mut c = tokio::process::Command::new(program);
                c.args(args);
                (c, Some(task.description.clone()), None)
            }
            Self::Codex => {
                // A fresh 0700 directory: no other user can plant a file or
                // symlink where the result will be read from.
                let dir = tempfile::Builder::new().prefix("relay-codex-").tempdir()?;
                let file = dir.path().join("last-message.txt");
                scratch = Some(dir);
                let mut c = tokio::process::Command::new("codex");
                c.arg("exec")
                    .arg("-s")
                    .arg(if task.write { "workspace-write" } else { "read-only" })
                    .arg("-C")
                    .arg(cwd)
                    .arg("--skip-git-repo-check")
                    .arg("--output-last-message")
                    .arg(&file)
                    .arg("--")
                    .arg(prompt(task));
                (c, None, Some(file))
            }
            Self::Claude => {
                let mut c = tokio::process::Command::new("claude");
                c.arg("-p")
                    .arg("--permission-mode")
                    .arg(if task.write { "acceptEdits" } else { "plan" })
                    .arg("--")
                    .arg(prompt(task));
                (c, None, None)
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
            scratch,
        })
    }
}
