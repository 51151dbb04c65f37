//! End to end on a REAL Slurm (scripts/slurm-up: Debian's slurm-wlm and munge, one
//! node) with the REAL Codex CLI against the mock endpoint: runs submitted with `sbatch`
//! (plain jobs and an array of task files, the README's recipes) each record their job,
//! `codex-meta wait` follows them from the submit side; `codex-meta cancel` of a running
//! run ends its job; from "another host" (a reader in a UTS namespace of its own, so its
//! host name differs from the run's) a run is cancelled through `scancel`; and from
//! "another machine" (that reader, on a copy of the meta that names another boot: no
//! lock or process of the run to see) it is judged through `squeue` — running while its
//! job runs, `lost` once the job ended without a final meta, or once Slurm requeued the
//! job (its script runs again: a new run, which names the restart).
//!
//! Ignored by plain `cargo test`, skipped by `scripts/e2e`; `scripts/e2e-slurm` brings
//! Slurm up and runs them (as root), with SLURM_CONF naming the test Slurm's config, which
//! every Slurm command here and the tools' own (through [`E2e::cmd`]) use: never the
//! machine's own Slurm.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use codex_tools_tests::e2e::{BYPASS, E2e, LIMIT, tag};
use codex_tools_tests::tools::{RunLines, tool_path};
use serde_json::Value;

fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The README's batch scripts: the supervisor `exec`ed, so that Slurm's SIGTERM reaches
/// it (a shell in between dies at once and leaves it unwarned). `codex-array.sh` gives
/// each array task its own task file, `tasks/<index>.txt`.
fn job_scripts(s: &E2e) {
    let d = s.dir.path();
    std::fs::write(d.join("codex-job.sh"), "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::write(
        d.join("codex-array.sh"),
        "#!/bin/sh\nspawn=$1; shift\nexec \"$spawn\" --task-file \"tasks/$SLURM_ARRAY_TASK_ID.txt\" \"$@\"\n",
    )
    .unwrap();
}

/// The test Slurm (scripts/slurm-up's cluster), set up: SLURM_CONF names its config.
fn test_slurm() -> E2e {
    let conf = std::env::var_os("SLURM_CONF").unwrap_or_default();
    assert!(
        std::path::Path::new(&conf).is_file(),
        "SLURM_CONF names no file ({conf:?}): run scripts/e2e-slurm (never the machine's own Slurm)"
    );
    E2e::new()
}

/// A command for `program` with the test's scrubbed environment (the tools' own), run
/// from the test's dir.
fn with_env(s: &E2e, program: &str) -> Command {
    let model = s.cmd("codex-spawn");
    let mut cmd = Command::new(program);
    cmd.env_clear().current_dir(s.dir.path());
    for (k, v) in model.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd
}

/// `sbatch --parsable [extra…] SCRIPT codex-spawn --repo REPO ARGS…` (the environment is
/// exported to the job); the job id.
fn sbatch(s: &E2e, script: &str, extra: &[&str], args: &[&str]) -> String {
    let mut cmd = with_env(s, "sbatch");
    cmd.args(["--parsable", "--output"])
        .arg(s.dir.path().join("slurm-%j.out"))
        .args(extra)
        .arg(s.dir.path().join(script))
        .arg(tool_path("codex-spawn").unwrap())
        .arg("--repo")
        .arg(&s.repo)
        .args(args);
    let id = sh(&mut cmd);
    // `--parsable`: `<id>` or `<id>;<cluster>`
    id.split(';').next().unwrap().to_owned()
}

/// The run a job's codex-spawn launched: its run lines, first in the job's output.
fn run_of(s: &E2e, job_out: &str) -> RunLines {
    let path = s.dir.path().join(job_out);
    let mut lines = None;
    assert!(
        until(LIMIT, || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            lines = RunLines::parse(&text).ok();
            lines.is_some()
        }),
        "no run lines in {}: {}",
        path.display(),
        std::fs::read_to_string(&path).unwrap_or_default()
    );
    lines.unwrap()
}

fn meta(run: &RunLines) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&run.meta_file).unwrap()).unwrap()
}

/// `squeue -h -j JOB -o %T` (its default states: pending, running, completing).
fn squeue(job: &str) -> String {
    let out = Command::new("squeue")
        .args(["-h", "-j", job, "-o", "%T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `TOOL ARGS…` as a reader on another host sees it: in a UTS namespace of its own whose
/// host name is `elsewhere` (the runs dir, CODEX_HOME and Slurm are the same).
fn from_elsewhere(s: &E2e, tool: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut u = with_env(s, "unshare");
    u.args([
        "--uts",
        "sh",
        "-c",
        "hostname elsewhere && exec \"$@\"",
        "sh",
    ])
    .arg(tool_path(tool).unwrap())
    .args(args);
    let out = u.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The run as a reader on another machine sees it: a copy of its meta (and log) in a
/// runs dir of that reader's, the meta saying another boot (another kernel) — no lock
/// and no process of the run can be seen from there, only its Slurm job. Returns the
/// copy's meta path (taken anew at each call).
fn mirror(s: &E2e, run: &RunLines) -> String {
    use std::os::unix::fs::DirBuilderExt;
    let dir = s.dir.path().join("mirror");
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let mut m = meta(run);
    m["boot_id"] = Value::String("another-machine".into());
    let copy = dir.join(run.meta_file.file_name().unwrap());
    let log = dir.join(run.log_file.file_name().unwrap());
    let _ = std::fs::remove_file(&log);
    std::fs::write(&log, "").unwrap();
    m["log_file"] = Value::String(log.display().to_string());
    m["meta_file"] = Value::String(copy.display().to_string());
    std::fs::write(&copy, serde_json::to_vec(&m).unwrap()).unwrap();
    copy.display().to_string()
}

fn node() -> String {
    sh(Command::new("hostname").arg("-s"))
}

fn wait_running(s: &E2e, run: &RunLines, needle: &str) {
    assert!(
        until(LIMIT, || s
            .prompts_from(0)
            .iter()
            .flatten()
            .any(|p| p.contains(needle))
            && meta(run)["status"] == "running"),
        "never running{}",
        s.context(run)
    );
    // the tool call is under way (its sleep started)
    std::thread::sleep(Duration::from_secs(1));
}

#[test]
#[ignore = "needs a real Slurm: run scripts/e2e-slurm"]
fn slurm_six_batch_runs_succeed_each_naming_its_job_and_are_waited_for() {
    let s = test_slurm();
    let t = tag();
    job_scripts(&s);
    // three plain jobs…
    let mut runs: Vec<(String, RunLines)> = Vec::new();
    let plain: Vec<String> = (0..3)
        .map(|i| {
            sbatch(
                &s,
                "codex-job.sh",
                &[],
                &["--task", &format!("plain {i} {t}"), "--", BYPASS],
            )
        })
        .collect();
    // …and an array of three, a task file each
    let tasks = s.dir.path().join("tasks");
    std::fs::create_dir(&tasks).unwrap();
    for i in 0..3 {
        std::fs::write(tasks.join(format!("{i}.txt")), format!("array {i} {t}")).unwrap();
    }
    let out = s.dir.path().join("slurm-%A_%a.out");
    let array = sbatch(
        &s,
        "codex-array.sh",
        &["--array=0-2", "--output", out.to_str().unwrap()],
        &["--", BYPASS],
    );
    for job in &plain {
        runs.push((job.clone(), run_of(&s, &format!("slurm-{job}.out"))));
    }
    for i in 0..3 {
        runs.push((
            format!("{array}_{i}"),
            run_of(&s, &format!("slurm-{array}_{i}.out")),
        ));
    }
    // waited for from the submit side
    let metas: Vec<&str> = runs
        .iter()
        .map(|(_, r)| r.meta_file.to_str().unwrap())
        .collect();
    let wait = s.tool("codex-meta", &[&["wait"][..], &metas].concat());
    assert_eq!(wait.code(), Some(0), "{wait}");
    let node = node();
    for (i, (job, run)) in runs.iter().enumerate() {
        let m = meta(run);
        assert_eq!(m["status"], "succeeded", "{}", s.context(run));
        let sched = &m["scheduler"];
        assert_eq!(sched["kind"], "slurm", "{m}");
        assert_eq!(sched["node"], node.as_str());
        assert_eq!(sched["cluster"], "codextest"); // scripts/slurm-lib.sh's slurm_cluster
        if i < 3 {
            assert_eq!(sched["job_id"], job.as_str(), "{sched}");
            assert!(
                m["task"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("plain {i}"))
            );
        } else {
            let k = i - 3;
            assert_eq!(sched["array_job_id"], array.as_str(), "{sched}");
            assert_eq!(sched["array_task_id"], k.to_string().as_str());
            assert_eq!(m["task"], format!("array {k} {t}").as_str());
        }
        assert!(
            s.log(run).contains("scheduler=slurm job "),
            "{}",
            s.log(run)
        );
    }
    // each job ended with its run
    for (job, _) in &runs {
        assert!(
            until(Duration::from_secs(20), || squeue(job).is_empty()),
            "{job}: {}",
            squeue(job)
        );
    }
}

#[test]
#[ignore = "needs a real Slurm: run scripts/e2e-slurm"]
fn slurm_cancel_of_a_running_run_ends_its_job_here_and_from_another_host() {
    let s = test_slurm();
    let t = tag();
    job_scripts(&s);
    // on the run's own host: its supervisor is signalled, the job ends with it
    let job = sbatch(
        &s,
        "codex-job.sh",
        &[],
        &[
            "--task",
            &format!("[tool:sleep 60; echo here-{t}]"),
            "--",
            BYPASS,
        ],
    );
    let run = run_of(&s, &format!("slurm-{job}.out"));
    wait_running(&s, &run, &format!("here-{t}"));
    assert_eq!(squeue(&job), "RUNNING");
    let out = s.tool(
        "codex-meta",
        &["cancel", &run.run_id, "--wait", "--timeout", "40s"],
    );
    assert_eq!(out.code(), Some(0), "{out}{}", s.context(&run));
    assert!(out.stdout.contains("sent to its supervisor"), "{out}");
    assert_eq!(meta(&run)["status"], "killed", "{}", s.context(&run));
    assert!(
        until(Duration::from_secs(20), || squeue(&job).is_empty()),
        "{job} still {}",
        squeue(&job)
    );

    // from another host: judged through squeue, cancelled through scancel
    let job = sbatch(
        &s,
        "codex-job.sh",
        &[],
        &[
            "--task",
            &format!("[tool:sleep 60; echo far-{t}]"),
            "--",
            BYPASS,
        ],
    );
    let run = run_of(&s, &format!("slurm-{job}.out"));
    wait_running(&s, &run, &format!("far-{t}"));
    let (code, out, err) = from_elsewhere(&s, "codex-meta", &["status", &mirror(&s, &run)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with(&format!("{} running", run.run_id))
            && out.contains(&format!("slurm_job={job}")),
        "{out}{err}"
    );
    let start = Instant::now();
    let (code, out, err) = from_elsewhere(
        &s,
        "codex-meta",
        &["cancel", &run.run_id, "--wait", "--timeout", "40s"],
    );
    assert_eq!(code, Some(0), "{out}{err}{}", s.context(&run));
    assert!(out.contains(&format!("cancelling: scancel {job}")), "{out}");
    let m = meta(&run);
    assert_eq!(m["status"], "killed", "{}", s.context(&run));
    assert_eq!(m["signal"], "SIGTERM");
    assert_eq!(m["cancel_request"]["via"], "scancel");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "the supervisor was not warned: {:?}",
        start.elapsed()
    );
    assert!(
        until(Duration::from_secs(20), || squeue(&job).is_empty()),
        "{job} still {}",
        squeue(&job)
    );
}

#[test]
#[ignore = "needs a real Slurm: run scripts/e2e-slurm"]
fn slurm_a_run_whose_job_ended_without_its_final_meta_is_lost_from_another_host() {
    let s = test_slurm();
    let t = tag();
    job_scripts(&s);
    let job = sbatch(
        &s,
        "codex-job.sh",
        &[],
        &[
            "--task",
            &format!("[tool:sleep 60; echo lost-{t}]"),
            "--",
            BYPASS,
        ],
    );
    let run = run_of(&s, &format!("slurm-{job}.out"));
    wait_running(&s, &run, &format!("lost-{t}"));
    // from another machine, while the job runs: running, by its job
    let (_, out, _) = from_elsewhere(&s, "codex-meta", &["status", &mirror(&s, &run)]);
    assert!(out.starts_with(&format!("{} running", run.run_id)), "{out}");
    // the supervisor dies without a word (SIGKILL): its keeper takes codex along, the job ends
    let pid = meta(&run)["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        until(Duration::from_secs(30), || squeue(&job).is_empty()),
        "{job} still {}",
        squeue(&job)
    );
    assert_eq!(
        meta(&run)["status"],
        "running",
        "the meta was written after all"
    );
    let far = mirror(&s, &run);
    let (code, out, err) = from_elsewhere(&s, "codex-meta", &["status", &far]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!("{} lost", run.run_id)),
        "{out}{err}"
    );
    let (code, out, _) = from_elsewhere(&s, "codex-meta", &["wait", &far, "--timeout", "20s"]);
    assert_eq!(code, Some(125), "{out}");
    // and here, by its witnesses, the same
    let here = s.tool("codex-meta", &["status", &run.run_id]);
    assert!(
        here.stdout.starts_with(&format!("{} lost", run.run_id)),
        "{here}"
    );
}

/// A job that a failed test leaves is cancelled (a requeued job would run again later).
struct Scancel(String);

impl Drop for Scancel {
    fn drop(&mut self) {
        let _ = Command::new("scancel").arg(&self.0).output();
    }
}

/// `scontrol show job -o JOB`'s `Restarts=N`.
fn restarts(job: &str) -> Option<u32> {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", job])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("Restarts=")?.parse().ok())
}

#[test]
#[ignore = "needs a real Slurm: run scripts/e2e-slurm"]
fn slurm_a_requeued_jobs_old_run_is_lost_from_another_host_and_its_new_run_names_the_restart() {
    let s = test_slurm();
    let t = tag();
    job_scripts(&s);
    let job = sbatch(
        &s,
        "codex-job.sh",
        &["--requeue", "--open-mode=append"],
        &[
            "--task",
            &format!("[tool:sleep 60; echo requeue-{t}]"),
            "--",
            BYPASS,
        ],
    );
    let _cleanup = Scancel(job.clone());
    let first = run_of(&s, &format!("slurm-{job}.out"));
    wait_running(&s, &first, &format!("requeue-{t}"));
    // another machine's copy of the run, as its node saw it last (no end was ever
    // written there: the node is gone)
    let far = mirror(&s, &first);
    let (_, out, _) = from_elsewhere(&s, "codex-meta", &["status", &far]);
    assert!(
        out.starts_with(&format!("{} running", first.run_id)),
        "{out}"
    );
    // Slurm requeues the job (as it does when a node fails): the job lives on, pending
    sh(Command::new("scontrol").args(["requeue", &job]));
    assert!(
        until(Duration::from_secs(30), || restarts(&job) == Some(1)),
        "{job} never requeued"
    );
    assert!(!squeue(&job).is_empty(), "the requeued job is gone");
    let (code, out, err) = from_elsewhere(&s, "codex-meta", &["status", &far]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!("{} lost", first.run_id)),
        "a run of a requeued job judged by the job: {out}{err}"
    );
    // a cancel of it never reaches the job, which is no longer the run's
    let (code, out, err) = from_elsewhere(&s, "codex-meta", &["cancel", &far]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("lost: already ended"), "{out}{err}");
    // (Slurm holds a requeued job ~2 min from when it is pending again; now, please) the
    // script runs again: a new run
    assert!(
        until(Duration::from_secs(40), || squeue(&job) == "PENDING"),
        "{job} is {}",
        squeue(&job)
    );
    // slurmd refuses a launch whose credential is of the second its old one was revoked
    // in ("Job credential revoked": the job fails); Slurm's own delay is for that
    std::thread::sleep(Duration::from_secs(2));
    sh(Command::new("scontrol").args(["update", &format!("JobId={job}"), "StartTime=now"]));
    let mut second = None;
    assert!(
        until(LIMIT, || {
            let list = s.tool("codex-meta", &["list", "--json"]);
            second = list
                .stdout
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|m| {
                    m["run_id"] != first.run_id.as_str()
                        && m["scheduler"]["job_id"] == job.as_str()
                        && m["status"] == "running"
                });
            second.is_some()
        }),
        "no new run of {job} ({}): {}",
        sh(Command::new("scontrol").args(["show", "job", "-o", &job])),
        std::fs::read_to_string(s.dir.path().join(format!("slurm-{job}.out"))).unwrap_or_default()
    );
    let second = second.unwrap();
    assert_eq!(second["scheduler"]["restarts"], 1, "{second}");
    let second_id = second["run_id"].as_str().unwrap().to_owned();
    let log = std::fs::read_to_string(second["log_file"].as_str().unwrap()).unwrap();
    assert!(
        log.contains(&format!(
            "scheduler=slurm job {job} on {} (restart 1)",
            node()
        )),
        "{log}"
    );
    // its own record, judged from another host by the same job: running
    let (_, out, _) = from_elsewhere(&s, "codex-meta", &["status", &second_id]);
    assert!(out.starts_with(&format!("{second_id} running")), "{out}");
    sh(Command::new("scancel").arg(&job));
    assert!(
        until(Duration::from_secs(40), || squeue(&job).is_empty()),
        "{job} still {}",
        squeue(&job)
    );
    // the first run had its end recorded on its own node (Slurm's SIGTERM at the requeue)
    assert_eq!(meta(&first)["status"], "killed", "{}", s.context(&first));
}
