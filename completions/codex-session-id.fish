complete -c codex-session-id -l timeout -d 'With --follow: give up after DUR (e.g. 500ms, 30s, 5m, 1h; a bare number is seconds)' -r
complete -c codex-session-id -l last -d 'Read everything and print the last session id'
complete -c codex-session-id -l all -d 'Print each distinct session id, in order of first appearance'
complete -c codex-session-id -l follow -d 'Keep reading a growing file until an id appears, the codex-spawn run writing it ends (a `codex_exit_code=` line; the run\'s lock on its log `codex-run-<id>.log` released and the log read to its end; or the run\'s meta beside it saying it is over), or the timeout passes. A file is followed by name like `tail -F` (it may appear later, be truncated, renamed over, or deleted and created again); a pipe, FIFO or device is read within the timeout too. codex-spawn\'s run lines with no id yet (a launch file, or `codex-spawn --detach | codex-session-id --follow`) lead to their run\'s log, which is followed'
complete -c codex-session-id -s h -l help -d 'Print help'
complete -c codex-session-id -s V -l version -d 'Print version'
