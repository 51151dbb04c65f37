//! The launch request: [`Args`], what codex-spawn's command line says, as one typed
//! value — and back to a command line ([`Args::to_argv`]).
//!
//! Why it exists: a launch is asked for in two ways, on codex-spawn's command line and
//! through codex-mcp's `spawn` tool, which runs codex-spawn. Both go through this one
//! type: the clap definition parses into it, and codex-mcp fills one in and renders its
//! argv here, so no second list of flags can drift from the parser (a property test
//! parses every rendering back). The defaults a request leaves out are stated once, in
//! [`crate::config`], and the help texts are checked against them.

use std::ffi::OsString;

use crate::cli::Args;

impl Args {
    /// The command line (after the program name) that parses back into this request.
    /// A value that starts with `-` (but `-` alone) is written `--flag=value`, so it is never taken for
    /// an option. (`--verbose` renders as `-v` repeated.)
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut out = Argv(Vec::new());
        out.opt("repo", self.repo.as_ref().map(|p| p.as_os_str().to_owned()));
        out.opt("task", self.task.as_ref().map(OsString::from));
        out.opt(
            "task-file",
            self.task_file.as_ref().map(|p| p.as_os_str().to_owned()),
        );
        out.opt("resume", self.resume.as_ref().map(OsString::from));
        out.opt("verify", self.verify.as_ref().map(OsString::from));
        out.opt(
            "max-attempts",
            self.max_attempts.map(|n| n.to_string().into()),
        );
        out.opt(
            "verify-timeout",
            self.verify_timeout.as_ref().map(OsString::from),
        );
        out.opt("timeout", self.timeout.as_ref().map(OsString::from));
        out.opt(
            "stall-timeout",
            self.stall_timeout.as_ref().map(OsString::from),
        );
        out.opt("max-cost", self.max_cost.map(|c| c.to_string().into()));
        out.opt("max-tokens", self.max_tokens.map(|n| n.to_string().into()));
        out.opt(
            "max-running",
            self.max_running.map(|n| n.to_string().into()),
        );
        out.opt("queue", self.queue.as_ref().map(OsString::from));
        for a in &self.after {
            out.opt("after", Some(a.into()));
        }
        out.opt("base", self.base.as_ref().map(OsString::from));
        out.opt("branch", self.branch.as_ref().map(OsString::from));
        out.opt(
            "detach-timeout",
            self.detach_timeout.as_ref().map(OsString::from),
        );
        out.opt(
            "runs-dir",
            self.runs_dir.as_ref().map(|p| p.as_os_str().to_owned()),
        );
        out.flag("worktree", self.worktree);
        out.flag("keep-worktree", self.keep_worktree);
        self.rest_to_argv(&mut out);
        let mut argv = out.0;
        if !self.codex_args.is_empty() {
            argv.push("--".into());
            argv.extend(self.codex_args.iter().cloned());
        }
        argv
    }

    /// The options codex-mcp never sets, then `--detach` and `--json`.
    fn rest_to_argv(&self, out: &mut Argv) {
        out.opt("codex-bin", self.codex_bin.clone());
        out.opt(
            "json-out",
            self.json_out.as_ref().map(|p| p.as_os_str().to_owned()),
        );
        out.opt("notify-cmd", self.notify_cmd.as_ref().map(OsString::from));
        out.opt(
            "notify-timeout",
            self.notify_timeout.as_ref().map(OsString::from),
        );
        out.opt(
            "event-stream",
            self.event_stream.as_ref().map(|p| p.as_os_str().to_owned()),
        );
        out.opt("kill-grace", self.kill_grace.as_ref().map(OsString::from));
        out.opt("verbosity", self.verbosity.map(|v| v.as_str().into()));
        for _ in 0..self.verbose {
            out.0.push("-v".into());
        }
        out.flag("quiet", self.quiet);
        match self.detach.as_deref() {
            None => {}
            Some("now") => out.0.push("--detach".into()),
            Some(when) => out.0.push(format!("--detach={when}").into()),
        }
        out.flag("json", self.json);
    }
}

/// An argv being built.
struct Argv(Vec<OsString>);

impl Argv {
    fn opt(&mut self, name: &str, value: Option<OsString>) {
        let Some(v) = value else { return };
        // (a lone `-`, stdin, is never taken for an option)
        let bytes = v.as_encoded_bytes();
        if bytes.len() > 1 && bytes[0] == b'-' {
            let mut joined = OsString::from(format!("--{name}="));
            joined.push(&v);
            self.0.push(joined);
        } else {
            self.0.push(format!("--{name}").into());
            self.0.push(v);
        }
    }

    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(format!("--{name}").into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;
    use crate::config::Verbosity;

    fn parse(argv: &[OsString]) -> Args {
        let full = std::iter::once(OsString::from("codex-spawn")).chain(argv.iter().cloned());
        Args::try_parse_from(full).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    fn every_option() -> Args {
        Args {
            repo: Some(PathBuf::from("/r")),
            task: Some("-starts with a dash".into()),
            task_file: None,
            resume: Some("last".into()),
            codex_bin: Some("/bin/codex".into()),
            runs_dir: Some(PathBuf::from("-runs")),
            json_out: Some(PathBuf::from("out.json")),
            notify_cmd: Some("cat >> n".into()),
            notify_timeout: Some("3s".into()),
            event_stream: Some(PathBuf::from("ev.jsonl")),
            detach: Some("session".into()),
            detach_timeout: Some("30s".into()),
            max_running: Some(2),
            queue: Some("q".into()),
            after: vec!["a".into(), "-b".into()],
            max_tokens: Some(1000),
            max_cost: Some(1.5),
            worktree: true,
            base: Some("main".into()),
            branch: Some("b1".into()),
            keep_worktree: true,
            json: true,
            quiet: true,
            timeout: Some("90s".into()),
            stall_timeout: Some("10m".into()),
            verify: Some("make test".into()),
            max_attempts: Some(3),
            verify_timeout: Some("5m".into()),
            kill_grace: Some("1s".into()),
            verbose: 0,
            verbosity: Some(Verbosity::High),
            codex_args: vec!["--json".into(), "-m".into(), "o3".into()],
        }
    }

    #[test]
    fn every_option_parses_back_as_it_was() {
        let a = every_option();
        assert_eq!(parse(&a.to_argv()), a);
        let b = Args {
            verbosity: None,
            verbose: 2,
            detach: Some("now".into()),
            task: None,
            task_file: Some(PathBuf::from("t.txt")),
            worktree: false,
            base: None,
            branch: None,
            keep_worktree: false,
            codex_args: Vec::new(),
            ..every_option()
        };
        assert_eq!(parse(&b.to_argv()), b);
        let bare = Args {
            repo: Some(PathBuf::from("r")),
            codex_bin: Some("codex".into()),
            ..Args::default()
        };
        assert_eq!(parse(&bare.to_argv()), bare);
    }

    #[test]
    fn values_that_look_like_options_are_joined() {
        let a = every_option().to_argv();
        assert!(a.contains(&OsString::from("--runs-dir=-runs")), "{a:?}");
        assert!(a.contains(&OsString::from("--after=-b")), "{a:?}");
    }
}
