//! The run lines (the four lines printed before codex starts, in both forms) and the
//! caller's side of `--detach=session`: the run lines, then the session id once the
//! detached supervisor reports it ([`crate::detach::SessionReport`]).

use serde_json::{Value, json};

use super::Run;
use super::files::Stdout;

impl Run {
    /// `--detach=session`, the caller's side: the run lines, then (once the supervisor
    /// reports it) `codex_session_id=`; in `--json` mode one object with `session_id`.
    /// Returns the caller's exit status.
    pub(super) fn await_session(
        &self,
        out: &mut Stdout,
        report: &std::os::fd::OwnedFd,
        timeout: std::time::Duration,
        sigs: &crate::sys::signals::Signals,
    ) -> u8 {
        use crate::detach::Reported;
        if !self.config.json {
            out.write(self.run_lines().as_bytes());
        }
        let got = crate::detach::await_session(report, timeout, Some(sigs));
        let session = match &got {
            Reported::Session(id) => Some(id.clone()),
            _ => None,
        };
        if self.config.json {
            let mut v = self.run_lines_json();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("session_id".into(), json!(session));
            }
            out.write(format!("{v}\n").as_bytes());
        } else if let Some(id) = &session {
            out.write(format!("codex_session_id={id}\n").as_bytes());
        }
        let mut err = std::io::stderr().lock();
        let said = |err: &mut std::io::StderrLock<'_>, text: String| {
            let _ = std::io::Write::write_all(err, format!("codex-spawn: {text}\n").as_bytes());
        };
        match got {
            Reported::Session(_) => 0,
            Reported::Ended(status, code) => {
                said(
                    &mut err,
                    format!(
                        "run {} ended {status} (exit {code}) before codex named its session",
                        self.id
                    ),
                );
                if code == 0 { 1 } else { code }
            }
            Reported::Gone => {
                said(
                    &mut err,
                    format!(
                        "run {}: its supervisor went away before codex named its session (see {})",
                        self.id,
                        self.meta_path.display()
                    ),
                );
                1
            }
            Reported::Interrupted(sig) => {
                said(
                    &mut err,
                    format!(
                        "got {} while waiting for run {}'s session id; the run goes on ({})",
                        sig.as_str(),
                        self.id,
                        self.meta_path.display()
                    ),
                );
                128 + sig as i32 as u8
            }
            Reported::TimedOut => {
                said(
                    &mut err,
                    format!(
                        "run {}: no session id within {} s; the run goes on ({})",
                        self.id,
                        timeout.as_secs_f64(),
                        self.meta_path.display()
                    ),
                );
                crate::cli::EXIT_TIMED_OUT
            }
        }
    }

    pub(super) fn run_lines_json(&self) -> Value {
        json!({
            "codex_run_id": self.id,
            "log_file": self.log_path.display().to_string(),
            "meta_file": self.meta_path.display().to_string(),
            "summary_file_pending": self.summary_path.display().to_string(),
        })
    }

    pub(super) fn run_lines(&self) -> String {
        let (l, m, s) = (
            self.log_path.display().to_string(),
            self.meta_path.display().to_string(),
            self.summary_path.display().to_string(),
        );
        if self.config.json {
            format!("{}\n", self.run_lines_json())
        } else {
            format!(
                "codex_run_id={}\nlog_file={l}\nmeta_file={m}\nsummary_file_pending={s}\n",
                self.id
            )
        }
    }
}
