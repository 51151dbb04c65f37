//! The argv codex-spawn builds, checked against the REAL Codex CLI's parser: a parse
//! error exits 2 at once with `Usage:`; anything else means the argv parsed. codex talks
//! to an unreachable endpoint (fresh CODEX_HOME), so runs end by failing or by our
//! --timeout. Needs the real CLI: `CODEX_REAL_BIN=… cargo test -p codex-spawn --test
//! real_cli -- --ignored` (scripts/e2e sets it).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn real_bin() -> String {
    std::env::var("CODEX_REAL_BIN").expect("set CODEX_REAL_BIN to the real codex binary")
}

fn check(env: &Env, args: &[&str]) {
    let home = env.path().join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        "model = \"gpt-5\"\nmodel_provider = \"mock\"\n[model_providers.mock]\nname = \"mock\"\nbase_url = \"http://127.0.0.1:9/v1\"\nwire_api = \"responses\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env("CODEX_BIN", real_bin())
        .env("CODEX_HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["-q", "--timeout", "6s", "--kill-grace", "1s"])
        .args(args)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    let body = log.split("--- codex output ---").nth(1).unwrap_or("");
    assert_ne!(
        out.status.code(),
        Some(2),
        "{args:?}: the real CLI rejected the argv:\n{body}"
    );
    assert!(!body.contains("Usage: codex"), "{args:?}:\n{body}");
    assert!(!body.contains("unexpected argument"), "{args:?}:\n{body}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn real_cli_accepts_new_resume_and_resume_last_argv() {
    let pass = [
        "--",
        "-s",
        "read-only",
        "-m",
        "gpt-5",
        "--skip-git-repo-check",
        "--add-dir",
        "/tmp",
    ];
    let sid = "01a20a11-cee4-7090-bde8-0211b8147f80";
    let task_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(task_file.path(), "a prompt from a file").unwrap();
    let tf = task_file.path().to_str().unwrap().to_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--task", "say hello"],
        vec!["--task-file", &tf],
        vec!["--task", "--looks-like-an-option"],
        vec!["--resume", sid, "--task", "follow up"],
        vec!["--resume", sid],
        vec!["--resume", "last", "--task", "follow up"],
        vec!["--resume", "last"],
        vec!["--resume", sid, "--task-file", &tf],
    ];
    for case in cases {
        for with_pass in [false, true] {
            let env = Env::new();
            let mut args = case.clone();
            if with_pass {
                args.extend(pass);
            }
            check(&env, &args);
        }
    }
}
