//! The platform calls of codex-session-id (`src/sys/`): mapping a log file into memory and handing
//! its scanned pages back. The only `unsafe` of the crate.
//!
//! Why mapped (see `read.rs`): reading a 1 GiB log through `read` copies every byte from
//! the page cache, a third of the time `--last` takes; the blocks of a mapped file are
//! scanned on all cores, `--last` from the end.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

pub(crate) use memmap2::Mmap;

/// A private, read-only map of `file`.
///
/// The known caveat of mapping: if the file is truncated while it is scanned, touching
/// the lost pages kills the process (SIGBUS). Logs only grow (bytes appended after the
/// scan started are simply not seen), so this is accepted, as ripgrep and GNU grep
/// accept it.
pub(crate) fn map(file: &File) -> io::Result<Mmap> {
    // SAFETY: the map is only read, never written through. Another process changing the
    // file's bytes meanwhile can only change what the scan finds (it never assumes that
    // two reads of a byte agree); truncation is the SIGBUS caveat documented above.
    unsafe { Mmap::map(file) }
}

/// Drops the pages of `map[start..start + len]` from this process's resident set (they
/// stay in the page cache; a later read maps them again).
pub(crate) fn release(map: &Mmap, start: usize, len: usize) {
    // SAFETY: the mapping is a private, read-only map of a file that we never write
    // through; MADV_DONTNEED on it only drops our page table entries, and a later access
    // (another worker finding a line start) faults the same file bytes back in. No
    // reference observes different contents.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len) };
}
