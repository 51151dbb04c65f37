//! `--detach`: the run forks; the parent prints the run lines (`--detach=session`: once
//! the session id is known) and returns, the child supervises the run in a session of
//! its own ([`crate::detach`] has the fork itself).

use codex_meta::{Meta, Outcome, Witness, exit};
use nix::sys::signal::Signal;

use super::Run;
use super::files::{RunFiles, Stdout};
use crate::error::SpawnError;
use crate::sys::signals::Signals;

impl Run {
    /// `--detach`: fork; the parent prints the run lines (`--detach=session`: once the
    /// session id is known) and returns, the child supervises the run in a session of
    /// its own.
    pub(super) fn detach(
        self,
        files: RunFiles,
        meta: Meta,
        sigs: &mut Signals,
    ) -> Result<u8, SpawnError> {
        // --detach=session: the supervisor reports the session id on this pipe
        let report = match self.config.detach_session {
            None => None,
            Some(_) => match crate::sys::cloexec_pipe() {
                Ok(p) => Some(p),
                Err(e) => {
                    self.abandon(files);
                    return Err(SpawnError::Sys {
                        action: "create the session report pipe",
                        source: e,
                    });
                }
            },
        };
        match crate::detach::fork(sigs) {
            Err(e) => {
                self.abandon(files);
                Err(e)
            }
            Ok(crate::detach::Side::Parent { child, sync }) => {
                self.detached_parent(files, meta, child, sync, report, sigs)
            }
            Ok(crate::detach::Side::Child) => {
                let report = crate::detach::SessionReport::new(report.map(|(r, w)| {
                    drop(r);
                    w
                }));
                self.detached_child(files, meta, sigs, report)
            }
        }
    }

    /// The parent of `--detach`: the meta with the child's witness, then the run lines.
    fn detached_parent(
        &self,
        files: RunFiles,
        mut meta: Meta,
        child: nix::unistd::Pid,
        sync: std::os::fd::OwnedFd,
        report: Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)>,
        sigs: &Signals,
    ) -> Result<u8, SpawnError> {
        let pid = child.as_raw() as u32;
        match Witness::of(pid) {
            Some(w) => w.record(&mut meta),
            None => meta.pid = Some(pid),
        }
        if let Err(e) = codex_meta::write_meta(&self.meta_path, &meta) {
            // no run without its record: the supervisor never starts codex
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            self.abandon(files);
            return Err(e.into());
        }
        drop(sync);
        let mut out = Stdout::new(true);
        let code = match (report, self.config.detach_session) {
            (Some((r, w)), Some(timeout)) => {
                drop(w);
                self.await_session(&mut out, &r, timeout, sigs)
            }
            _ => {
                out.write(self.run_lines().as_bytes());
                0
            }
        };
        if let Some(e) = out.error() {
            return Err(SpawnError::Output(format!(
                "cannot write the run lines to stdout: {e} (the run goes on: {})",
                self.meta_path.display()
            )));
        }
        Ok(code)
    }

    /// The child of `--detach`: the supervisor, once it holds the run's lock.
    fn detached_child(
        self,
        mut files: RunFiles,
        mut meta: Meta,
        sigs: &Signals,
        report: crate::detach::SessionReport,
    ) -> Result<u8, SpawnError> {
        if !self.meta_path.exists() {
            // The parent died before writing it.
            if let Some(w) = Witness::current() {
                w.record(&mut meta);
            }
            if let Err(e) = codex_meta::write_meta(&self.meta_path, &meta) {
                self.abandon(files);
                return Err(e.into());
            }
        }
        if let Err(e) = files.lock_here() {
            // the run ends before codex: its worktree (and a branch made for it) go
            let mut gone = None;
            if let Some(w) = &self.worktree {
                w.discard();
                let mut r = w.record.clone();
                r.state = Some("removed".to_owned());
                gone = Some(r);
            }
            let end = Outcome::failed(
                exit::OWN_FAILURE,
                format!("codex-spawn cannot take the run lock: {e}"),
            );
            let _ = codex_meta::update_meta(&self.meta_path, |m| {
                if let Some(r) = &gone {
                    m.set_worktree(r);
                }
                m.status = Some(end.status);
                m.exit_code = Some(i32::from(end.exit_code));
                m.ended_at = Some(codex_meta::now_rfc3339());
                m.outcome_reason = end.reason.clone();
            });
            return Ok(end.exit_code);
        }
        Ok(self.supervise(files, Stdout::new(false), sigs, report))
    }
}
