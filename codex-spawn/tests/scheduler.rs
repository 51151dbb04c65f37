//! Under a batch scheduler: the run's meta names its job (Slurm's environment, a
//! Kubernetes pod's), and `--detach` inside a Slurm job is warned of (the job ends with
//! its script and takes the run with it). The real Slurm is in
//! tests/tests/e2e_slurm.rs.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, Fake, kv};

#[test]
fn a_run_in_a_slurm_job_records_its_job_and_node() {
    let env = Env::new();
    env.fake(Fake::default());
    let out = env
        .cmd()
        .args(["--quiet", "--task", "t"])
        .env("SLURM_JOB_ID", "1234")
        .env("SLURM_ARRAY_JOB_ID", "1230")
        .env("SLURM_ARRAY_TASK_ID", "4")
        .env("SLURMD_NODENAME", "node3")
        .env("SLURM_CLUSTER_NAME", "lab")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let m = env.meta();
    assert_eq!(
        m["scheduler"],
        serde_json::json!({"kind": "slurm", "job_id": "1234", "array_job_id": "1230",
            "array_task_id": "4", "cluster": "lab", "node": "node3"})
    );
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(log.contains("scheduler=slurm job 1230_4 on node3"), "{log}");
}

#[test]
fn a_run_in_a_kubernetes_pod_records_the_pod() {
    let env = Env::new();
    env.fake(Fake::default());
    let out = env
        .cmd()
        .args(["--quiet", "--task", "t"])
        .env("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        .env("HOSTNAME", "codex-job-x7")
        .env("POD_NAMESPACE", "agents")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        env.meta()["scheduler"],
        serde_json::json!({"kind": "kubernetes", "pod": "codex-job-x7", "namespace": "agents"})
    );
}

#[test]
fn detach_inside_a_slurm_job_is_said_and_a_plain_run_names_no_scheduler() {
    let env = Env::new();
    env.fake(Fake::default());
    let out = env
        .cmd()
        .args(["--detach", "--task", "t"])
        .env("SLURM_JOB_ID", "99")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: run ") && err.contains("--detach inside slurm job 99"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let meta_path = kv(&String::from_utf8_lossy(&out.stdout), "meta_file").unwrap();
    let m = codex_meta::wait_for(
        std::path::Path::new(&meta_path),
        Some(std::time::Duration::from_secs(20)),
    )
    .unwrap();
    assert!(
        m.meta
            .warnings
            .unwrap_or_default()
            .iter()
            .any(|w| w.contains("--detach inside slurm job 99"))
    );
    std::fs::remove_dir_all(env.runs()).unwrap();
    let out = env.cmd().args(["--quiet", "--task", "t"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(env.meta().get("scheduler").is_none());
}
