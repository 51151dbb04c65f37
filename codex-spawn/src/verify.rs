//! `--verify CMD`: what the verify-and-resume loop needs besides running processes — the
//! check's output tail (bounded memory whatever the check prints), the result of one
//! check, and the follow-up prompt that resumes codex's session with that result.
//!
//! The loop itself (run codex, run the check, resume) lives in [`crate::supervise`].

use std::time::Duration;

/// The most of the check's output kept for the follow-up prompt (its end).
pub const TAIL_BYTES: usize = 16 * 1024;
/// ...and at most this many lines of it.
pub const TAIL_LINES: usize = 200;

/// The last [`TAIL_BYTES`] of a stream (memory: at most twice that).
#[derive(Debug, Default)]
pub struct Tail {
    buf: Vec<u8>,
    total: u64,
}

impl Tail {
    /// An empty tail.
    pub fn new() -> Tail {
        Tail::default()
    }

    /// Append a chunk, forgetting what falls out of the window.
    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if chunk.len() >= TAIL_BYTES {
            self.buf.clear();
            self.buf
                .extend_from_slice(&chunk[chunk.len() - TAIL_BYTES..]);
            return;
        }
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > 2 * TAIL_BYTES {
            let cut = self.buf.len() - TAIL_BYTES;
            self.buf.drain(..cut);
        }
    }

    /// Bytes seen in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The tail as text: the last [`TAIL_LINES`] whole lines within the last
    /// [`TAIL_BYTES`] (invalid UTF-8 replaced), and whether earlier output was left out.
    pub fn render(&self) -> (String, bool) {
        let start = self.buf.len().saturating_sub(TAIL_BYTES);
        let mut window = &self.buf[start..];
        let mut cut = self.total > window.len() as u64;
        if cut {
            // Drop the partial first line.
            if let Some(i) = memchr::memchr(b'\n', window) {
                window = &window[i + 1..];
            }
        }
        let body = window.strip_suffix(b"\n").unwrap_or(window);
        let newlines: Vec<usize> = memchr::memchr_iter(b'\n', body).collect();
        if newlines.len() >= TAIL_LINES {
            let from = newlines[newlines.len() - TAIL_LINES] + 1;
            window = &body[from..];
            cut = true;
        } else {
            window = body;
        }
        (String::from_utf8_lossy(window).into_owned(), cut)
    }
}

/// How one run of the check ended.
#[derive(Debug, Clone)]
pub struct Check {
    /// Its exit code; 128+N when it died by signal N (e.g. after `--verify-timeout`).
    pub exit_code: i32,
    /// The signal that ended it, if any.
    pub signal: Option<&'static str>,
    /// Wall time.
    pub elapsed: Duration,
    /// Stopped by `--verify-timeout`.
    pub timed_out: bool,
    /// The timeout it had.
    pub timeout: Duration,
    /// Bytes of output.
    pub output_bytes: u64,
}

impl Check {
    /// Did the check pass?
    pub fn passed(&self) -> bool {
        self.exit_code == 0 && !self.timed_out
    }

    /// `exit 1 in 0.8s`, `timed out after 10s (exit 143)`, `killed by SIGKILL (exit 137) in 2.0s`.
    pub fn describe(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        if self.timed_out {
            format!(
                "timed out after {}s (exit {})",
                trim_float(self.timeout.as_secs_f64()),
                self.exit_code
            )
        } else if let Some(sig) = self.signal {
            format!("killed by {sig} (exit {}) in {secs:.1}s", self.exit_code)
        } else {
            format!("exit {} in {secs:.1}s", self.exit_code)
        }
    }
}

/// The prompt that resumes codex after a failed check: the command, how it ended, the
/// tail of its output, and the request to fix the cause and run the check again.
pub fn follow_up_prompt(command: &str, check: &Check, tail: &Tail) -> String {
    let (text, cut) = tail.render();
    let how = if check.timed_out {
        format!(
            "did not finish within {}s and was stopped (exit code {})",
            trim_float(check.timeout.as_secs_f64()),
            check.exit_code
        )
    } else if let Some(sig) = check.signal {
        format!("was killed by {sig} (exit code {})", check.exit_code)
    } else {
        format!("failed with exit code {}", check.exit_code)
    };
    let fence = "`".repeat(longest_backtick_run(&text).max(2) + 1);
    let shown = if text.is_empty() {
        "It printed nothing.".to_owned()
    } else {
        let lines = text.lines().count();
        format!(
            "The last {lines} line{} of its output{}:\n\n{fence}\n{text}\n{fence}",
            if lines == 1 { "" } else { "s" },
            if cut { " (earlier output omitted)" } else { "" },
        )
    };
    format!(
        "The verification command `{command}` (run with `sh -c` in the repository) {how}.\n\
         {shown}\n\n\
         Find and fix the cause of this failure in the repository. Then run `{command}` \
         again yourself and make sure it passes before you finish."
    )
}

fn longest_backtick_run(text: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// `10`, `0.5`: seconds without a pointless `.0`.
pub fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(code: i32) -> Check {
        Check {
            exit_code: code,
            signal: None,
            elapsed: Duration::from_millis(800),
            timed_out: false,
            timeout: Duration::from_secs(600),
            output_bytes: 0,
        }
    }

    #[test]
    fn tail_keeps_last_lines_and_bytes_in_bounded_memory() {
        let mut t = Tail::new();
        for i in 0..10_000 {
            t.push(format!("line {i}\n").as_bytes());
            assert!(t.buf.len() <= 2 * TAIL_BYTES);
        }
        let (text, cut) = t.render();
        assert!(cut);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 9800");
        assert_eq!(*lines.last().unwrap(), "line 9999");

        // Few long lines: the byte bound, starting at a whole line.
        let mut t = Tail::new();
        for i in 0..10 {
            t.push(format!("{i}{}\n", "x".repeat(5000)).as_bytes());
        }
        let (text, cut) = t.render();
        assert!(cut && text.len() <= TAIL_BYTES);
        assert!(
            text.starts_with('7') || text.starts_with('8'),
            "{}",
            &text[..10]
        );
        assert!(text.ends_with('x'));

        // One huge chunk.
        let mut t = Tail::new();
        t.push(&vec![b'a'; 10 * TAIL_BYTES]);
        assert_eq!(t.total(), 10 * TAIL_BYTES as u64);
        assert!(t.render().0.len() <= TAIL_BYTES);

        // Short output: whole, not cut.
        let mut t = Tail::new();
        t.push(b"FAIL: test_x\n");
        assert_eq!(t.render(), ("FAIL: test_x".to_owned(), false));
    }

    #[test]
    fn follow_up_names_command_exit_code_and_output() {
        let mut t = Tail::new();
        t.push(b"running 3 tests\ntest a ... FAILED\n```\n");
        let p = follow_up_prompt("cargo test", &check(101), &t);
        assert!(p.contains("`cargo test`"));
        assert!(p.contains("exit code 101"));
        assert!(p.contains("test a ... FAILED"));
        assert!(
            p.contains("\n````\n"),
            "fence longer than any run in the output: {p}"
        );
        assert!(p.contains("run `cargo test`\nagain") || p.contains("again yourself"));
        let empty = follow_up_prompt("false", &check(1), &Tail::new());
        assert!(empty.contains("It printed nothing."));
        let mut timed = check(143);
        timed.timed_out = true;
        timed.timeout = Duration::from_secs(10);
        assert!(follow_up_prompt("x", &timed, &t).contains("did not finish within 10s"));
        assert_eq!(timed.describe(), "timed out after 10s (exit 143)");
        assert_eq!(check(1).describe(), "exit 1 in 0.8s");
    }
}
