//! Runs of another host in a shared runs dir, with stand-in Slurm commands (a real
//! Slurm is in tests/tests/e2e_slurm.rs): judged by their job (`squeue`, else
//! `scontrol`), not guessed without a scheduler, waited for without a lock to wait on,
//! cancelled through `scancel`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_codex-meta");

struct Env {
    tmp: TempDir,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("runs")).unwrap();
        fs::create_dir(tmp.path().join("bin")).unwrap();
        Env { tmp }
    }

    fn runs(&self) -> PathBuf {
        self.tmp.path().join("runs")
    }

    /// (PATH is this bin dir alone: a Slurm installed on the machine is never asked.)
    /// A stand-in for a Slurm command: a script that logs its argv to `<name>.calls`
    /// and prints `stdout` (read from `<name>.out` at each call), exiting `code`.
    fn tool(&self, name: &str, code: i32, err: &str) {
        let d = self.tmp.path().display();
        let p = self.tmp.path().join("bin").join(name);
        fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{d}/{name}.calls'\n/bin/cat '{d}/{name}.out' 2>/dev/null\n[ -n '{err}' ] && echo '{err}' >&2\nexit {code}\n"
            ),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn says(&self, name: &str, out: &str) {
        fs::write(self.tmp.path().join(format!("{name}.out")), out).unwrap();
    }

    fn calls(&self, name: &str) -> String {
        fs::read_to_string(self.tmp.path().join(format!("{name}.calls"))).unwrap_or_default()
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .current_dir(self.tmp.path())
            .env("PATH", self.tmp.path().join("bin"))
            .env("CODEX_RUNS_DIR", self.runs());
        c
    }

    /// A run that says `running` on host `node7`, in Slurm job `job` (none: no scheduler).
    fn remote(&self, id: &str, job: Option<&str>) -> PathBuf {
        let log = self.runs().join(format!("codex-run-{id}.log"));
        fs::write(&log, "").unwrap();
        let mut meta = json!({
            "run_id": id,
            "status": "running",
            "pid": 4242,
            "pid_start": "123",
            "boot_id": "another-boot",
            "host": "node7",
            "log_file": log.display().to_string(),
        });
        if let Some(j) = job {
            meta["scheduler"] = json!({"kind": "slurm", "job_id": j, "node": "node7"});
        }
        let path = self.runs().join(format!("codex-run-{id}.meta.json"));
        fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
        path
    }
}

fn meta(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

#[test]
fn another_hosts_run_is_judged_by_its_slurm_job() {
    let env = Env::new();
    env.remote("r1", Some("77"));
    env.tool("squeue", 0, "");
    env.says("squeue", "RUNNING\n");
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout("r1 running exit=- session=- host=node7 slurm_job=77\n");
    assert!(
        env.calls("squeue").contains("-j 77"),
        "{}",
        env.calls("squeue")
    );
    // the job ended, the meta still says running: lost
    env.says("squeue", "CANCELLED\n");
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 lost"));
    // long gone: squeue no longer knows it
    env.tool(
        "squeue",
        1,
        "slurm_load_jobs error: Invalid job id specified",
    );
    env.says("squeue", "");
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 lost"));
    // squeue cannot reach the controller: not guessed
    env.tool(
        "squeue",
        1,
        "slurm_load_jobs error: Unable to contact slurm controller",
    );
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 running"));
    // no squeue here: scontrol is asked
    std::fs::remove_file(env.tmp.path().join("bin/squeue")).unwrap();
    env.tool("scontrol", 0, "");
    env.says(
        "scontrol",
        "JobId=77 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None\n",
    );
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 running"));
    assert!(env.calls("scontrol").contains("show job -o 77"));
}

#[test]
fn a_run_whose_job_slurm_requeued_since_is_lost_and_never_scancelled() {
    let env = Env::new();
    let path = env.remote("r1", Some("77"));
    env.tool("squeue", 0, "");
    env.tool("scancel", 0, "");
    // the job runs, as often restarted as when the run started: the run's
    env.says("squeue", "RUNNING             0           \n");
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 running"));
    assert!(
        env.calls("squeue")
            .contains("-j 77 -O State:30,RestartCnt:12"),
        "{}",
        env.calls("squeue")
    );
    // requeued since (its node failed): the job runs its script again, a new run; this
    // one ended without its final meta
    env.says("squeue", "RUNNING             1           \n");
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 lost"));
    env.cmd()
        .args(["cancel", "r1"])
        .assert()
        .success()
        .stdout("r1 lost: already ended, nothing to cancel\n");
    assert_eq!(env.calls("scancel"), "", "the job's new run was cancelled");
    // a run started in the requeued job (SLURM_RESTART_COUNT=1) is that job's run
    let mut m = meta(&path);
    m["scheduler"]["restarts"] = json!(1);
    fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 running"));
    // scontrol's word for it when squeue is not here
    fs::remove_file(env.tmp.path().join("bin/squeue")).unwrap();
    env.tool("scontrol", 0, "");
    env.says(
        "scontrol",
        "JobId=77 JobName=wrap JobState=PENDING Reason=BeginTime Requeue=1 Restarts=2 BatchFlag=1\n",
    );
    env.cmd()
        .args(["status", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r1 lost"));
}

#[test]
fn without_a_scheduler_another_hosts_run_is_not_guessed() {
    let env = Env::new();
    env.remote("r2", None);
    env.cmd()
        .args(["status", "r2"])
        .assert()
        .success()
        .stdout("r2 running exit=- session=- host=node7 (another host: not checked from here)\n");
    // with Slurm recorded but no Slurm tools here: not guessed either
    env.remote("r3", Some("78"));
    env.cmd()
        .args(["status", "r3"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r3 running"));
    env.cmd()
        .args(["cancel", "r2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "runs on host node7, not on this one",
        ));
}

#[test]
fn wait_follows_another_hosts_run_by_its_meta_and_its_job() {
    let env = Env::new();
    let p = env.remote("r4", Some("79"));
    env.tool("squeue", 0, "");
    env.says("squeue", "RUNNING\n");
    // the run ends on its node: the shared meta says so
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let mut m = meta(&p);
            m["status"] = json!("succeeded");
            m["exit_code"] = json!(0);
            // as the supervisor writes it: whole, by a rename
            let tmp = p.with_extension("partial");
            fs::write(&tmp, serde_json::to_vec(&m).unwrap()).unwrap();
            fs::rename(&tmp, &p).unwrap();
        })
    };
    let start = Instant::now();
    env.cmd()
        .args(["wait", "r4", "--timeout", "20s"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("r4 succeeded"));
    assert!(start.elapsed() < Duration::from_secs(5));
    writer.join().unwrap();
    // its job is gone and the meta never ended: lost, at once
    env.remote("r5", Some("80"));
    env.tool(
        "squeue",
        1,
        "slurm_load_jobs error: Invalid job id specified",
    );
    env.cmd()
        .args(["wait", "r5", "--timeout", "20s"])
        .assert()
        .code(125)
        .stdout(predicate::str::starts_with("r5 lost"));
    // squeue shows nothing (another user's job, PrivateData): scontrol is asked, and
    // without an answer nothing is guessed
    env.tool("squeue", 0, "");
    env.says("squeue", "");
    env.remote("r5b", Some("85"));
    env.cmd()
        .args(["wait", "r5b", "--timeout", "1s"])
        .assert()
        .code(124);
    env.tool("scontrol", 0, "");
    env.says(
        "scontrol",
        "JobId=85 JobName=wrap JobState=COMPLETED Reason=None\n",
    );
    env.cmd()
        .args(["wait", "r5b", "--timeout", "20s"])
        .assert()
        .code(125)
        .stdout(predicate::str::starts_with("r5b lost"));
    // still running at the timeout: 124, and no busy loop meanwhile (a few looks only)
    env.remote("r6", Some("81"));
    env.says("squeue", "RUNNING\n");
    let before = env.calls("squeue").lines().count();
    env.cmd()
        .args(["wait", "r6", "--timeout", "2s"])
        .assert()
        .code(124);
    let asked = env.calls("squeue").lines().count() - before;
    assert!((1..=3).contains(&asked), "squeue asked {asked} times");
}

#[test]
fn cancel_of_another_hosts_slurm_run_goes_through_scancel() {
    let env = Env::new();
    let p = env.remote("r7", Some("82"));
    env.tool("scancel", 0, "");
    env.tool("squeue", 0, "");
    env.says("squeue", "RUNNING\n");
    env.cmd()
        .args(["cancel", "r7"])
        .assert()
        .success()
        .stdout("r7 cancelling: scancel 82 (slurm job 82 on node7 on host node7)\n");
    assert_eq!(env.calls("scancel").trim(), "82");
    let m = meta(&p);
    assert_eq!(m["cancel_request"]["via"], "scancel");
    // scancel refuses: one line, exit 2
    env.tool(
        "scancel",
        1,
        "scancel: error: Kill job error on job id 82: Access/permission denied",
    );
    env.cmd()
        .args(["cancel", "r7"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Access/permission denied"));
    // a job that holds two live runs: scancel would stop both, so it is not sent
    env.tool("scancel", 0, "");
    let before = env.calls("scancel").lines().count();
    env.remote("r8", Some("90"));
    env.remote("r9", Some("90"));
    env.cmd()
        .args(["cancel", "r8"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "scancel would stop 1 other run(s) of that job too (r9)",
        ));
    assert_eq!(env.calls("scancel").lines().count(), before);
    // a forged scheduler is refused by set
    env.cmd()
        .args([
            "set",
            "r7",
            "scheduler={\"kind\":\"slurm\",\"job_id\":\"1\"}",
        ])
        .assert()
        .code(2);
}
