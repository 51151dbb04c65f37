//! Runs under a batch scheduler: which job a run is (recorded by codex-spawn from the
//! scheduler's environment), and what the scheduler says of it to a reader on another
//! host — where the run's own witnesses (the lock on its log, its supervisor's pid) cannot
//! be seen.
//!
//! - [`Scheduler::from_env`]: Slurm (`SLURM_JOB_ID`, …) or a Kubernetes pod
//!   (`KUBERNETES_SERVICE_HOST`), for the meta's `scheduler` object.
//! - [`job_state`]: Slurm's view of the job — `squeue -h -t all -j ID -O State,RestartCnt`,
//!   else `scontrol show job -o ID` — bounded in time; a job Slurm no longer knows has
//!   ended, and so has the run of a job Slurm has requeued since (its restart count grew:
//!   the job runs again, but as a new run, from its script).
//! - [`cancel`]: `scancel` of the run's job (an array task: `JOB_TASK`), so Slurm signals
//!   the supervisor wherever it runs.
//!
//! Nothing here schedules, queues or talks to nodes: Slurm does that. A job id is digits
//! (and `_` for an array task) before it reaches a command line; commands get an argv,
//! never a shell.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Meta;

/// How often a reader asks a scheduler about one run while it waits (`codex-meta wait`,
/// `--after`, codex-mcp's `wait`): a Slurm controller is not for polling.
pub const ASK_EVERY: Duration = Duration::from_secs(10);

/// How long a scheduler command may take (a slurmctld that does not answer).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// `scheduler` in the meta: the job a run is part of.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Scheduler {
    /// `slurm` or `kubernetes`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The node (Slurm) the run is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// How often Slurm had requeued the job when the run started (`SLURM_RESTART_COUNT`;
    /// none: never). A requeued job runs its script again — another run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// The pod and its namespace (Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where a Kubernetes pod's namespace is, when the downward API gives no `POD_NAMESPACE`.
const K8S_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Scheduler {
    /// The scheduler this process runs under, from its environment.
    pub fn from_env() -> Option<Scheduler> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut s = Scheduler::from_vars(get)?;
        if s.kind == "kubernetes" && s.namespace.is_none() {
            s.namespace = std::fs::read_to_string(K8S_NAMESPACE_FILE)
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty());
        }
        Some(s)
    }

    /// [`Scheduler::from_env`] over any variables (`get` returns a set, non-empty value).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Option<Scheduler> {
        if let Some(job) = get("SLURM_JOB_ID").or_else(|| get("SLURM_JOBID")) {
            let (array_job_id, array_task_id) =
                match (get("SLURM_ARRAY_JOB_ID"), get("SLURM_ARRAY_TASK_ID")) {
                    (Some(j), Some(t)) => (Some(j), Some(t)),
                    _ => (None, None),
                };
            return Some(Scheduler {
                kind: "slurm".to_owned(),
                job_id: Some(job),
                step_id: get("SLURM_STEP_ID").or_else(|| get("SLURM_STEPID")),
                array_job_id,
                array_task_id,
                cluster: get("SLURM_CLUSTER_NAME"),
                node: get("SLURMD_NODENAME").or_else(|| get("SLURM_NODENAME")),
                restarts: get("SLURM_RESTART_COUNT").and_then(|n| n.trim().parse().ok()),
                ..Scheduler::default()
            });
        }
        if get("KUBERNETES_SERVICE_HOST").is_some() {
            return Some(Scheduler {
                kind: "kubernetes".to_owned(),
                pod: get("POD_NAME").or_else(|| get("HOSTNAME")),
                namespace: get("POD_NAMESPACE"),
                ..Scheduler::default()
            });
        }
        None
    }

    /// The id Slurm's commands take for this job: `ARRAYJOB_TASK` for an array task, else
    /// the job id. `None` when it is not a Slurm job or the ids are not plain numbers.
    pub fn slurm_job(&self) -> Option<String> {
        if self.kind != "slurm" {
            return None;
        }
        if let (Some(j), Some(t)) = (&self.array_job_id, &self.array_task_id) {
            if digits(j) && digits(t) {
                return Some(format!("{j}_{t}"));
            }
        }
        self.job_id.clone().filter(|j| digits(j))
    }

    /// `slurm job 123 on node1` (`… (restart 2)` once requeued), for messages.
    pub fn describe(&self) -> String {
        match (self.kind.as_str(), self.slurm_job()) {
            ("slurm", Some(j)) => {
                let mut s = format!("slurm job {j}");
                if let Some(n) = &self.node {
                    s.push_str(&format!(" on {n}"));
                }
                if let Some(r) = self.restarts.filter(|&r| r > 0) {
                    s.push_str(&format!(" (restart {r})"));
                }
                s
            }
            ("kubernetes", _) => match (&self.namespace, &self.pod) {
                (Some(ns), Some(p)) => format!("kubernetes pod {ns}/{p}"),
                (_, Some(p)) => format!("kubernetes pod {p}"),
                _ => "a kubernetes pod".to_owned(),
            },
            (k, _) => k.to_owned(),
        }
    }
}

impl Meta {
    /// The run's [`Scheduler`], if it ran under one.
    pub fn scheduler(&self) -> Option<Scheduler> {
        serde_json::from_value(self.extra.get("scheduler")?.clone()).ok()
    }

    /// Record the run's [`Scheduler`].
    pub fn set_scheduler(&mut self, s: &Scheduler) {
        if let Ok(v) = serde_json::to_value(s) {
            self.extra.insert("scheduler".to_owned(), v);
        }
    }
}

/// What the scheduler says of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Pending, running, completing, suspended…: the run may go on. Slurm's state name.
    Active(String),
    /// Ended (its state name), or no longer known to the scheduler.
    Ended(String),
    /// Cannot be told from here (no scheduler tools, no answer): why.
    Unknown(String),
}

/// Slurm job states in which the job's processes may still run (squeue's `%T`).
const ACTIVE_STATES: &[&str] = &[
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "RESIZING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
];

/// Why a command gave no answer.
enum NoAnswer {
    /// Not installed here.
    Missing(String),
    /// It could not run, or did not answer in time.
    Failed(String),
}
use NoAnswer::{Failed, Missing};

impl NoAnswer {
    fn text(self) -> String {
        match self {
            Missing(s) | Failed(s) => s,
        }
    }
}

/// Run `program args…`, at most [`COMMAND_TIMEOUT`]: (exit code, stdout, stderr), or why not.
fn bounded(program: &str, args: &[&str]) -> Result<(Option<i32>, String, String), NoAnswer> {
    let mut cmd = Command::new(program);
    // the reader's own Slurm settings never filter what it is told (SQUEUE_USERS,
    // SQUEUE_PARTITION, SLURM_CLUSTERS…, or a job's SLURM_* when it runs in one):
    // only where the config is
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("SLURM_")
            || k.starts_with("SQUEUE_")
            || k.starts_with("SCONTROL_")
            || k.starts_with("SCANCEL_"))
            && k != "SLURM_CONF"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Missing(format!("{program} is not installed here")),
            _ => Failed(format!("cannot run {program}: {e}")),
        })?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() < COMMAND_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failed(format!(
                    "{program} did not answer within {} s",
                    COMMAND_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(Failed(format!("{program}: {e}"))),
        }
    };
    // the outputs are small (one job's line); read what is there, at most 64 KiB each
    let read = |r: Option<&mut dyn Read>| {
        let mut s = String::new();
        if let Some(r) = r {
            let _ = r.take(64 << 10).read_to_string(&mut s);
        }
        s
    };
    let out = read(child.stdout.as_mut().map(|r| r as &mut dyn Read));
    let err = read(child.stderr.as_mut().map(|r| r as &mut dyn Read));
    Ok((status.code(), out, err))
}

/// What Slurm says of the run's job (see the module docs).
pub fn job_state(s: &Scheduler) -> JobState {
    let Some(job) = s.slurm_job() else {
        return JobState::Unknown(format!("{} cannot be asked from here", s.describe()));
    };
    let state = slurm_state(&job);
    requeued_since(state, s.restarts.unwrap_or(0))
}

/// A job Slurm has requeued since the run started is the run's end: the job goes on (or
/// waits to), running its script anew — a new run.
fn requeued_since(state: (JobState, Option<u32>), at_start: u32) -> JobState {
    match state {
        (JobState::Active(_), Some(now)) if now > at_start => {
            JobState::Ended(format!("requeued since (restart {now})"))
        }
        (state, _) => state,
    }
}

/// The job's state and, where Slurm says it, its restart count.
fn slurm_state(job: &str) -> (JobState, Option<u32>) {
    // (a squeue that has no RestartCnt field says so on stderr and prints the state alone)
    let asked = bounded(
        "squeue",
        &["-h", "-t", "all", "-j", job, "-O", "State:30,RestartCnt:12"],
    );
    match asked {
        Ok((Some(0), out, _)) => {
            // an array job's line per task: the task asked for is the only one
            match out.lines().map(str::trim).find(|l| !l.is_empty()) {
                Some(line) => {
                    let mut words = line.split_whitespace();
                    let state = classify(words.next().unwrap_or(line));
                    (state, words.next().and_then(|n| n.parse().ok()))
                }
                // not shown (another user's job under PrivateData, an array task not
                // yet split out): scontrol says whether Slurm knows it
                None => scontrol_state(job).unwrap_or_else(|| {
                    (JobState::Unknown("squeue shows no such job".into()), None)
                }),
            }
        }
        Ok((_, _, err)) if err.contains("Invalid job id") => (
            JobState::Ended("not known to slurm (ended long ago)".to_owned()),
            None,
        ),
        // squeue answered but could not tell (no controller): nor would scontrol
        Ok((_, _, err)) => (
            JobState::Unknown(format!("squeue: {}", first_line(&err))),
            None,
        ),
        Err(Missing(_)) => scontrol_state(job).unwrap_or_else(|| {
            (
                JobState::Unknown("neither squeue nor scontrol answers here".into()),
                None,
            )
        }),
        Err(Failed(e)) => (JobState::Unknown(e), None),
    }
}

fn scontrol_state(job: &str) -> Option<(JobState, Option<u32>)> {
    let (code, out, err) = bounded("scontrol", &["show", "job", "-o", job]).ok()?;
    if code != Some(0) {
        // Slurm's words for a job it does not know (an unknown task of an array: `Job A_7
        // not found`), nothing looser: a config or DNS error is no answer
        let unknown =
            err.contains("Invalid job id") || err.contains(&format!("Job {job} not found"));
        return unknown.then(|| {
            (
                JobState::Ended("not known to slurm (ended long ago)".to_owned()),
                None,
            )
        });
    }
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let state = field("JobState")?;
    Some((
        classify(state),
        field("Restarts").and_then(|n| n.parse().ok()),
    ))
}

fn classify(state: &str) -> JobState {
    let state = state.trim().to_ascii_uppercase();
    if ACTIVE_STATES.contains(&state.as_str()) {
        JobState::Active(state)
    } else {
        JobState::Ended(state)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no answer")
        .to_owned()
}

/// Ask the scheduler to stop the run's job: Slurm sends its processes (the supervisor
/// among them) SIGTERM, then SIGKILL after its KillWait. `Ok` names what was asked.
pub fn cancel(s: &Scheduler) -> Result<String, String> {
    let Some(job) = s.slurm_job() else {
        return Err(format!("{} cannot be cancelled from here", s.describe()));
    };
    match bounded("scancel", &[&job]).map_err(NoAnswer::text)? {
        // exit 0 is done, whatever it adds ("already completing")
        (Some(0), _, _) => Ok(format!("scancel {job}")),
        (_, _, err) => Err(format!("scancel {job}: {}", first_line(&err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn slurm_jobs_and_array_tasks_from_the_environment() {
        let s = Scheduler::from_vars(vars(&[
            ("SLURM_JOB_ID", "42"),
            ("SLURMD_NODENAME", "node1"),
            ("SLURM_CLUSTER_NAME", "c"),
        ]))
        .unwrap();
        assert_eq!(s.kind, "slurm");
        assert_eq!(s.slurm_job().as_deref(), Some("42"));
        assert_eq!(s.describe(), "slurm job 42 on node1");
        let a = Scheduler::from_vars(vars(&[
            ("SLURM_JOB_ID", "45"),
            ("SLURM_ARRAY_JOB_ID", "43"),
            ("SLURM_ARRAY_TASK_ID", "2"),
        ]))
        .unwrap();
        assert_eq!(a.slurm_job().as_deref(), Some("43_2"));
        assert!(Scheduler::from_vars(vars(&[])).is_none());
        assert_eq!(s.restarts, None);
        let again = Scheduler::from_vars(vars(&[
            ("SLURM_JOB_ID", "42"),
            ("SLURM_RESTART_COUNT", "2"),
        ]))
        .unwrap();
        assert_eq!(again.restarts, Some(2));
        assert_eq!(again.describe(), "slurm job 42 (restart 2)");
        // ids that are no numbers never reach a command line
        let bad = Scheduler::from_vars(vars(&[("SLURM_JOB_ID", "1;rm -rf /")])).unwrap();
        assert_eq!(bad.slurm_job(), None);
        let k = Scheduler::from_vars(vars(&[
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ("HOSTNAME", "job-abc"),
            ("POD_NAMESPACE", "ci"),
        ]))
        .unwrap();
        assert_eq!(k.describe(), "kubernetes pod ci/job-abc");
        assert_eq!(k.slurm_job(), None);
    }

    #[test]
    fn slurm_states_are_active_or_ended() {
        assert_eq!(classify("RUNNING"), JobState::Active("RUNNING".into()));
        assert_eq!(classify("pending"), JobState::Active("PENDING".into()));
        assert_eq!(classify("COMPLETED"), JobState::Ended("COMPLETED".into()));
        assert_eq!(classify("CANCELLED"), JobState::Ended("CANCELLED".into()));
        assert_eq!(classify("NODE_FAIL"), JobState::Ended("NODE_FAIL".into()));
    }

    #[test]
    fn a_job_requeued_since_the_run_started_is_the_runs_end() {
        let running = || JobState::Active("RUNNING".into());
        assert_eq!(requeued_since((running(), Some(0)), 0), running());
        assert_eq!(requeued_since((running(), Some(2)), 2), running());
        assert_eq!(requeued_since((running(), None), 0), running());
        assert!(matches!(
            requeued_since((running(), Some(1)), 0),
            JobState::Ended(e) if e.contains("requeued")
        ));
        // an ended job stays ended, whatever its count
        let done = JobState::Ended("COMPLETED".into());
        assert_eq!(requeued_since((done.clone(), Some(3)), 0), done);
    }
}
