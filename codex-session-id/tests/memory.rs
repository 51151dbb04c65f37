//! Scanning a big regular file (mmapped, both cores) must not make the process hold the
//! file: the resident set grows by a few MiB, whatever the file's size. Its own test binary,
//! so no other test's allocations blur the measurement.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufWriter, Write};

use codex_session_id::{Mode, scan_file};

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_128_mib_log_is_scanned_with_a_small_resident_set() {
    const SID: &str = "0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let mut w = BufWriter::new(File::create(&path).unwrap());
    writeln!(
        w,
        "OpenAI Codex v0.169.0\n--------\nsession id: {SID}\n--------"
    )
    .unwrap();
    let filler = "request id: 3f2504e0-4f89-11d3-9a0c-0305e82c3301 session token expired\n\
                  Done. decoy session id: 123e4567-e89b-12d3-a456-426614174000\n";
    let mut written = 0;
    while written < 128 << 20 {
        w.write_all(filler.as_bytes()).unwrap();
        written += filler.len();
    }
    w.into_inner().unwrap().sync_all().unwrap();

    let before = status_kib("VmRSS:");
    let ids = scan_file(&File::open(&path).unwrap(), Mode::Last).unwrap();
    let peak = status_kib("VmHWM:");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].uuid.to_string(), SID);
    assert!(
        peak.saturating_sub(before) < 16 * 1024,
        "resident set grew by {} KiB scanning a 128 MiB file (before {before} KiB, peak {peak} KiB)",
        peak.saturating_sub(before)
    );
}
