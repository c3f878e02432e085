//! Desktop notifications for `relay serve --notify` (SPEC §3.2):
//! `notify-send` on Linux, `osascript` on macOS, a PowerShell toast on
//! Windows. Arguments are passed as argv, never through a shell. Rate
//! limited, and never fatal: a missing notifier is one warning on stderr.

use crate::store::events::Kind;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// At most one desktop notification per this interval; events in between
/// are counted into the next one.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// The command that shows `title` / `body` on this platform.
pub fn command(title: &str, body: &str) -> Command {
    if cfg!(target_os = "macos") {
        let mut c = Command::new("osascript");
        c.args([
            "-e",
            "on run argv",
            "-e",
            "display notification (item 2 of argv) with title (item 1 of argv)",
        ])
        .args(["-e", "end run", title, body]);
        c
    } else if cfg!(windows) {
        let script = "param($t, $b); [Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null; \
            $x = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02); \
            $n = $x.GetElementsByTagName('text'); $n.Item(0).InnerText = $t; $n.Item(1).InnerText = $b; \
            [Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('relay').Show([Windows.UI.Notifications.ToastNotification]::new($x))";
        let mut c = Command::new("powershell");
        c.args(["-NoProfile", "-NonInteractive", "-Command", script, title, body]);
        c
    } else {
        let mut c = Command::new("notify-send");
        c.args(["--app-name=relay", title, body]);
        c
    }
}

/// Rate-limited desktop notifier.
#[derive(Debug, Default)]
pub struct Desktop {
    last: Option<Instant>,
    suppressed: usize,
    warned: bool,
}

impl Desktop {
    /// Shows `body` (with title `relay`) unless one was shown less than
    /// [`MIN_INTERVAL`] ago; suppressed ones are counted into the next.
    pub fn show(&mut self, body: &str) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < MIN_INTERVAL) {
            self.suppressed += 1;
            return;
        }
        let body = match std::mem::take(&mut self.suppressed) {
            0 => body.to_owned(),
            n => format!("{body} (and {n} more)"),
        };
        self.last = Some(now);
        let spawned = command("relay", &body)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            // Reap it off the async threads; its outcome does not matter.
            Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!("desktop notifications are unavailable ({e}); install notify-send or drop --notify");
            }
            Err(_) => {}
        }
    }
}

/// The desktop text for an outbox event: who and what, never the content.
pub fn text(event: &crate::store::events::Event) -> Option<String> {
    let from = event.actor.as_deref().unwrap_or("someone");
    let id = event.subject_id.unwrap_or_default();
    Some(match event.kind {
        Kind::Message | Kind::Broadcast => format!("New message from {from}"),
        Kind::ChannelPost => format!("New post in #{} from {from}", event.channel.as_deref().unwrap_or("?")),
        Kind::TaskPosted => format!("Task {id} assigned to you by {from}"),
        Kind::TaskFinished => format!("Your task {id} finished"),
        Kind::TaskCancelled => format!("Task {id} was cancelled"),
        Kind::MessageAcknowledged => format!("{from} acknowledged your message {id}"),
        Kind::ReservationConflict => format!("{from} is waiting on paths you reserved"),
        _ => return None,
    })
}
