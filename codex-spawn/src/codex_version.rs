//! Which Codex CLI a run uses: its version, found without running it where possible.
//!
//! Why it exists: a few things differ by version (see [`codex_meta::codex_version`], the
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

use codex_meta::codex_version::Version;

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

/// `bin --version` → `codex-cli 0.169.0`.
fn probe(bin: &Path) -> Option<Version> {
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    out.lines().find_map(Version::from_banner)
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
        unsafe { std::env::set_var("XDG_CACHE_HOME", tmp.path().join("cache")) };
        assert_eq!(detect(&bin), Some(Version(0, 171, 0)));
        assert_eq!(detect(&bin), Some(Version(0, 171, 0)));
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    }
}
