//! A transcript's text as it is found, made plain: the one home of what every reader of
//! codex's output must look through.
//!
//! Why it exists: codex's output reaches our readers through other hands. PowerShell's `>`
//! writes it as UTF-16LE with a byte-order mark; a UTF-8 file may start with one; CI
//! systems put a timestamp before every line (GitHub Actions:
//! `2026-04-19T14:51:51.9956552Z `); terminals keep ANSI colours, which a Windows console
//! renders with `←` (U+2190) in place of ESC; codex before 0.44 puts `[timestamp] ` before
//! its own lines. The session-id scanner, codex-summarize's log reader and codex-spawn's
//! outcome detector all read through these functions, so that none of them sees a line
//! differently from the others.
//!
//! - [`Decoder`] / [`TextReader`]: bytes to UTF-8 (a BOM decides; no BOM: as is).
//! - [`strip_ci_timestamp`], [`strip_stamp`], [`without_escapes`], [`plain`]: one line.

use std::borrow::Cow;
use std::io::{self, Read};

/// Bytes to UTF-8, chunk by chunk: a stream that begins with the UTF-16LE byte-order
/// mark `FF FE` is decoded (unpaired surrogates become U+FFFD); one that begins with the
/// UTF-8 mark `EF BB BF` loses it; any other stream passes through unchanged.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The first bytes were looked at.
    checked: bool,
    /// The first bytes, while they may still be a byte-order mark.
    head: Vec<u8>,
    utf16: Option<Utf16>,
    /// Bytes of byte-order mark dropped.
    bom_len: u8,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder for a part of a stream past its start: it passes bytes through.
    pub fn past_start() -> Decoder {
        Decoder {
            checked: true,
            ..Decoder::default()
        }
    }

    /// Whether the stream is UTF-16 (known once its first two bytes were fed).
    pub fn is_utf16(&self) -> bool {
        self.utf16.is_some()
    }

    /// How many bytes of byte-order mark were dropped (0, 2 or 3).
    pub fn bom_len(&self) -> u8 {
        self.bom_len
    }

    /// The UTF-8 text of `chunk`: `chunk` itself when the stream is UTF-8, else decoded
    /// into `buf` (cleared first). Bytes that may still begin a byte-order mark are held
    /// back until the next chunk or [`Decoder::finish`].
    pub fn decode<'a>(&mut self, chunk: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
        buf.clear();
        if !self.checked {
            if self.head.is_empty() && chunk.len() >= 3 {
                // the usual case: the first chunk tells, and a UTF-8 one is not copied
                self.checked = true;
                return self.start(chunk, buf);
            }
            self.head.extend_from_slice(chunk);
            let head = &self.head;
            let maybe = |bom: &[u8]| bom.starts_with(head) && head.len() < bom.len();
            if maybe(&[0xff, 0xfe]) || maybe(&[0xef, 0xbb, 0xbf]) {
                return &[];
            }
            self.checked = true;
            let head = std::mem::take(&mut self.head);
            let mut decoded = Vec::new();
            let text = self.start(&head, &mut decoded).to_vec();
            buf.extend_from_slice(&text);
            return buf;
        }
        match &mut self.utf16 {
            Some(dec) => {
                dec.decode(chunk, buf);
                buf
            }
            None => chunk,
        }
    }

    /// [`Decoder::decode`] with the text always in `out` (replaced).
    pub fn decode_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut buf = std::mem::take(out);
        let (ptr, len) = {
            let text = self.decode(chunk, &mut buf);
            (text.as_ptr(), text.len())
        };
        if len > 0 && !std::ptr::eq(ptr, buf.as_ptr()) {
            // not decoded into `buf`: the text is the end of `chunk` itself
            buf.clear();
            buf.extend_from_slice(&chunk[chunk.len() - len..]);
        } else if len == 0 {
            buf.clear();
        }
        *out = buf;
    }

    /// The text of the stream's first bytes, its byte-order mark (if any) dropped.
    fn start<'a>(&mut self, bytes: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
        if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
            self.bom_len = 2;
            let mut dec = Utf16::default();
            dec.decode(rest, buf);
            self.utf16 = Some(dec);
            buf
        } else if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
            self.bom_len = 3;
            rest
        } else {
            bytes
        }
    }

    /// The end of the stream: what was held back (a stream shorter than a mark).
    pub fn finish<'a>(&mut self, buf: &'a mut Vec<u8>) -> &'a [u8] {
        buf.clear();
        if !self.checked {
            self.checked = true;
            buf.append(&mut self.head);
        } else if let Some(dec) = &mut self.utf16 {
            if dec.odd.take().is_some() || dec.high.take().is_some() {
                buf.extend_from_slice("\u{fffd}".as_bytes());
            }
        }
        buf
    }
}

/// UTF-16LE decoding state between chunks.
#[derive(Debug, Default, Clone, Copy)]
struct Utf16 {
    odd: Option<u8>,
    high: Option<u16>,
}

impl Utf16 {
    fn decode(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() / 2 + 4);
        let mut bytes = chunk.iter().copied();
        loop {
            let lo = match self.odd.take() {
                Some(b) => b,
                None => match bytes.next() {
                    Some(b) => b,
                    None => return,
                },
            };
            let Some(hi) = bytes.next() else {
                self.odd = Some(lo);
                return;
            };
            let unit = u16::from_le_bytes([lo, hi]);
            let c = match (self.high.take(), unit) {
                (None, 0xd800..=0xdbff) => {
                    self.high = Some(unit);
                    continue;
                }
                (Some(h), 0xdc00..=0xdfff) => char::from_u32(
                    0x10000 + ((u32::from(h) - 0xd800) << 10) + (u32::from(unit) - 0xdc00),
                ),
                (Some(_), 0xd800..=0xdbff) => {
                    // a high surrogate after an unpaired one
                    self.high = Some(unit);
                    Some(char::REPLACEMENT_CHARACTER)
                }
                (_, u) => char::from_u32(u32::from(u)),
            };
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
}

/// A reader's bytes through a [`Decoder`]: UTF-8 out, whatever came in.
pub struct TextReader<R> {
    inner: R,
    decoder: Decoder,
    raw: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    ended: bool,
}

impl<R: Read> TextReader<R> {
    /// `inner`, decoded.
    pub fn new(inner: R) -> TextReader<R> {
        TextReader {
            inner,
            decoder: Decoder::new(),
            raw: vec![0; 64 << 10],
            out: Vec::new(),
            at: 0,
            ended: false,
        }
    }
}

impl<R: Read> Read for TextReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.out.len() {
                let n = buf.len().min(self.out.len() - self.at);
                buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            if self.decoder.checked && self.decoder.utf16.is_none() {
                // UTF-8 past its start: straight through
                return self.inner.read(buf);
            }
            self.at = 0;
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                self.ended = true;
                let _ = self.decoder.finish(&mut self.out);
            } else {
                // not passed through (see above): the text goes to `out`
                self.decoder.decode_into(&self.raw[..n], &mut self.out);
            }
        }
    }
}

/// `line` without its leading CI timestamps `YYYY-MM-DDTHH:MM:SS[.fraction]Z ` (GitHub
/// Actions writes one before every line of a job's log; a log of such a log has two).
pub fn strip_ci_timestamp(mut line: &[u8]) -> &[u8] {
    loop {
        let rest = strip_one_ci_timestamp(line);
        if rest.len() == line.len() {
            return line;
        }
        line = rest;
    }
}

fn strip_one_ci_timestamp(line: &[u8]) -> &[u8] {
    let shape = |i: usize, b: u8| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    };
    if line.len() < 21 || !line[..19].iter().enumerate().all(|(i, &b)| shape(i, b)) {
        return line;
    }
    let mut i = 19;
    if line.get(i) == Some(&b'.') {
        i += 1;
        while line.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if line.get(i) == Some(&b'Z') && line.get(i + 1) == Some(&b' ') {
        &line[i + 2..]
    } else {
        line
    }
}

/// The rest of `[2025-09-01T12:00:00] rest` (codex before 0.44 stamps its lines so), or
/// `None` when `text` does not start with such a stamp.
pub fn strip_stamp(text: &[u8]) -> Option<&[u8]> {
    if text.first() != Some(&b'[') || !text.get(1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let close = memchr::memchr(b']', &text[..text.len().min(40)])?;
    let inside = &text[1..close];
    let stamp = inside.len() >= 8
        && inside.contains(&b':')
        && inside
            .iter()
            .all(|b| b.is_ascii_digit() || b"-:T.Z+ ".contains(b));
    stamp.then(|| text[close + 1..].trim_ascii_start())
}

/// Whether `line` holds an escape sequence ([`without_escapes`] would change it).
pub fn has_escapes(line: &[u8]) -> bool {
    // one pass for both (a memmem searcher built per line cost more than the scan)
    memchr::memchr2_iter(0x1b, 0xe2, line)
        .any(|i| line[i] == 0x1b || line[i + 1..].starts_with(&[0x86, 0x90, b'[']))
}

/// The bytes of `line` with ANSI escape sequences (CSI `ESC [ … final`, OSC
/// `ESC ] … BEL|ESC \`, two-byte `ESC x`; ESC also as a Windows console renders it, `←`)
/// removed.
pub fn without_escapes(line: &[u8]) -> Stripped<'_> {
    Stripped {
        bytes: line,
        pos: 0,
    }
}

/// A line made plain: the CI timestamp, escape sequences and surrounding whitespace
/// (a `\r` included) removed. Borrowed when nothing but whitespace had to go.
pub fn plain(line: &[u8]) -> Cow<'_, [u8]> {
    let line = strip_ci_timestamp(line);
    if has_escapes(line) {
        let mut out: Vec<u8> = without_escapes(line).collect();
        let start = out.len() - out.trim_ascii_start().len();
        out.drain(..start);
        out.truncate(out.trim_ascii_end().len());
        Cow::Owned(out)
    } else {
        Cow::Borrowed(line.trim_ascii())
    }
}

/// See [`without_escapes`].
#[derive(Debug, Clone)]
pub struct Stripped<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for Stripped<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        loop {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            // a Windows console renders ESC as `←` (U+2190): `←[1m` is `ESC[1m`
            if b == 0xe2 && self.bytes.get(self.pos..self.pos + 3) == Some(&[0x86, 0x90, b'['][..])
            {
                self.pos += 2;
            } else if b != 0x1b {
                return Some(b);
            }
            match self.bytes.get(self.pos) {
                Some(b'[') => {
                    self.pos += 1;
                    // parameter and intermediate bytes 0x20..=0x3f, then one final byte
                    while let Some(&c) = self.bytes.get(self.pos) {
                        self.pos += 1;
                        if (0x40..=0x7e).contains(&c) || !(0x20..=0x3f).contains(&c) {
                            break;
                        }
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    while let Some(&c) = self.bytes.get(self.pos) {
                        self.pos += 1;
                        if c == 0x07 {
                            break;
                        }
                        if c == 0x1b && self.bytes.get(self.pos) == Some(&b'\\') {
                            self.pos += 1;
                            break;
                        }
                    }
                }
                Some(_) => self.pos += 1,
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        let mut out = vec![0xff, 0xfe];
        for u in text.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out
    }

    fn decode_by(bytes: &[u8], n: usize) -> Vec<u8> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for c in bytes.chunks(n) {
            out.extend_from_slice(d.decode(c, &mut buf));
        }
        out.extend_from_slice(d.finish(&mut buf));
        out
    }

    #[test]
    fn boms_decide_and_chunking_does_not_matter() {
        let text = "OpenAI Codex v0.50.0\r\nsession id: x — ✓ 𝄞\r\n";
        let wide = utf16le(text);
        let mut bom8 = vec![0xef, 0xbb, 0xbf];
        bom8.extend_from_slice(text.as_bytes());
        for n in [1, 2, 3, 5, 64] {
            assert_eq!(decode_by(&wide, n), text.as_bytes(), "utf-16 by {n}");
            assert_eq!(decode_by(&bom8, n), text.as_bytes(), "utf-8 bom by {n}");
            assert_eq!(
                decode_by(text.as_bytes(), n),
                text.as_bytes(),
                "plain by {n}"
            );
        }
        // shorter than a mark, and a lone FF
        assert_eq!(decode_by(&[0xff], 1), [0xff]);
        assert_eq!(decode_by(&[0xef, 0xbb], 1), [0xef, 0xbb]);
        for bytes in [&wide[..], &bom8[..], text.as_bytes()] {
            let mut r = TextReader::new(bytes);
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            assert_eq!(s, text);
        }
    }

    #[test]
    fn lines_are_made_plain() {
        let gha = b"2026-04-19T14:51:51.9930167Z \x1b[1mworkdir:\x1b[0m /home/runner\r";
        assert_eq!(&*plain(gha), b"workdir: /home/runner");
        let win = "\u{2190}[2mtokens used\u{2190}[0m".as_bytes();
        assert_eq!(&*plain(win), b"tokens used");
        assert!(matches!(plain(b"  codex \r"), Cow::Borrowed(b"codex")));
        assert_eq!(
            strip_stamp(b"[2025-10-28T18:18:30] tokens used: 2800"),
            Some(&b"tokens used: 2800"[..])
        );
        assert_eq!(strip_stamp(b"[tool] run it"), None);
        // not a CI stamp: no Z, or no space after it
        assert_eq!(
            strip_ci_timestamp(b"2026-04-19T14:51:51 x"),
            b"2026-04-19T14:51:51 x"
        );
        assert_eq!(strip_ci_timestamp(b"2026-04-19T14:51:51Z x"), b"x");
    }
}
