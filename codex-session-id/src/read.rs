//! Feeding the [`Scanner`] from the outside world: readers and pipes (incrementally, so an
//! id is reported the moment its line arrives) and regular files (memory-mapped, in
//! line-aligned blocks on all cores, `--last` from the end backwards). Growing files
//! (`--follow`) are [`crate::follow`]'s.
//!
//! This file exists to keep the I/O strategies apart from the format rules. Memory per
//! reading thread: one 1 MiB buffer (streams) plus the scanner's carry (≤ 1 MiB); a
//! mapped file costs address space and page-cache pages, not heap.

use crate::position::Pos;
use crate::{Pending, Scanner, SessionId, Uuid};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Read size for streams and file blocks.
const CHUNK: usize = 1 << 20;
/// A regular file is split into blocks of about this size, scanned in parallel.
const BLOCK: usize = 8 << 20;
/// `--all` remembers this many distinct ids (16 bytes each) to drop repeats; past that,
/// an id not remembered may be reported again. Real logs hold a handful.
pub const MAX_DISTINCT: usize = 100_000;

/// Which ids to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The first one (stop reading there).
    #[default]
    First,
    /// The last one (read everything).
    Last,
    /// Each distinct one, in order of first appearance.
    All,
}

/// What can go wrong: reading the inputs, writing the ids.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read '{}': {}", .path.display(), os_message(.source))]
    Read {
        /// The file as named on the command line.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Standard input could not be read.
    #[error("cannot read standard input: {}", os_message(.0))]
    Stdin(#[source] io::Error),
    /// The ids could not be written (other than to a closed pipe, which is a quiet end).
    #[error("cannot write standard output: {}", os_message(.0))]
    Stdout(#[source] io::Error),
}

/// An I/O error's text without the ` (os error N)` suffix.
fn os_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// Drops repeated ids (up to [`MAX_DISTINCT`] remembered).
#[derive(Debug, Default)]
pub(crate) struct Distinct(HashSet<Uuid>);

impl Distinct {
    /// `true` the first time `uuid` is offered.
    pub(crate) fn insert(&mut self, uuid: Uuid) -> bool {
        if self.0.contains(&uuid) {
            return false;
        }
        if self.0.len() < MAX_DISTINCT {
            self.0.insert(uuid);
        }
        true
    }
}

fn read_retry(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Reads `reader` to its end (or until `on_id` breaks), feeding a [`Scanner`] as bytes
/// arrive, so each id is handed to `on_id` as soon as its line is complete.
pub fn scan_reader<R: Read>(
    mut reader: R,
    mut on_id: impl FnMut(SessionId) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut scanner = Scanner::new();
    loop {
        let n = read_retry(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        for id in scanner.feed(&buf[..n]) {
            if on_id(id).is_break() {
                return Ok(());
            }
        }
    }
    if let Some(id) = scanner.finish() {
        let _ = on_id(id);
    }
    Ok(())
}

/// The first session id in `reader`; reading stops right after its line.
pub fn find_first<R: Read>(reader: R) -> io::Result<Option<SessionId>> {
    let mut first = None;
    scan_reader(reader, |id| {
        first = Some(id);
        ControlFlow::Break(())
    })?;
    Ok(first)
}

/// The last session id in `reader` (read to the end).
pub fn find_last<R: Read>(reader: R) -> io::Result<Option<SessionId>> {
    let mut last = None;
    scan_reader(reader, |id| {
        last = Some(id);
        ControlFlow::Continue(())
    })?;
    Ok(last)
}

/// Each distinct session id in `reader`, in order of first appearance.
pub fn find_all<R: Read>(reader: R) -> io::Result<Vec<SessionId>> {
    let mut seen = Distinct::default();
    let mut all = Vec::new();
    scan_reader(reader, |id| {
        if seen.insert(id.uuid) {
            all.push(id);
        }
        ControlFlow::Continue(())
    })?;
    Ok(all)
}

/// Opens `path` and [`scan_file`]s it.
pub fn scan_path(path: &Path, mode: Mode) -> Result<Vec<SessionId>, Error> {
    let err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    scan_file(&file, mode).map_err(err)
}

/// The ids of a whole file per `mode` (`First`/`Last`: at most one; `All`: distinct, in
/// order). A regular file is memory-mapped and cut into line-aligned blocks of ~8 MiB that
/// all cores scan (`First` in ascending order, stopping once an earlier block can't
/// matter; `Last` in descending order, so an id near the end is found after reading
/// little); anything else (a pipe, a terminal), an empty-looking pseudo-file (procfs, sysfs) or a file
/// that cannot be mapped is read as a stream.
///
/// Mapping instead of reading saves copying every byte from the page cache (a third of
/// the time `--last` takes on a 1 GiB log). The known caveat of mapping: if the file is
/// truncated while it is scanned, touching the lost pages kills the process (SIGBUS).
/// Logs only grow (bytes appended after the scan started are simply not seen), so this
/// is accepted, as ripgrep and GNU grep accept it.
pub fn scan_file(file: &File, mode: Mode) -> io::Result<Vec<SessionId>> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return scan_stream(&mut PositionalReader { file, pos: 0 }, mode);
    }
    // the map lives only during this call
    let map = match crate::sys::map(file) {
        Ok(map) => map,
        Err(_) => return scan_stream(&mut PositionalReader { file, pos: 0 }, mode),
    };
    if map.starts_with(&[0xff, 0xfe]) {
        // UTF-16 (PowerShell's `>`): decoded as a stream
        return scan_stream(&mut PositionalReader { file, pos: 0 }, mode);
    }
    Ok(scan_blocks(&map, mode, Some(&map)))
}

/// Reads `reader` to its end (or to the first id) as a stream.
fn scan_stream(reader: &mut impl Read, mode: Mode) -> io::Result<Vec<SessionId>> {
    match mode {
        Mode::First => Ok(find_first(reader)?.into_iter().collect()),
        Mode::Last => Ok(find_last(reader)?.into_iter().collect()),
        Mode::All => find_all(reader),
    }
}

/// [`scan_file`] on bytes in memory: line-aligned blocks scanned by all cores.
pub fn scan_bytes(data: &[u8], mode: Mode) -> Vec<SessionId> {
    if data.starts_with(&[0xff, 0xfe]) {
        return scan_stream(&mut &data[..], mode).unwrap_or_default();
    }
    scan_blocks(data, mode, None)
}

/// [`scan_bytes`]; when `data` is `map`, the pages already scanned are handed back as the
/// scan goes, so the resident set stays small (the workers' current chunks), not the
/// file's size.
fn scan_blocks(data: &[u8], mode: Mode, map: Option<&crate::sys::Mmap>) -> Vec<SessionId> {
    let blocks = data.len().div_ceil(BLOCK).max(1);
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(blocks)
        .min(8);
    let job = Blocks {
        data,
        map,
        blocks,
        mode,
        next: AtomicUsize::new(0),
        // First: lowest block with an id (MAX = none); Last: highest block + 1 (0 = none)
        bound: AtomicUsize::new(if mode == Mode::First { usize::MAX } else { 0 }),
        results: Mutex::new(Vec::new()),
    };
    if workers <= 1 {
        job.work();
    } else {
        thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(|| job.work());
            }
            job.work();
        });
    }
    let mut results = job.results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(k, _)| *k);
    let ids = settle(results);
    let ids = ids.into_iter();
    match mode {
        Mode::First => ids.take(1).collect(),
        Mode::Last => ids.last().into_iter().collect(),
        Mode::All => {
            let mut seen = Distinct::default();
            ids.filter(|id| seen.insert(id.uuid)).collect()
        }
    }
}

/// The blocks' ids in order, each block's early part settled by the state the blocks
/// before it ended in (a header counts only where a header is: [`crate::position`]).
/// A block that was not scanned (moot) leaves the state unknown: what depends on it
/// cannot change the answer, and is dropped.
fn settle(results: Vec<(usize, BlockScan)>) -> Vec<SessionId> {
    let mut out = Vec::new();
    let mut pos = Some(Pos::Start);
    let mut next = 0;
    for (k, scan) in results {
        if k != next {
            pos = None; // blocks skipped
        }
        next = k + 1;
        for item in scan.pending {
            match (item, pos) {
                (Pending::Id(id), Some(p)) if p.admits(id.kind) => out.push(id),
                (Pending::Id(_), _) => {}
                (Pending::Mark(m), Some(p)) => pos = Some(p.after(m)),
                (Pending::Mark(_), None) => {}
            }
        }
        if scan.settled.is_some() {
            pos = scan.settled;
        }
        out.extend(scan.ids);
    }
    out
}

/// A file read from byte 0 with `pread`, whatever the descriptor's position.
struct PositionalReader<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for PositionalReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A parallel scan of the blocks of a file's bytes.
struct Blocks<'a> {
    data: &'a [u8],
    /// The mapping `data` is, when it is one (see [`Blocks::release`]).
    map: Option<&'a crate::sys::Mmap>,
    blocks: usize,
    mode: Mode,
    next: AtomicUsize,
    bound: AtomicUsize,
    results: Mutex<Vec<(usize, BlockScan)>>,
}

/// What one block of a file holds: what came before its first settling line (resolved
/// once the blocks before it are), the ids after it, and the state at its end.
struct BlockScan {
    pending: Vec<Pending>,
    settled: Option<Pos>,
    ids: Vec<SessionId>,
}

/// Pages are handed back in whole units of this size (a multiple of every page size).
const RELEASE_ALIGN: usize = 64 << 10;
/// ... every this many scanned bytes of a block (fewer calls, a little more resident).
const RELEASE_EVERY: usize = 2 << 20;

impl Blocks<'_> {
    /// Drop the pages of `data[from..to]` from this process's resident set: a
    /// scan of a 1 GiB file must not hold 1 GiB (they stay in the page cache, and a later
    /// read of them just maps them again).
    fn release(&self, from: usize, to: usize) {
        let Some(map) = self.map else { return };
        // Whole units, rounded outwards: a unit shared with a neighbouring chunk is only
        // faulted in again if that chunk is still being read.
        let start = from - from % RELEASE_ALIGN;
        let end = to.next_multiple_of(RELEASE_ALIGN).min(map.len());
        if start < end {
            crate::sys::release(map, start, end - start);
        }
    }

    /// Whether block `k` can no longer change the answer.
    fn moot(&self, k: usize) -> bool {
        let bound = self.bound.load(Ordering::Relaxed);
        match self.mode {
            Mode::First => k > bound,
            Mode::Last => k + 1 < bound,
            Mode::All => false,
        }
    }

    fn work(&self) {
        loop {
            let taken = self.next.fetch_add(1, Ordering::Relaxed);
            if taken >= self.blocks {
                return;
            }
            let k = match self.mode {
                Mode::Last => self.blocks - 1 - taken,
                _ => taken,
            };
            if self.moot(k) {
                // blocks are handed out in order: every later one is moot too
                return;
            }
            let Some(scan) = self.block(k) else { continue };
            // ids found after the block's settling line are the run's whatever came
            // before the block: they bound the answer
            if !scan.ids.is_empty() {
                match self.mode {
                    Mode::First => self.bound.fetch_min(k, Ordering::Relaxed),
                    Mode::Last => self.bound.fetch_max(k + 1, Ordering::Relaxed),
                    Mode::All => 0,
                };
            }
            if let Ok(mut r) = self.results.lock() {
                r.push((k, scan));
            }
        }
    }

    /// The first line start at or after `nominal` (a line belongs to the block its first
    /// byte is in).
    fn line_start(&self, nominal: usize) -> usize {
        if nominal == 0 {
            return 0;
        }
        // block k starts after the first line end at or after byte k*BLOCK - 1
        let from = (nominal - 1).min(self.data.len());
        memchr::memchr2(b'\n', b'\r', &self.data[from..]).map_or(self.data.len(), |i| from + i + 1)
    }

    /// Scan block `k`; `None` when it became moot meanwhile.
    fn block(&self, k: usize) -> Option<BlockScan> {
        let start = self.line_start(k * BLOCK);
        let end = if k + 1 >= self.blocks {
            self.data.len()
        } else {
            self.line_start((k + 1) * BLOCK)
        };
        let mut scanner = Scanner::at_offset(start as u64);
        let mut ids = Vec::new();
        let mut seen = Distinct::default();
        let mut keep = |id: SessionId, ids: &mut Vec<SessionId>| match self.mode {
            Mode::First => {
                ids.push(id);
                ControlFlow::Break(())
            }
            Mode::Last => {
                ids.clear();
                ids.push(id);
                ControlFlow::Continue(())
            }
            Mode::All => {
                if seen.insert(id.uuid) {
                    ids.push(id);
                }
                ControlFlow::Continue(())
            }
        };
        // fed in slices, so a block that became moot is dropped early
        let (mut at, mut released) = (start, start);
        let mut stopped = false;
        'feed: for chunk in self.data[start..end.max(start)].chunks(CHUNK) {
            if self.moot(k) {
                return None;
            }
            for id in scanner.feed(chunk) {
                if keep(id, &mut ids).is_break() {
                    stopped = true;
                    break 'feed;
                }
            }
            // The scanner keeps its own copy of an unfinished line.
            let next = at + chunk.len();
            if next - released >= RELEASE_EVERY {
                self.release(released, next);
                released = next;
            }
            at = next;
        }
        self.release(released, at);
        if !stopped {
            if let Some(id) = scanner.finish() {
                let _ = keep(id, &mut ids);
            }
        }
        let (pending, settled) = scanner.take_pending();
        Some(BlockScan {
            pending,
            settled,
            ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const A: &str = "01a20a11-c891-7691-9716-0a912243e201";
    const B: &str = "01a20a11-cee4-7090-bde8-0211b8147f80";

    #[test]
    fn os_message_drops_the_code() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(os_message(&e), "No such file or directory");
    }

    #[test]
    fn blocks_agree_with_the_stream() {
        // ~20 MiB: several blocks, ids near block boundaries and inside long lines
        let mut text = Vec::new();
        let filler = b"request id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301 session\n";
        let mut i = 0u64;
        while text.len() < 20 << 20 {
            text.extend_from_slice(filler);
            i += 1;
            if i % 150_001 == 0 {
                let id = if i % 2 == 0 { A } else { B };
                text.extend_from_slice(format!("session id: {id}\r\n").as_bytes());
            }
        }
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&text).unwrap();
        for mode in [Mode::First, Mode::Last, Mode::All] {
            let want: Vec<SessionId> = match mode {
                Mode::First => find_first(&text[..]).unwrap().into_iter().collect(),
                Mode::Last => find_last(&text[..]).unwrap().into_iter().collect(),
                Mode::All => find_all(&text[..]).unwrap(),
            };
            assert!(!want.is_empty());
            assert_eq!(scan_file(&file, mode).unwrap(), want, "{mode:?}");
        }
    }

    #[test]
    fn blocks_settle_where_a_header_stands() {
        // two runs; the body of each quotes other headers in every block (a block that
        // begins inside a quoted header must learn from the blocks before it that it is
        // one); the second run begins after the first one's `tokens used`
        let quoted = "OpenAI Codex v0.150.0\n--------\nsession id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301\n--------\n";
        let header = |id: &str| {
            format!(
                "OpenAI Codex v0.169.0\n--------\nsession id: {id}\n--------\nuser\ntask\nexec\n"
            )
        };
        let mut text = header(A).into_bytes();
        let quote_until = |text: &mut Vec<u8>, len: usize| {
            while text.len() < len {
                text.extend_from_slice(quoted.as_bytes());
                text.extend_from_slice(b"some tool output line\n");
            }
        };
        quote_until(&mut text, 13 << 20);
        text.extend_from_slice(b"tokens used\n1,234\n");
        text.extend_from_slice(header(B).as_bytes());
        quote_until(&mut text, 30 << 20);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&text).unwrap();
        assert_eq!(
            find_all(&text[..])
                .unwrap()
                .iter()
                .map(|id| id.uuid.as_str().to_owned())
                .collect::<Vec<_>>(),
            [A, B]
        );
        for mode in [Mode::First, Mode::Last, Mode::All] {
            let want: Vec<SessionId> = match mode {
                Mode::First => find_first(&text[..]).unwrap().into_iter().collect(),
                Mode::Last => find_last(&text[..]).unwrap().into_iter().collect(),
                Mode::All => find_all(&text[..]).unwrap(),
            };
            assert_eq!(scan_file(&file, mode).unwrap(), want, "{mode:?}");
        }
    }
}
