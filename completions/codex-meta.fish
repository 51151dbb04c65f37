# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_codex_meta_global_optspecs
    string join \n runs-dir= h/help V/version
end

function __fish_codex_meta_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_codex_meta_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_codex_meta_using_subcommand
    set -l cmd (__fish_codex_meta_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c codex-meta -n "__fish_codex_meta_needs_command" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_needs_command" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "write" -d 'Create or replace a meta atomically from key=value pairs (and/or JSON on stdin)'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "set" -d 'Change fields of a meta atomically; unknown keys are stored, other fields kept'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "get" -d 'Print one field: strings raw, anything else as one-line JSON'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "show" -d 'Print the whole meta as pretty JSON, with the effective status'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "status" -d 'Print one line per run: <run_id> <status> exit=<code|-> session=<uuid|->'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "wait" -d 'Block until every run has ended; exit with the run\'s exit code'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "list" -d 'List the runs in the runs dir, newest first'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "cancel" -d 'Stop runs through their supervisors (queued ones never start)'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "prune" -d 'Remove ended runs\' files, their worktrees and their merged branches'
complete -c codex-meta -n "__fish_codex_meta_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand write" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand write" -l stdin -d 'Start from the JSON object read on stdin (key=value pairs are applied on top)'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand write" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand write" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand set" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand set" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand set" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand get" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand get" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand get" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand show" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand show" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand show" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand status" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand status" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand status" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand wait" -l timeout -d 'Give up after this long (200ms, 30s, 5m, 1h) and exit 124' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand wait" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand wait" -s q -l quiet -d 'Print nothing; only the exit status tells'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand wait" -l any -d 'Return when the first of the runs ends, printing its line (its exit status is the exit status)'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand wait" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand wait" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand list" -l limit -d 'Show at most N runs' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand list" -l status -d 'Only runs with this effective status' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand list" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand list" -l json -d 'One JSON object (the meta, effective status) per line instead of a table'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand list" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand list" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand cancel" -l signal -d 'The signal for the supervisor to forward: TERM (default), INT or HUP' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand cancel" -l timeout -d 'With --wait: give up after this long and exit 124' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand cancel" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand cancel" -l wait -d 'Then wait until the runs have ended, printing their status lines'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand cancel" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -l older-than -d 'Only runs that ended longer ago than this (30m, 12h, 7d)' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -l status -d 'Only runs with this effective status (repeat it, or comma-separate: failed,killed)' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -l keep -d 'Keep the newest N of the runs that match' -r
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -l runs-dir -d 'Directory holding the runs (default: ./runs)' -r -F
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -l dry-run -d 'Print what would be removed, and remove nothing'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -l force -d 'Also remove worktrees with uncommitted work and branches not merged into their base'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -s h -l help -d 'Print help'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand prune" -s V -l version -d 'Print version'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "write" -d 'Create or replace a meta atomically from key=value pairs (and/or JSON on stdin)'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "set" -d 'Change fields of a meta atomically; unknown keys are stored, other fields kept'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "get" -d 'Print one field: strings raw, anything else as one-line JSON'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "show" -d 'Print the whole meta as pretty JSON, with the effective status'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "status" -d 'Print one line per run: <run_id> <status> exit=<code|-> session=<uuid|->'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "wait" -d 'Block until every run has ended; exit with the run\'s exit code'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "list" -d 'List the runs in the runs dir, newest first'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "cancel" -d 'Stop runs through their supervisors (queued ones never start)'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "prune" -d 'Remove ended runs\' files, their worktrees and their merged branches'
complete -c codex-meta -n "__fish_codex_meta_using_subcommand help; and not __fish_seen_subcommand_from write set get show status wait list cancel prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
