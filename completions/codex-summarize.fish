complete -c codex-summarize -l log -d 'Summarize this log (the original interface); with --meta for the run\'s record' -r -F
complete -c codex-summarize -l meta -d 'The run\'s meta file (with --log)' -r -F
complete -c codex-summarize -l runs-dir -d 'The runs dir (default: $CODEX_RUNS_DIR, else ./runs)' -r -F
complete -c codex-summarize -l codex-home -d 'The Codex home (default: $CODEX_HOME, else ~/.codex). Alone, it reports every session under sessions/ and archived_sessions/' -r -F
complete -c codex-summarize -l since -d 'Report: only usage at or after this day (YYYY-MM-DD, in --timezone) or instant (RFC 3339)' -r
complete -c codex-summarize -l until -d 'Report: only usage at or before this day (YYYY-MM-DD, in --timezone) or instant (RFC 3339)' -r
complete -c codex-summarize -l by -d 'One row per session, day, ISO week, month, model or repo (the session\'s working directory; a run\'s repo: a project\'s whole cost) — or per combination, comma-separated (`--by month,model`). The Codex-home report\'s default is session; runs (RUN…, --all) are grouped only when asked, each run a row otherwise' -r -f -a "session\t'The session (its id)'
day\t'The day (`YYYY-MM-DD`) in the report\'s zone'
week\t'The ISO week (`2026-W48`, weeks from Monday) in the report\'s zone'
month\t'The month (`YYYY-MM`) in the report\'s zone'
model\t'The model'
repo\t'The project: the session\'s working directory (`cwd`), a run\'s repo'"
complete -c codex-summarize -l timezone -d 'The zone of days, weeks, months and YYYY-MM-DD bounds: UTC, local (the default), an offset (+02:00) or an IANA name (Europe/Berlin). The report says it' -r
complete -c codex-summarize -l format -d 'Output format' -r -f -a "json\t'Pretty JSON'
compact\t'One short line per run (for agents)'
table\t'An aligned table (for people)'
html\t'One self-contained HTML page (the --codex-home report: totals, cost per day, per model and per project)'"
complete -c codex-summarize -l json-out -d 'Also write the JSON to FILE (atomically)' -r -F
complete -c codex-summarize -l pricing -d 'Prices from LiteLLM\'s model_prices_and_context_window.json instead of the built-in table' -r -F
complete -c codex-summarize -l all -d 'Summarize every run in the runs dir'
complete -c codex-summarize -l debug-rss -d 'Testing aid: at exit, write the peak resident set size (Linux VmHWM) to stderr'
complete -c codex-summarize -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-summarize -s V -l version -d 'Print version'
