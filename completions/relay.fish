# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_relay_global_optspecs
    string join \n db= config= q/quiet v/verbose h/help V/version
end

function __fish_relay_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_relay_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_relay_using_subcommand
    set -l cmd (__fish_relay_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c relay -n "__fish_relay_needs_command" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_needs_command" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_needs_command" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_needs_command" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_needs_command" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_needs_command" -f -a "serve" -d 'Run the MCP server for one agent (what an agent\'s MCP config starts)'
complete -c relay -n "__fish_relay_needs_command" -f -a "worker" -d 'Claim tasks addressed to an agent and run them (a headless worker)'
complete -c relay -n "__fish_relay_needs_command" -f -a "hook" -d 'Claude Code hook handler: print new relay mail and tasks as context'
complete -c relay -n "__fish_relay_needs_command" -f -a "generate-hooks" -d 'Print (or merge into a settings file) the Claude Code hooks that run `relay hook`'
complete -c relay -n "__fish_relay_needs_command" -f -a "tail" -d 'Follow relay events live: messages, channel posts, tasks, agents'
complete -c relay -n "__fish_relay_needs_command" -f -a "init" -d 'Set relay up: write the config file, create the store, print MCP configs to paste into Claude Code, Codex and Cursor'
complete -c relay -n "__fish_relay_needs_command" -f -a "test" -d 'Self-check on a throwaway store: real relay processes, end to end'
complete -c relay -n "__fish_relay_needs_command" -f -a "doctor" -d 'Check that relay can work here: PASS/WARN/FAIL per check'
complete -c relay -n "__fish_relay_needs_command" -f -a "backup" -d 'Write a consistent backup of the store (tar.gz), safe while agents run'
complete -c relay -n "__fish_relay_needs_command" -f -a "restore" -d 'Replace the store with a backup (stop every relay process first)'
complete -c relay -n "__fish_relay_needs_command" -f -a "agents" -d 'List the agents of the store: presence, auth state, role, capabilities'
complete -c relay -n "__fish_relay_needs_command" -f -a "token" -d 'Issue, rotate or revoke agent tokens, with no model in the loop'
complete -c relay -n "__fish_relay_needs_command" -f -a "pair" -d 'Join this machine to a hub: register an agent there, keep its token'
complete -c relay -n "__fish_relay_needs_command" -f -a "recover" -d 'Clear an agent\'s lost token so its name can be registered again'
complete -c relay -n "__fish_relay_needs_command" -f -a "re-encrypt" -d 'Move encrypted values to another key of the keyring (rotation)'
complete -c relay -n "__fish_relay_needs_command" -f -a "guard" -d 'Refuse git commits that touch files another agent reserved exclusively'
complete -c relay -n "__fish_relay_needs_command" -f -a "completions" -d 'Print shell completions, generated from these definitions'
complete -c relay -n "__fish_relay_needs_command" -f -a "man" -d 'Print the man page (roff), generated from these definitions'
complete -c relay -n "__fish_relay_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c relay -n "__fish_relay_using_subcommand serve" -l transport -d 'The transport to speak' -r -f -a "stdio\t'MCP over stdin/stdout, newline-delimited JSON-RPC'
http\t'The HTTP hub: MCP Streamable HTTP at /mcp, many agents, each by its X-Agent-Token; the live dashboard at / (counts only until the operator enters the hub secret)'
both\t'Both in one process: the --agent on stdio, and the hub'"
complete -c relay -n "__fish_relay_using_subcommand serve" -l host -d 'The address the hub binds (http, both). A non-loopback address needs a hub secret. [default: 127.0.0.1, or [http] host]' -r
complete -c relay -n "__fish_relay_using_subcommand serve" -l port -d 'The hub\'s port (http, both); 0 lets the OS choose. The bound URL is logged on stderr as `listening on http://HOST:PORT/mcp`, then `dashboard at http://HOST:PORT/`. [default: 3777, or [http] port]' -r
complete -c relay -n "__fish_relay_using_subcommand serve" -l agent -d 'Bind this session to agent NAME, registering it if new' -r
complete -c relay -n "__fish_relay_using_subcommand serve" -l role -d 'The agent\'s role (e.g. reviewer, builder); used with --agent' -r
complete -c relay -n "__fish_relay_using_subcommand serve" -l spawn-mode -d 'How the spawn_agent tool opens terminals: auto (a terminal emulator on a desktop, else tmux), tmux, terminal, or dry-run (only return the command)' -r -f -a "auto\t'A terminal emulator on a desktop, else tmux'
tmux\t'A detached tmux session named `relay-NAME`'
terminal\t'A terminal emulator (x-terminal-emulator, gnome-terminal, konsole, xterm; Terminal on macOS)'
dry-run\t'Start nothing; return the command'"
complete -c relay -n "__fish_relay_using_subcommand serve" -l capabilities -d 'Comma-separated capabilities granted to --agent: tasks, broadcast, channels, webhooks, spawn, admin' -r
complete -c relay -n "__fish_relay_using_subcommand serve" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand serve" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand serve" -l channel -d 'Push Claude Code channel notifications (`notifications/claude/channel`) when mail, tasks or channel posts arrive: a fixed envelope with ids only, never the message text. Start Claude Code with `--channels` to receive them'
complete -c relay -n "__fish_relay_using_subcommand serve" -l notify -d 'Show a desktop notification (notify-send, osascript, PowerShell) when mail, tasks or channel posts arrive: at most one per 10 s, sender and kind only. A missing notifier is a warning, not an error'
complete -c relay -n "__fish_relay_using_subcommand serve" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand serve" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand serve" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand worker" -l agent -d 'The agent whose tasks to claim (registered with the tasks capability if new)' -r
complete -c relay -n "__fish_relay_using_subcommand worker" -l executor -d 'How to run tasks [default: shell when a command follows `--`]' -r -f -a "shell\t'The command after `--` (no shell unless you run one)'
codex\t'`codex exec … -- PROMPT` (read-only sandbox; workspace-write for write tasks)'
claude\t'`claude -p … -- PROMPT` (plan mode; acceptEdits for write tasks)'"
complete -c relay -n "__fish_relay_using_subcommand worker" -l concurrency -d 'Tasks to run at the same time (1-64)' -r
complete -c relay -n "__fish_relay_using_subcommand worker" -l lease-seconds -d 'Lease per claim in seconds; the worker heartbeats every quarter of it' -r
complete -c relay -n "__fish_relay_using_subcommand worker" -l timeout-seconds -d 'Kill a task\'s process after this many seconds and fail the task' -r
complete -c relay -n "__fish_relay_using_subcommand worker" -l cwd -d 'Working directory for the executor [default: the current directory]' -r -F
complete -c relay -n "__fish_relay_using_subcommand worker" -l hub -d 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]' -r
complete -c relay -n "__fish_relay_using_subcommand worker" -l token-file -d 'File holding the agent\'s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]' -r -F
complete -c relay -n "__fish_relay_using_subcommand worker" -l secret-file -d 'File holding the hub secret [default: env RELAY_HTTP_SECRET]' -r -F
complete -c relay -n "__fish_relay_using_subcommand worker" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand worker" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand worker" -l allow-writes -d 'Run write tasks too (without it they fail and the executor never starts)'
complete -c relay -n "__fish_relay_using_subcommand worker" -l once -d 'Drain the tasks there are now, then exit'
complete -c relay -n "__fish_relay_using_subcommand worker" -l json -d 'Print one JSON object per finished task instead of a line of text'
complete -c relay -n "__fish_relay_using_subcommand worker" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand worker" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand worker" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand worker" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand hook" -l agent -d 'The agent whose mail to report' -r
complete -c relay -n "__fish_relay_using_subcommand hook" -l hub -d 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]' -r
complete -c relay -n "__fish_relay_using_subcommand hook" -l token-file -d 'File holding the agent\'s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]' -r -F
complete -c relay -n "__fish_relay_using_subcommand hook" -l secret-file -d 'File holding the hub secret [default: env RELAY_HTTP_SECRET]' -r -F
complete -c relay -n "__fish_relay_using_subcommand hook" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand hook" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand hook" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand hook" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand hook" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand hook" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -l agent -d 'The agent the hooks report for (baked into the hook commands)' -r
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -l write -d 'Merge the hooks into this Claude Code settings file (created if missing), keeping every other setting; running it again changes nothing' -r -F
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand generate-hooks" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand tail" -l agent -d 'Only events to or from this agent' -r
complete -c relay -n "__fish_relay_using_subcommand tail" -l last -d 'Start with the last N events already stored' -r
complete -c relay -n "__fish_relay_using_subcommand tail" -l hub -d 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]' -r
complete -c relay -n "__fish_relay_using_subcommand tail" -l token-file -d 'File holding the agent\'s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]' -r -F
complete -c relay -n "__fish_relay_using_subcommand tail" -l secret-file -d 'File holding the hub secret [default: env RELAY_HTTP_SECRET]' -r -F
complete -c relay -n "__fish_relay_using_subcommand tail" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand tail" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand tail" -l json -d 'Print one JSON object per event instead of a line of text'
complete -c relay -n "__fish_relay_using_subcommand tail" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand tail" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand tail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand tail" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand init" -l agent -d 'The agent name for this terminal [default: the current directory\'s name]' -r
complete -c relay -n "__fish_relay_using_subcommand init" -l transport -d 'The transport the agents\' MCP configs use: stdio (each MCP client starts its own relay serve), http (they all talk to one hub) or both (this terminal\'s relay serve also runs the hub)' -r -f -a "stdio\t'MCP over stdin/stdout, newline-delimited JSON-RPC'
http\t'The HTTP hub: MCP Streamable HTTP at /mcp, many agents, each by its X-Agent-Token; the live dashboard at / (counts only until the operator enters the hub secret)'
both\t'Both in one process: the --agent on stdio, and the hub'"
complete -c relay -n "__fish_relay_using_subcommand init" -l hub-url -d 'The hub\'s MCP endpoint that the HTTP client configs name (with --transport http or both)' -r
complete -c relay -n "__fish_relay_using_subcommand init" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand init" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand init" -s y -l yes -d 'Take the defaults; ask nothing'
complete -c relay -n "__fish_relay_using_subcommand init" -l force -d 'Overwrite an existing config file'
complete -c relay -n "__fish_relay_using_subcommand init" -l install-hooks -d 'Merge the Claude Code hooks into ./.claude/settings.json'
complete -c relay -n "__fish_relay_using_subcommand init" -l encrypt -d 'Encrypt message, channel and task text at rest: writes a new keyring (keyring.json, 0600, beside the config file; an existing one is kept) and points the config at it. Back the keyring up separately: `relay backup` does not include it'
complete -c relay -n "__fish_relay_using_subcommand init" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand init" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand init" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand test" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand test" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand test" -l json -d 'Print the steps as JSON'
complete -c relay -n "__fish_relay_using_subcommand test" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand test" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand test" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand doctor" -l remote -d 'Check the HTTP hub at URL instead of the local store: reachable (GET /health), relay version and protocol revisions, whether /mcp demands the hub secret (and accepts yours), and, given a token, which agent it names. URL is the hub\'s MCP endpoint (http://HOST:PORT/mcp) or its base. Waits at most 3 s to connect and 5 s per request' -r
complete -c relay -n "__fish_relay_using_subcommand doctor" -l secret-file -d 'With --remote: a file holding the hub secret to check (whitespace around it is ignored) [default: the RELAY_HTTP_SECRET variable]. There is no flag for the secret itself: other users can read a command line' -r -F
complete -c relay -n "__fish_relay_using_subcommand doctor" -l token-file -d 'With --remote: a file holding an agent token (register_agent\'s reply) to check [default: the RELAY_AGENT_TOKEN variable]' -r -F
complete -c relay -n "__fish_relay_using_subcommand doctor" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand doctor" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand doctor" -l json -d 'Print the checks as JSON'
complete -c relay -n "__fish_relay_using_subcommand doctor" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand doctor" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand backup" -s o -l output -d 'Where to write: a file, or a directory (ending in `/` or existing)' -r -F
complete -c relay -n "__fish_relay_using_subcommand backup" -l keep -d 'Keep only the newest N backups in the output directory' -r
complete -c relay -n "__fish_relay_using_subcommand backup" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand backup" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand backup" -l json -d 'Print the result (path, manifest, pruned files) as JSON'
complete -c relay -n "__fish_relay_using_subcommand backup" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand backup" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand backup" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand restore" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand restore" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand restore" -s y -l yes -d 'Do not ask for confirmation (needed when not on a terminal)'
complete -c relay -n "__fish_relay_using_subcommand restore" -l force -d 'Restore a backup with an older schema (migrated when next opened)'
complete -c relay -n "__fish_relay_using_subcommand restore" -l json -d 'Print the result as JSON'
complete -c relay -n "__fish_relay_using_subcommand restore" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand restore" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand restore" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand agents" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand agents" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand agents" -l json -d 'Print a JSON array instead of a table'
complete -c relay -n "__fish_relay_using_subcommand agents" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand agents" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand agents" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand agents" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -f -a "issue" -d 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -f -a "rotate" -d 'Replace an agent\'s token; the old one stays valid for --grace-seconds'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -f -a "revoke" -d 'Revoke an agent\'s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery'
complete -c relay -n "__fish_relay_using_subcommand token; and not __fish_seen_subcommand_from issue rotate revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -l role -d 'Role for a new agent; replaces an existing agent\'s when given' -r
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -l capabilities -d 'Capabilities, comma-separated (tasks, broadcast, channels, webhooks, spawn, admin, or routing labels): a new agent\'s, or replacing an existing agent\'s when given' -r
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -l out -d 'Write the token to FILE (created 0600, replaced atomically) instead of stdout' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -l json -d 'Print the result as JSON (the token included unless --out)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -s h -l help -d 'Print help'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from issue" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -l grace-seconds -d 'Seconds the old token keeps working (0-3600)' -r
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -l out -d 'Write the token to FILE (created 0600, replaced atomically) instead of stdout' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -l json -d 'Print the result as JSON (the token included unless --out)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from rotate" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l out -d 'Write the token to FILE (created 0600, replaced atomically) instead of stdout' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l no-recovery -d 'Issue no recovery token: the agent stays revoked until `relay recover`'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l json -d 'Print the result as JSON (the token included unless --out)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "issue" -d 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Replace an agent\'s token; the old one stays valid for --grace-seconds'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke an agent\'s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery'
complete -c relay -n "__fish_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c relay -n "__fish_relay_using_subcommand pair" -l name -d 'The agent name to register at the hub for this machine' -r
complete -c relay -n "__fish_relay_using_subcommand pair" -l role -d 'Its role' -r
complete -c relay -n "__fish_relay_using_subcommand pair" -l capabilities -d 'Its capabilities, comma-separated (a hub grants an anonymous registration only tasks, broadcast, channels) [default: tasks, so `relay worker` can run its tasks]' -r
complete -c relay -n "__fish_relay_using_subcommand pair" -l description -d 'One line on what the agent does' -r
complete -c relay -n "__fish_relay_using_subcommand pair" -l secret-file -d 'File holding the hub secret [default: env RELAY_HTTP_SECRET]' -r -F
complete -c relay -n "__fish_relay_using_subcommand pair" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand pair" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand pair" -l json -d 'Print the result as JSON'
complete -c relay -n "__fish_relay_using_subcommand pair" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand pair" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand pair" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand pair" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand recover" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand recover" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand recover" -s y -l yes -d 'Do not ask for confirmation (needed when not on a terminal)'
complete -c relay -n "__fish_relay_using_subcommand recover" -l dry-run -d 'Show what would change; change nothing'
complete -c relay -n "__fish_relay_using_subcommand recover" -l json -d 'Print the result as JSON'
complete -c relay -n "__fish_relay_using_subcommand recover" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand recover" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand recover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand recover" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l to -d 'Seal every value with key KID (in the keyring; normally its `current`)' -r
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l from -d 'Move only values sealed with key KID (default: plain values and every key but --to)' -r
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l batch-size -d 'Rows read per batch; each batch\'s writes are one short transaction' -r
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l max-batches -d 'Stop after N batches (run the same command again to go on)' -r
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l verify-clean -d 'Exit 0 only when no stored value is sealed with key KID (check before removing KID from the keyring)' -r
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l dry-run -d 'Count what would move; change nothing'
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -l json -d 'Print the report as JSON'
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand re-encrypt" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -f -a "install" -d 'Write the git pre-commit hook that runs `relay guard check`'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -f -a "check" -d 'Check staged paths (or PATHS) against the reservations: what the hook runs'
complete -c relay -n "__fish_relay_using_subcommand guard; and not __fish_seen_subcommand_from install check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -l repo -d 'The repository (any directory inside it) [default: the current directory]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -l agent -d 'The agent that commits in this repository, baked into the hook; RELAY_AGENT at commit time overrides it' -r
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -l force -d 'Replace a pre-commit hook that is not relay\'s (it is kept as pre-commit.relay-backup)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -l chain -d 'Keep a pre-commit hook that is not relay\'s and run it first (it is moved to pre-commit.relay-chained)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from install" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -l repo -d 'The repository (any directory inside it) [default: the current directory]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -l agent -d 'The committing agent: its own reservations never block it' -r
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -l json -d 'Print a JSON report on stdout (ok, bypassed, repository, projects, agent, checked, blocked)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from help" -f -a "install" -d 'Write the git pre-commit hook that runs `relay guard check`'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check staged paths (or PATHS) against the reservations: what the hook runs'
complete -c relay -n "__fish_relay_using_subcommand guard; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c relay -n "__fish_relay_using_subcommand completions" -l out-dir -d 'Write completions for every shell into DIR (relay.bash, _relay, relay.fish, _relay.ps1, relay.elv) instead of printing one' -r -F
complete -c relay -n "__fish_relay_using_subcommand completions" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand completions" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand completions" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand completions" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand completions" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand man" -l out-dir -d 'Write relay.1 and one page per subcommand into DIR instead of printing relay.1' -r -F
complete -c relay -n "__fish_relay_using_subcommand man" -l db -d 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand man" -l config -d 'The config file [default: ~/.config/relay/config.toml on Linux]' -r -F
complete -c relay -n "__fish_relay_using_subcommand man" -s q -l quiet -d 'Only log errors (to stderr)'
complete -c relay -n "__fish_relay_using_subcommand man" -s v -l verbose -d 'Log more to stderr; repeat for more detail (-vv)'
complete -c relay -n "__fish_relay_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c relay -n "__fish_relay_using_subcommand man" -s V -l version -d 'Print version'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "serve" -d 'Run the MCP server for one agent (what an agent\'s MCP config starts)'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "worker" -d 'Claim tasks addressed to an agent and run them (a headless worker)'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "hook" -d 'Claude Code hook handler: print new relay mail and tasks as context'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "generate-hooks" -d 'Print (or merge into a settings file) the Claude Code hooks that run `relay hook`'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "tail" -d 'Follow relay events live: messages, channel posts, tasks, agents'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "init" -d 'Set relay up: write the config file, create the store, print MCP configs to paste into Claude Code, Codex and Cursor'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "test" -d 'Self-check on a throwaway store: real relay processes, end to end'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "doctor" -d 'Check that relay can work here: PASS/WARN/FAIL per check'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "backup" -d 'Write a consistent backup of the store (tar.gz), safe while agents run'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "restore" -d 'Replace the store with a backup (stop every relay process first)'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "agents" -d 'List the agents of the store: presence, auth state, role, capabilities'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "token" -d 'Issue, rotate or revoke agent tokens, with no model in the loop'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "pair" -d 'Join this machine to a hub: register an agent there, keep its token'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "recover" -d 'Clear an agent\'s lost token so its name can be registered again'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "re-encrypt" -d 'Move encrypted values to another key of the keyring (rotation)'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "guard" -d 'Refuse git commits that touch files another agent reserved exclusively'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "completions" -d 'Print shell completions, generated from these definitions'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "man" -d 'Print the man page (roff), generated from these definitions'
complete -c relay -n "__fish_relay_using_subcommand help; and not __fish_seen_subcommand_from serve worker hook generate-hooks tail init test doctor backup restore agents token pair recover re-encrypt guard completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c relay -n "__fish_relay_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "issue" -d 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once'
complete -c relay -n "__fish_relay_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "rotate" -d 'Replace an agent\'s token; the old one stays valid for --grace-seconds'
complete -c relay -n "__fish_relay_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke an agent\'s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery'
complete -c relay -n "__fish_relay_using_subcommand help; and __fish_seen_subcommand_from guard" -f -a "install" -d 'Write the git pre-commit hook that runs `relay guard check`'
complete -c relay -n "__fish_relay_using_subcommand help; and __fish_seen_subcommand_from guard" -f -a "check" -d 'Check staged paths (or PATHS) against the reservations: what the hook runs'
