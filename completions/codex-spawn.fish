complete -c codex-spawn -l repo -d 'The repository codex works in (required; passed as `--cd`, made absolute)' -r -F
complete -c codex-spawn -l task -d 'The prompt; `-` reads it from stdin (then it reaches codex on its stdin, not argv)' -r
complete -c codex-spawn -l task-file -d 'Read the prompt from FILE and give it to codex on its stdin (never in argv)' -r -F
complete -c codex-spawn -l resume -d 'Resume a Codex session: its id, `last` (the most recent one), or a run (run id or launch file) whose session it continues; the task is optional' -r
complete -c codex-spawn -l codex-bin -d 'The codex program (a name looked up in PATH, or a path)' -r
complete -c codex-spawn -l runs-dir -l log-dir -d 'Where the run\'s files go [default: $CODEX_RUNS_DIR, else ./runs]' -r -F
complete -c codex-spawn -l json-out -d 'Also write the summary JSON to FILE (atomically)' -r -F
complete -c codex-spawn -l notify-cmd -d 'Run `sh -c CMD` with each event\'s JSON on stdin (bounded wait; never changes the outcome)' -r
complete -c codex-spawn -l notify-timeout -d 'How long a notify command may run before it is killed [default: 10s]' -r
complete -c codex-spawn -l event-stream -d 'Append one JSON line per event (run_started, run_completed; attempt_* with --verify) to FILE' -r -F
complete -c codex-spawn -l detach -d 'Print the four lines and return at once (`--detach=session`: once codex\'s session id is known, printed as a fifth line); the run goes on in its own session' -r -f -a "now\t''
session\t''"
complete -c codex-spawn -l detach-timeout -d 'With --detach=session: how long to wait for the session id [default: 60s]' -r
complete -c codex-spawn -l max-running -d 'Wait as `queued` while N runs of the queue are running (a slot frees when a run ends or its supervisor dies)' -r
complete -c codex-spawn -l queue -d 'The queue --max-running counts in [default: one per runs dir]' -r
complete -c codex-spawn -l after -d 'Start only after RUN ended, and only if it succeeded (else: dependency_failed, exit 5); repeatable' -r
complete -c codex-spawn -l max-tokens -d 'Stop codex once the run (all attempts) used more than N tokens: over_budget, exit 4' -r
complete -c codex-spawn -l max-cost -d 'Stop codex once the run (all attempts) cost more than USD: over_budget, exit 4' -r
complete -c codex-spawn -l base -d 'With --worktree: the commit the branch starts from [default: HEAD]' -r
complete -c codex-spawn -l branch -d 'With --worktree: the new branch\'s name [default: codex/<run id>]' -r
complete -c codex-spawn -l timeout -d 'Stop the run after DUR (90s, 30m, 1h; all attempts and checks): SIGTERM to the group, SIGKILL after --kill-grace; exit 124' -r
complete -c codex-spawn -l stall-timeout -d 'Stop codex when it prints nothing for DUR (like --timeout); status stalled, exit 124, no further attempt' -r
complete -c codex-spawn -l verify -d 'After codex succeeds, run `sh -c CMD` in the repo; while it fails, resume the session with its output' -r
complete -c codex-spawn -l max-attempts -d 'With --verify: codex invocations at most (1: check once, never resume) [default: 3]' -r
complete -c codex-spawn -l verify-timeout -d 'With --verify: how long one run of the check may take [default: 10m]' -r
complete -c codex-spawn -l kill-grace -d 'Delay between SIGTERM and SIGKILL when stopping codex [default: 5s]' -r
complete -c codex-spawn -l verbosity -d 'Log preamble size [default: $CODEX_LOG_VERBOSITY, else normal]' -r -f -a "low\t'Mode, run id, timestamps'
normal\t'Adds repo, files, codex binary and command (the default)'
high\t'Adds user, host, pid, cwd, versions, the supervisor\'s peak memory'
extreme\t'Adds the names (never the values) of environment variables codex reads'"
complete -c codex-spawn -l worktree -d 'Run in a git worktree of the repo of its own, on a new branch (codex/<run id>); at the end what codex left uncommitted is committed there and the worktree removed (the branch kept)'
complete -c codex-spawn -l keep-worktree -d 'With --worktree: leave the worktree\'s directory at the end (the branch is kept anyway)'
complete -c codex-spawn -l json -d 'Print the run lines and the closing lines as one JSON object line each (no echo)'
complete -c codex-spawn -s q -l quiet -d 'Don\'t echo codex\'s output to stdout (the log still has it)'
complete -c codex-spawn -s v -l verbose -d 'More log preamble: -v normal, -vv high, -vvv extreme'
complete -c codex-spawn -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-spawn -s V -l version -d 'Print version'
