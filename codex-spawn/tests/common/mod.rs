//! Test harness: a temp dir with a repo, a runs dir and a fake codex — a `#!/bin/sh`
//! script that replays a transcript captured from the real Codex CLI 0.169.0
//! (`tests/fixtures/codex-0.169.0/NAME.stderr` then `.stdout`), records its argv
//! (NUL-separated), its stdin and its pid, and can be given a fault snippet to run.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_codex-spawn");

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/codex-0.169.0")
}

pub struct Env {
    pub dir: TempDir,
}

/// A fake codex: replays `scenario`, runs `before` (after recording, before the
/// transcript) and `after` (after it) shell snippets, exits with `exit` (default: the
/// fixture's `.exit`).
pub struct Fake<'a> {
    pub scenario: &'a str,
    pub before: &'a str,
    pub after: &'a str,
    pub exit: Option<i32>,
}

impl Default for Fake<'_> {
    fn default() -> Self {
        Fake {
            scenario: "new-human",
            before: "",
            after: "",
            exit: None,
        }
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("repo")).unwrap();
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }
    pub fn runs(&self) -> PathBuf {
        self.path().join("runs")
    }
    pub fn fake_path(&self) -> PathBuf {
        self.path().join("codex")
    }

    /// Write the fake codex script.
    pub fn fake(&self, f: Fake<'_>) -> PathBuf {
        let fx = fixtures();
        let exit = f.exit.unwrap_or_else(|| {
            std::fs::read_to_string(fx.join(format!("{}.exit", f.scenario)))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        });
        let d = self.path().display();
        let script = format!(
            "#!/bin/sh\n\
             if [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\n\
             echo $$ > '{d}/codex.pid'\n\
             for a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{d}/codex.argv'\n\
             cat > '{d}/codex.stdin'\n\
             {before}\n\
             cat '{fx}/{sc}.stderr' >&2\n\
             cat '{fx}/{sc}.stdout'\n\
             {after}\n\
             exit {exit}\n",
            fx = fx.display(),
            sc = f.scenario,
            before = f.before,
            after = f.after,
        );
        let p = self.fake_path();
        std::fs::write(&p, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// codex-spawn with a scrubbed env, `--repo` given, the runs dir and the fake codex
    /// through `CODEX_RUNS_DIR` / `CODEX_BIN`.
    pub fn cmd(&self) -> Command {
        let mut c = self.cmd_norepo();
        c.arg("--repo").arg(self.repo());
        c
    }

    /// [`Env::cmd`] without `--repo`.
    pub fn cmd_norepo(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.path())
            .env("CODEX_RUNS_DIR", self.runs())
            .env("CODEX_BIN", self.fake_path())
            .current_dir(self.path());
        c
    }

    pub fn argv(&self) -> Vec<String> {
        let bytes = std::fs::read(self.path().join("codex.argv")).unwrap();
        bytes
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    pub fn argv_raw(&self) -> Vec<u8> {
        std::fs::read(self.path().join("codex.argv")).unwrap()
    }

    pub fn codex_stdin(&self) -> Vec<u8> {
        std::fs::read(self.path().join("codex.stdin")).unwrap()
    }

    pub fn codex_pid(&self) -> i32 {
        wait_until(Duration::from_secs(10), || {
            self.path().join("codex.pid").exists()
        });
        std::thread::sleep(Duration::from_millis(20));
        std::fs::read_to_string(self.path().join("codex.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// The only run's meta path.
    pub fn meta_path(&self) -> PathBuf {
        let metas: Vec<PathBuf> = std::fs::read_dir(self.runs())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
            .collect();
        assert_eq!(metas.len(), 1, "{metas:?}");
        metas[0].clone()
    }

    pub fn meta(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.meta_path()).unwrap()).unwrap()
    }

    pub fn log(&self) -> Vec<u8> {
        let m = self.meta();
        std::fs::read(m["log_file"].as_str().unwrap()).unwrap()
    }
}

/// `key=value` lines of an output.
pub fn kv(out: &str, key: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

pub fn alive(pid: i32) -> bool {
    // A zombie counts as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
