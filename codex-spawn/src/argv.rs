//! The codex command line, and the small things around it: finding the binary on PATH
//! and quoting a command for the log.
//!
//! Order matters to the real CLI: `codex exec --cd REPO [--output-last-message LASTMSG] [CODEX_ARGS…]
//! [resume ID|--last] PROMPT`. `-C`, `-s`, `--add-dir`, `-p` and `--output-schema` are
//! accepted only before `resume`, so every pass-through option goes there.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use codex_session_id::codex_version::{self, Fact, Version};

use crate::config::{Config, Resume};

/// `exec --cd REPO [--output-last-message LASTMSG] [CODEX_ARGS…]`: every option goes before `resume`, which
/// is the only place codex accepts `-C`, `-s`, `--add-dir`, `-p` and `--output-schema`.
fn exec_options(config: &Config, last_message: Option<&Path>) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["exec".into(), "--cd".into(), config.workdir.clone().into()];
    if let Some(lm) = last_message {
        // the long form: every CLI since 0.22 has it; the short `-o` came with 0.45
        argv.push("--output-last-message".into());
        argv.push(lm.as_os_str().to_owned());
    }
    argv.extend(config.codex_args.iter().cloned());
    argv
}

/// Whether `resume --last` must go without a prompt argument on this version (the
/// prompt then goes on stdin): before [`Fact::ResumeLastTakesPrompt`] codex takes that
/// argument for a session id and refuses it beside `--last`.
pub fn bare_resume_last(config: &Config, version: Option<Version>) -> bool {
    matches!(config.resume, Some(Resume::Last))
        && version.is_some_and(|v| !codex_version::has(v, Fact::ResumeLastTakesPrompt))
}

/// Build codex's argv (without argv\[0\]). `last_message` is our `-o` file; it is left out
/// when the pass-through options already name one. `version`: the CLI's, when known
/// (see [`bare_resume_last`]; the caller then puts the prompt on stdin).
pub fn codex_args(
    config: &Config,
    last_message: Option<&Path>,
    version: Option<Version>,
) -> Vec<OsString> {
    let mut argv = exec_options(config, last_message);
    match &config.resume {
        None => {}
        Some(Resume::Id(id)) => {
            argv.push("resume".into());
            argv.push(id.into());
        }
        Some(Resume::Last) => {
            argv.push("resume".into());
            argv.push("--last".into());
        }
    }
    if bare_resume_last(config, version) {
        // no prompt argument: codex reads the prompt from stdin
    } else if config.task.via_stdin {
        argv.push("-".into());
    } else {
        argv.push(OsStr::from_bytes(&config.task.bytes).to_owned());
    }
    argv
}

/// The argv of a resumed attempt of the verify loop: `exec --cd REPO [--output-last-message LASTMSG]
/// [CODEX_ARGS…] resume SESSION_ID -` (the follow-up prompt goes on stdin).
pub fn resume_args(
    config: &Config,
    last_message: Option<&Path>,
    session_id: &str,
) -> Vec<OsString> {
    let mut argv = exec_options(config, last_message);
    argv.push("resume".into());
    argv.push(session_id.into());
    argv.push("-".into());
    argv
}

/// True when the pass-through options already set `-o/--output-last-message`.
pub fn names_last_message(codex_args: &[OsString]) -> bool {
    codex_args.iter().any(|a| {
        let b = a.as_bytes();
        b == b"-o"
            || b == b"--output-last-message"
            || b.starts_with(b"--output-last-message=")
            || (b.starts_with(b"-o") && !b.starts_with(b"--"))
    })
}

/// Why a codex binary could not be found or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrunnable {
    /// Not on PATH / no such file (exit 127).
    NotFound,
    /// Exists but is not an executable file (exit 126).
    NotExecutable,
}

/// Find `bin` the way a shell would: a name containing `/` is used as is, anything else
/// is looked up in `$PATH` (first executable regular file wins).
pub fn resolve_bin(bin: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, Unrunnable> {
    if bin.as_bytes().contains(&b'/') {
        let p = crate::config::absolute(Path::new(bin));
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(p),
            Ok(_) => Err(Unrunnable::NotExecutable),
            Err(_) => Err(Unrunnable::NotFound),
        };
    }
    let mut seen_unexecutable = false;
    for dir in std::env::split_paths(path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin")))
    {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(bin);
        if let Ok(m) = std::fs::metadata(&candidate) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(crate::config::absolute(&candidate));
            }
            seen_unexecutable = true;
        }
    }
    Err(if seen_unexecutable {
        Unrunnable::NotExecutable
    } else {
        Unrunnable::NotFound
    })
}

/// Quote one word for a POSIX shell: bare when it is made only of safe characters,
/// else in single quotes (`'` written as `'\''`). Invalid UTF-8 is shown lossily.
///
/// Not `shell_words::quote` (1.1, measured): it quotes `=` and `%` (`x=y`, `--flag=v`
/// would change in every logged command line, and the tests pin them bare) and leaves
/// `!`, `{`, `}`, `^` and non-ASCII bare; this one quotes everything outside
/// `[A-Za-z0-9-_./:=@%+,]`.
pub fn shell_quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let safe = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if safe {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A whole command line, quoted for the log. When the prompt went via stdin, the final
/// `-` is annotated with its size so readers know what codex got.
pub fn shell_command(argv0: &OsStr, args: &[OsString]) -> String {
    let mut out = shell_quote(argv0);
    for a in args {
        out.push(' ');
        out.push_str(&shell_quote(a));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(OsStr::new("abc-1.2/x=y")), "abc-1.2/x=y");
        assert_eq!(shell_quote(OsStr::new("")), "''");
        assert_eq!(shell_quote(OsStr::new("a b")), "'a b'");
        assert_eq!(shell_quote(OsStr::new("it's $(x)")), r"'it'\''s $(x)'");
        // where shell_words::quote differs (see shell_quote's docs)
        assert_eq!(shell_quote(OsStr::new("--flag=v")), "--flag=v");
        assert_eq!(shell_quote(OsStr::new("100%")), "100%");
        assert_eq!(shell_quote(OsStr::new("a!b")), "'a!b'");
        assert_eq!(shell_quote(OsStr::new("{a}")), "'{a}'");
        assert_eq!(shell_quote(OsStr::new("é")), "'é'");
    }

    #[test]
    fn last_message_detection() {
        let v = |s: &[&str]| s.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(names_last_message(&v(&["-o", "f"])));
        assert!(names_last_message(&v(&["-ofile"])));
        assert!(names_last_message(&v(&["--output-last-message=f"])));
        assert!(!names_last_message(&v(&["--json", "-m", "gpt-5"])));
        assert!(!names_last_message(&v(&["--oss"])));
    }

    #[test]
    fn path_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("prog");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        let path = dir.path().as_os_str();
        assert_eq!(resolve_bin(OsStr::new("prog"), Some(path)), Ok(exe.clone()));
        assert_eq!(
            resolve_bin(OsStr::new("nope"), Some(path)),
            Err(Unrunnable::NotFound)
        );
        assert_eq!(
            resolve_bin(OsStr::new("plain"), Some(path)),
            Err(Unrunnable::NotExecutable)
        );
        assert_eq!(resolve_bin(exe.as_os_str(), None), Ok(exe));
        assert_eq!(
            resolve_bin(plain.as_os_str(), None),
            Err(Unrunnable::NotExecutable)
        );
    }
}
