//! The one line splitter of codex's output: every reader of a log (the session-id
//! [`Scanner`](crate::Scanner), codex-spawn's outcome detector, codex-summarize's log
//! scan) cuts it into lines here.
//!
//! Lines end at `\n` or `\r` (a `\r\n` pair makes an empty line between, which every
//! reader ignores). Feed chunks of any size: the lines handed out do not depend on where
//! the chunks were cut. A line that spans chunks is carried over, but at most `cap` bytes
//! of it are kept, so memory stays at one `cap` whatever the input; a longer line is
//! handed out as its first `cap` bytes with [`Line::truncated`] set.
//!
//! The complete lines of a chunk are handed out in place (no copy), found with memchr's
//! SIMD line-end search. Lines are short (~60 bytes), so the search runs once per line and
//! its fixed cost matters: on x86_64, memchr's SSE2 searcher (SSE2 is part of x86_64: no
//! run-time detection) is inlined here, which saves the run-time dispatch `memchr2_iter`
//! pays per call — that made `codex-session-id --last` on a 1 GiB log ~25% slower; the
//! AVX2 searcher measured no faster.

/// One line of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its line end: at most the splitter's cap bytes.
    pub text: &'a [u8],
    /// Whether the line was longer than `text`.
    pub truncated: bool,
    /// Stream offset of the line's first byte.
    pub offset: u64,
}

/// The streaming splitter (see the module docs).
#[derive(Debug)]
pub struct Lines {
    cap: usize,
    /// The start of the current, unfinished line (at most `cap` bytes).
    carry: Vec<u8>,
    /// Whether the current line is longer than `carry`.
    truncated: bool,
    /// Whether we are inside a line (the last chunk did not end at a line end).
    mid_line: bool,
    /// Stream offset of the current line's start.
    line_start: u64,
    /// Stream offset of the next byte to be fed.
    offset: u64,
}

/// A carry grown past this is shrunk back once its line is handed out.
const KEEP_CAPACITY: usize = 64 * 1024;

impl Lines {
    /// A splitter at the start of a stream, keeping at most `cap` bytes of a line.
    pub fn new(cap: usize) -> Lines {
        Lines::at_offset(cap, 0)
    }

    /// A splitter for the part of a stream that starts at byte `offset` (a line start).
    pub fn at_offset(cap: usize, offset: u64) -> Lines {
        Lines {
            cap,
            carry: Vec::new(),
            truncated: false,
            mid_line: false,
            line_start: offset,
            offset,
        }
    }

    /// Stream offset of the next byte to be fed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Counts `n` bytes that are not text (a byte-order mark) into the offsets.
    pub fn skip(&mut self, n: u64) {
        self.offset += n;
    }

    /// How many bytes of the current line are kept.
    #[cfg(test)]
    pub(crate) fn carried(&self) -> usize {
        self.carry.len()
    }

    /// The carry's allocation (bounded: see the module docs).
    pub fn carry_capacity(&self) -> usize {
        self.carry.capacity()
    }

    /// Feeds the next chunk; `each` gets every line the chunk completes, in order.
    #[inline(always)]
    pub fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(Line<'_>)) {
        let mut i = 0;
        if self.mid_line {
            match memchr::memchr2(b'\n', b'\r', chunk) {
                None => {
                    self.extend_carry(chunk);
                    self.offset += chunk.len() as u64;
                    return;
                }
                Some(n) => {
                    self.extend_carry(&chunk[..n]);
                    self.end_carried_line(&mut each);
                    i = n + 1;
                }
            }
        }
        if let Some(last) = memchr::memrchr2(b'\n', b'\r', &chunk[i..]) {
            let end = i + last + 1;
            self.walk(&chunk[i..end], self.offset + i as u64, &mut each);
            i = end;
        }
        if i < chunk.len() {
            self.mid_line = true;
            self.line_start = self.offset + i as u64;
            self.extend_carry(&chunk[i..]);
        }
        self.offset += chunk.len() as u64;
    }

    /// Ends the stream: the unfinished last line (no line end), if any, goes to `each`.
    /// The splitter can then go on as if a line end had been fed.
    pub fn finish(&mut self, mut each: impl FnMut(Line<'_>)) {
        if self.mid_line {
            self.end_carried_line(&mut each);
        }
    }

    fn extend_carry(&mut self, bytes: &[u8]) {
        let room = self.cap - self.carry.len();
        if bytes.len() > room {
            self.truncated = true;
        }
        self.carry
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_carried_line(&mut self, each: &mut impl FnMut(Line<'_>)) {
        each(Line {
            text: &self.carry,
            truncated: self.truncated,
            offset: self.line_start,
        });
        self.carry.clear();
        if self.carry.capacity() > KEEP_CAPACITY {
            self.carry.shrink_to(KEEP_CAPACITY);
        }
        self.truncated = false;
        self.mid_line = false;
    }

    /// `region` is a run of complete lines (it ends with a line end) starting at stream
    /// offset `base`.
    #[inline(always)]
    fn walk(&self, region: &[u8], base: u64, each: &mut impl FnMut(Line<'_>)) {
        #[cfg(target_arch = "x86_64")]
        if let Some(two) = memchr::arch::x86_64::sse2::memchr::Two::new(b'\n', b'\r') {
            return self.walk_ending_at(two.iter(region), region, base, each);
        }
        self.walk_ending_at(
            memchr::memchr2_iter(b'\n', b'\r', region),
            region,
            base,
            each,
        );
    }

    #[inline(always)]
    fn walk_ending_at(
        &self,
        ends: impl Iterator<Item = usize>,
        region: &[u8],
        base: u64,
        each: &mut impl FnMut(Line<'_>),
    ) {
        let mut start = 0;
        for end in ends {
            let whole = &region[start..end];
            each(Line {
                text: &whole[..whole.len().min(self.cap)],
                truncated: whole.len() > self.cap,
                offset: base + start as u64,
            });
            start = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &[u8], cap: usize, chunk: usize) -> Vec<(Vec<u8>, bool, u64)> {
        let mut lines = Lines::new(cap);
        let mut out = Vec::new();
        for c in text.chunks(chunk.max(1)) {
            lines.feed(c, |l| out.push((l.text.to_vec(), l.truncated, l.offset)));
        }
        lines.finish(|l| out.push((l.text.to_vec(), l.truncated, l.offset)));
        out
    }

    #[test]
    fn chunking_does_not_matter_and_lines_are_capped() {
        let text = b"ab\r\ncdefgh\nij\rklmnopq\n\nrs";
        let want = split(text, 4, text.len());
        assert_eq!(
            want,
            [
                (b"ab".to_vec(), false, 0),
                (b"".to_vec(), false, 3),
                (b"cdef".to_vec(), true, 4),
                (b"ij".to_vec(), false, 11),
                (b"klmn".to_vec(), true, 14),
                (b"".to_vec(), false, 22),
                (b"rs".to_vec(), false, 23),
            ]
        );
        for chunk in 1..text.len() {
            assert_eq!(split(text, 4, chunk), want, "chunk {chunk}");
        }
        // exactly the cap is not truncated
        assert_eq!(split(b"abcd\n", 4, 2), [(b"abcd".to_vec(), false, 0)]);
    }

    #[test]
    fn memory_is_bounded() {
        let mut lines = Lines::new(1024);
        let block = vec![b'x'; 1 << 20];
        for _ in 0..4 {
            lines.feed(&block, |_| panic!("no line end yet"));
        }
        assert!(lines.carry_capacity() <= 2048);
        let mut got = Vec::new();
        lines.feed(b"\n", |l| got.push((l.text.len(), l.truncated)));
        assert_eq!(got, [(1024, true)]);
        assert_eq!(lines.offset(), (4 << 20) + 1);
    }
}
