//! A header counts only where a header is.
//!
//! Why it exists: a transcript can hold a complete header of another run — the agent ran
//! `sed -n 1,20p old.log`, an agent message quotes one, a user pasted one in the prompt —
//! and line by line that header is the real thing. What tells them apart is where it
//! stands: a run's own header comes at the start of the run (the start of the stream, a
//! codex-spawn attempt marker, the end of the previous run's closing lines), before any
//! section of the run (`user`, `exec`, `codex`, `thinking`, `tokens used`). Once a section
//! began, what follows is the run's body — prompts, tool output, agent messages — and a
//! header there is a quotation.
//!
//! Two exceptions. A header with nothing after it (the run's answer went to a file, or
//! it failed before its prompt) may be followed by the next run's banner. And after
//! `tokens used` the turn is over — what follows is the final
//! message repeated, or the next run of a log that holds several (a CI job that ran codex
//! twice, logs concatenated): a header there begins a new run. (An agent's last message
//! that quotes a whole header is the case this cannot tell.)
//!
//! The same goes for the JSON events that carry ids (`thread.started`, `session_meta`,
//! `session_configured`): in a human transcript's body they are tool output. codex-spawn's
//! own `codex_session_id=` closing line always counts, and a rollout's legacy first line
//! counts only as the very first line of a stream.
//!
//! [`Pos`] is the state; every tool reads a stream through one ([`crate::Scanner`]). The
//! parallel scan of a file starts its blocks in an unknown state and settles them in
//! order (see `read.rs`): the state after a section mark or a run start does not depend
//! on what came before.

use crate::IdKind;
use crate::line::{Mark, Region};

/// Where in a transcript a line stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pos {
    /// At the start of a run: a header here is the run's.
    Start,
    /// Inside a header (`valid`: the run's own, else a quoted one), after `fences` of its
    /// two `--------` lines.
    Header { valid: bool, fences: u8 },
    /// A run's header just ended and no section has begun: a run whose answer went
    /// elsewhere, or that failed before its prompt, prints nothing more — a banner here
    /// is the next run's (a script that ran codex several times).
    Opened,
    /// In the run's body, in this part of it.
    Body(Region),
}

impl Pos {
    /// The state after `mark`.
    pub(crate) fn after(self, mark: Mark) -> Pos {
        match mark {
            Mark::Section(r) => Pos::Body(r),
            Mark::RunStart => Pos::Start,
            Mark::Banner => Pos::Header {
                valid: matches!(self, Pos::Start | Pos::Opened | Pos::Body(Region::Final)),
                fences: 0,
            },
            Mark::Fence => match self {
                // the header's end: the run's body follows (for a quoted header, more
                // of the body it was quoted in — of which part no longer matters)
                Pos::Header {
                    valid: true,
                    fences,
                } if fences >= 1 => Pos::Opened,
                Pos::Header { fences, .. } if fences >= 1 => Pos::Body(Region::Prompt),
                Pos::Header { valid, fences } => Pos::Header {
                    valid,
                    fences: fences + 1,
                },
                other => other,
            },
        }
    }

    /// Whether an id of `kind` found here is the run's.
    pub(crate) fn admits(self, kind: IdKind) -> bool {
        match kind {
            IdKind::SpawnLine => true,
            IdKind::Header => matches!(self, Pos::Start | Pos::Header { valid: true, .. }),
            // a JSON run after a human one's end
            _ => matches!(
                self,
                Pos::Start
                    | Pos::Header { valid: true, .. }
                    | Pos::Opened
                    | Pos::Body(Region::Final)
            ),
        }
    }
}

/// Whether `mark` settles the state whatever it was before (see the module docs).
pub(crate) fn settles(mark: Mark) -> bool {
    matches!(mark, Mark::Section(_) | Mark::RunStart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_after_a_section_is_a_quotation() {
        let run = Pos::Start.after(Mark::Banner);
        assert!(run.admits(IdKind::Header));
        let body = run
            .after(Mark::Fence)
            .after(Mark::Fence)
            .after(Mark::Section(Region::Tool));
        assert_eq!(body, Pos::Body(Region::Tool));
        assert!(!body.admits(IdKind::Header));
        assert!(!body.admits(IdKind::ThreadStarted));
        assert!(body.admits(IdKind::SpawnLine));
        let quoted = body.after(Mark::Banner);
        assert!(!quoted.admits(IdKind::Header));
        assert!(
            !quoted
                .after(Mark::Fence)
                .after(Mark::Fence)
                .admits(IdKind::Header)
        );
        assert_eq!(body.after(Mark::RunStart), Pos::Start);
        // after the turn's end a new run may begin
        let next = body.after(Mark::Section(Region::Final)).after(Mark::Banner);
        assert!(next.admits(IdKind::Header));
        assert!(settles(Mark::Section(Region::Agent)) && !settles(Mark::Banner));
        // a run that printed only its header (its answer went to a file), then the next
        let opened = Pos::Start
            .after(Mark::Banner)
            .after(Mark::Fence)
            .after(Mark::Fence);
        assert_eq!(opened, Pos::Opened);
        assert!(!opened.admits(IdKind::Header));
        assert!(opened.after(Mark::Banner).admits(IdKind::Header));
        // but a header quoted in the prompt is the prompt's
        let prompt = opened.after(Mark::Section(Region::Prompt));
        assert!(!prompt.after(Mark::Banner).admits(IdKind::Header));
    }
}
