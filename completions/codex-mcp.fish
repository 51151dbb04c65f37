complete -c codex-mcp -l runs-dir -d 'Where runs live [default: $CODEX_RUNS_DIR, else ./runs]' -r -F
complete -c codex-mcp -l codex-spawn -d 'The codex-spawn that starts runs [default: the one beside codex-mcp, else PATH\'s]' -r -F
complete -c codex-mcp -l progress-interval -d 'How often a blocking call (wait) sends a progress notification' -r
complete -c codex-mcp -s h -l help -d 'Print help'
complete -c codex-mcp -s V -l version -d 'Print version'
