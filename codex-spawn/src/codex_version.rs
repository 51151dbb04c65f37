//! Which Codex CLI a run uses: its version, found without running it where possible.
//!
//! Why it exists: a few things differ by version (see [`codex_session_id::codex_version`], the
//! table) — the oldest CLI codex-spawn can drive, and for the readers how a resumed
//! run's tokens are counted — so the meta records the version. Finding it must not cost
//! a run its speed (spawn's own time is a few milliseconds; starting the Node launcher
//! to ask it takes hundreds):
//!
//! 1. an npm install (`…/@openai/codex/bin/codex.js`, what `npm i -g @openai/codex`
//!    gives): the version is in the package's `package.json`, read in microseconds;
//! 2. else a cache of earlier answers (`$XDG_CACHE_HOME/codex-tools/codex-versions`, else
//!    `~/.cache/…`), keyed by the binary's path, size and modification time;
//! 3. else `codex --version`, once (10 s at most), and the answer (or that there was
//!    none) goes into the cache.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codex_session_id::codex_version::Version;

/// How long `codex --version` may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many binaries the cache remembers.
const CACHE_ENTRIES: usize = 64;

/// The version of the codex at `bin` (resolved, absolute), when it can be told.
pub fn detect(bin: &Path) -> Option<Version> {
    let real = std::fs::canonicalize(bin).ok()?;
    if let Some(v) = from_npm_package(&real) {
        return Some(v);
    }
    let meta = std::fs::metadata(&real).ok()?;
    let key = format!(
        "{} {} {}",
        meta.size(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
        real.display()
    );
    let cache = cache_file();
    let cached = cache.as_deref().map(read_cache).unwrap_or_default();
    if let Some((_, v)) = cached.iter().find(|(k, _)| *k == key) {
        return v.parse().ok();
    }
    let found = probe(&real);
    if let Some(path) = cache {
        let mut entries: Vec<(String, String)> =
            cached.into_iter().filter(|(k, _)| *k != key).collect();
        entries.push((key, found.map_or_else(|| "-".to_owned(), |v| v.to_string())));
        let start = entries.len().saturating_sub(CACHE_ENTRIES);
        write_cache(&path, &entries[start..]);
    }
    found
}

/// `…/@openai/codex/bin/codex.js` → the version in `…/@openai/codex/package.json`.
fn from_npm_package(real: &Path) -> Option<Version> {
    let pkg = real.parent()?.parent()?;
    if real.file_name()? != "codex.js" || pkg.file_name()? != "codex" {
        return None;
    }
    let file = std::fs::File::open(pkg.join("package.json")).ok()?;
    let text = codex_meta::files::read_to_cap(file, 1 << 20).ok()??;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    if v.get("name")?.as_str()? != "@openai/codex" {
        return None;
    }
    v.get("version")?.as_str()?.parse().ok()
}

fn cache_file() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(base.join("codex-tools").join("codex-versions"))
}

/// `key\tversion` lines (`-`: the binary gave no version).
fn read_cache(path: &Path) -> Vec<(String, String)> {
    let Ok(bytes) = codex_meta::files::read_capped(path, 1 << 20, "cache") else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.rsplit_once('\t')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn write_cache(path: &Path, entries: &[(String, String)]) {
    let Some(dir) = path.parent() else { return };
    use std::os::unix::fs::DirBuilderExt;
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
    {
        return;
    }
    let text: String = entries.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
    // a cache: losing an update costs one more probe, nothing else
    let _ = codex_meta::write_bytes_atomic(path, text.as_bytes());
}

/// `bin --version` → `codex-cli 0.169.0`. Its output is read as it comes (at most 4 KiB,
/// within [`PROBE_TIMEOUT`]): the answer is taken from the first line that names a
/// version, and a binary that is no codex — one that ignores `--version` and floods its
/// stdout, or never exits — is stopped as soon as it has said too much or taken too long,
/// not waited out.
fn probe(bin: &Path) -> Option<Version> {
    use std::os::fd::AsFd;
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut out = Vec::new();
    let mut found = None;
    if let Some(mut stdout) = child.stdout.take() {
        let mut buf = [0u8; 1024];
        while found.is_none() && out.len() < 4096 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
            let mut fds = [nix::poll::PollFd::new(
                stdout.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
                Ok(0) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
            match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            // a complete line that names the version ends the probe
            let text = String::from_utf8_lossy(&out);
            let complete = match text.rfind('\n') {
                Some(end) => &text[..end],
                None => "",
            };
            found = complete.lines().find_map(codex_session_id::log::version_in);
        }
    }
    if found.is_none() {
        // the end of the output without a newline
        found = String::from_utf8_lossy(&out)
            .lines()
            .find_map(codex_session_id::log::version_in);
    }
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
    }
    let _ = child.wait();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_npm_install_is_read_from_its_package_and_others_are_probed_once() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("node_modules/@openai/codex");
        std::fs::create_dir_all(pkg.join("bin")).unwrap();
        std::fs::write(
            pkg.join("package.json"),
            r#"{"name":"@openai/codex","version":"0.47.0"}"#,
        )
        .unwrap();
        std::fs::write(pkg.join("bin/codex.js"), "").unwrap();
        assert_eq!(detect(&pkg.join("bin/codex.js")), Some(Version(0, 47, 0)));

        // a native binary: asked once, then the cache answers (the script counts its runs)
        let bin = tmp.path().join("codex");
        let count = tmp.path().join("count");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\necho x >> '{}'\necho 'codex-cli 0.171.0'\n",
                count.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: this test's own process environment; no other thread reads XDG_CACHE_HOME
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("XDG_CACHE_HOME", tmp.path().join("cache"))
        };
        assert_eq!(detect(&bin), Some(Version(0, 171, 0)));
        assert_eq!(detect(&bin), Some(Version(0, 171, 0)));
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    }

    #[test]
    fn a_binary_that_floods_or_hangs_is_not_waited_out() {
        let tmp = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let script = |name: &str, body: &str| {
            let p = tmp.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        // ignores --version and writes 64 MiB (it blocked on a full pipe until the 10 s bound)
        let flood = script("flood", "head -c 67108864 /dev/zero");
        let start = Instant::now();
        assert_eq!(probe(&flood), None);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        // names its version, then does not exit
        let linger = script("linger", "echo 'codex-cli 0.99.0'; exec sleep 30");
        let start = Instant::now();
        assert_eq!(probe(&linger), Some(Version(0, 99, 0)));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
}
