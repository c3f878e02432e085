
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'relay' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'relay'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'relay' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the MCP server for one agent (what an agent''s MCP config starts)')
            [CompletionResult]::new('worker', 'worker', [CompletionResultType]::ParameterValue, 'Claim tasks addressed to an agent and run them (a headless worker)')
            [CompletionResult]::new('hook', 'hook', [CompletionResultType]::ParameterValue, 'Claude Code hook handler: print new relay mail and tasks as context')
            [CompletionResult]::new('generate-hooks', 'generate-hooks', [CompletionResultType]::ParameterValue, 'Print (or merge into a settings file) the Claude Code hooks that run `relay hook`')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Follow relay events live: messages, channel posts, tasks, agents')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Set relay up: write the config file, create the store, print MCP configs to paste into Claude Code, Codex and Cursor')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Self-check on a throwaway store: real relay processes, end to end')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check that relay can work here: PASS/WARN/FAIL per check')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Write a consistent backup of the store (tar.gz), safe while agents run')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Replace the store with a backup (stop every relay process first)')
            [CompletionResult]::new('agents', 'agents', [CompletionResultType]::ParameterValue, 'List the agents of the store: presence, auth state, role, capabilities')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Issue, rotate or revoke agent tokens, with no model in the loop')
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Join this machine to a hub: register an agent there, keep its token')
            [CompletionResult]::new('recover', 'recover', [CompletionResultType]::ParameterValue, 'Clear an agent''s lost token so its name can be registered again')
            [CompletionResult]::new('re-encrypt', 're-encrypt', [CompletionResultType]::ParameterValue, 'Move encrypted values to another key of the keyring (rotation)')
            [CompletionResult]::new('guard', 'guard', [CompletionResultType]::ParameterValue, 'Refuse git commits that touch files another agent reserved exclusively')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions, generated from these definitions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff), generated from these definitions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'relay;serve' {
            [CompletionResult]::new('--transport', '--transport', [CompletionResultType]::ParameterName, 'The transport to speak')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'The address the hub binds (http, both). A non-loopback address needs a hub secret. [default: 127.0.0.1, or [http] host]')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'The hub''s port (http, both); 0 lets the OS choose. The bound URL is logged on stderr as `listening on http://HOST:PORT/mcp`, then `dashboard at http://HOST:PORT/`. [default: 3777, or [http] port]')
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'Bind this session to agent NAME, registering it if new')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'The agent''s role (e.g. reviewer, builder); used with --agent')
            [CompletionResult]::new('--spawn-mode', '--spawn-mode', [CompletionResultType]::ParameterName, 'How the spawn_agent tool opens terminals: auto (a terminal emulator on a desktop, else tmux), tmux, terminal, or dry-run (only return the command)')
            [CompletionResult]::new('--capabilities', '--capabilities', [CompletionResultType]::ParameterName, 'Comma-separated capabilities granted to --agent: tasks, broadcast, channels, webhooks, spawn, admin')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--channel', '--channel', [CompletionResultType]::ParameterName, 'Push Claude Code channel notifications (`notifications/claude/channel`) when mail, tasks or channel posts arrive: a fixed envelope with ids only, never the message text. Start Claude Code with `--channels` to receive them')
            [CompletionResult]::new('--notify', '--notify', [CompletionResultType]::ParameterName, 'Show a desktop notification (notify-send, osascript, PowerShell) when mail, tasks or channel posts arrive: at most one per 10 s, sender and kind only. A missing notifier is a warning, not an error')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;worker' {
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The agent whose tasks to claim (registered with the tasks capability if new)')
            [CompletionResult]::new('--executor', '--executor', [CompletionResultType]::ParameterName, 'How to run tasks [default: shell when a command follows `--`]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Tasks to run at the same time (1-64)')
            [CompletionResult]::new('--lease-seconds', '--lease-seconds', [CompletionResultType]::ParameterName, 'Lease per claim in seconds; the worker heartbeats every quarter of it')
            [CompletionResult]::new('--timeout-seconds', '--timeout-seconds', [CompletionResultType]::ParameterName, 'Kill a task''s process after this many seconds and fail the task')
            [CompletionResult]::new('--cwd', '--cwd', [CompletionResultType]::ParameterName, 'Working directory for the executor [default: the current directory]')
            [CompletionResult]::new('--hub', '--hub', [CompletionResultType]::ParameterName, 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the agent''s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]')
            [CompletionResult]::new('--secret-file', '--secret-file', [CompletionResultType]::ParameterName, 'File holding the hub secret [default: env RELAY_HTTP_SECRET]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--allow-writes', '--allow-writes', [CompletionResultType]::ParameterName, 'Run write tasks too (without it they fail and the executor never starts)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Drain the tasks there are now, then exit')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per finished task instead of a line of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;hook' {
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The agent whose mail to report')
            [CompletionResult]::new('--hub', '--hub', [CompletionResultType]::ParameterName, 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the agent''s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]')
            [CompletionResult]::new('--secret-file', '--secret-file', [CompletionResultType]::ParameterName, 'File holding the hub secret [default: env RELAY_HTTP_SECRET]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;generate-hooks' {
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The agent the hooks report for (baked into the hook commands)')
            [CompletionResult]::new('--write', '--write', [CompletionResultType]::ParameterName, 'Merge the hooks into this Claude Code settings file (created if missing), keeping every other setting; running it again changes nothing')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;tail' {
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'Only events to or from this agent')
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'Start with the last N events already stored')
            [CompletionResult]::new('--hub', '--hub', [CompletionResultType]::ParameterName, 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'File holding the agent''s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]')
            [CompletionResult]::new('--secret-file', '--secret-file', [CompletionResultType]::ParameterName, 'File holding the hub secret [default: env RELAY_HTTP_SECRET]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per event instead of a line of text')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;init' {
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The agent name for this terminal [default: the current directory''s name]')
            [CompletionResult]::new('--transport', '--transport', [CompletionResultType]::ParameterName, 'The transport the agents'' MCP configs use: stdio (each MCP client starts its own relay serve), http (they all talk to one hub) or both (this terminal''s relay serve also runs the hub)')
            [CompletionResult]::new('--hub-url', '--hub-url', [CompletionResultType]::ParameterName, 'The hub''s MCP endpoint that the HTTP client configs name (with --transport http or both)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Take the defaults; ask nothing')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Take the defaults; ask nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing config file')
            [CompletionResult]::new('--install-hooks', '--install-hooks', [CompletionResultType]::ParameterName, 'Merge the Claude Code hooks into ./.claude/settings.json')
            [CompletionResult]::new('--encrypt', '--encrypt', [CompletionResultType]::ParameterName, 'Encrypt message, channel and task text at rest: writes a new keyring (keyring.json, 0600, beside the config file; an existing one is kept) and points the config at it. Back the keyring up separately: `relay backup` does not include it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;test' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the steps as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;doctor' {
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, 'Check the HTTP hub at URL instead of the local store: reachable (GET /health), relay version and protocol revisions, whether /mcp demands the hub secret (and accepts yours), and, given a token, which agent it names. URL is the hub''s MCP endpoint (http://HOST:PORT/mcp) or its base. Waits at most 3 s to connect and 5 s per request')
            [CompletionResult]::new('--secret-file', '--secret-file', [CompletionResultType]::ParameterName, 'With --remote: a file holding the hub secret to check (whitespace around it is ignored) [default: the RELAY_HTTP_SECRET variable]. There is no flag for the secret itself: other users can read a command line')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'With --remote: a file holding an agent token (register_agent''s reply) to check [default: the RELAY_AGENT_TOKEN variable]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the checks as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;backup' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Where to write: a file, or a directory (ending in `/` or existing)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where to write: a file, or a directory (ending in `/` or existing)')
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Keep only the newest N backups in the output directory')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result (path, manifest, pruned files) as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;restore' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed when not on a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed when not on a terminal)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Restore a backup with an older schema (migrated when next opened)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;agents' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON array instead of a table')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;token' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Replace an agent''s token; the old one stays valid for --grace-seconds')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke an agent''s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'relay;token;issue' {
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'Role for a new agent; replaces an existing agent''s when given')
            [CompletionResult]::new('--capabilities', '--capabilities', [CompletionResultType]::ParameterName, 'Capabilities, comma-separated (tasks, broadcast, channels, webhooks, spawn, admin, or routing labels): a new agent''s, or replacing an existing agent''s when given')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the token to FILE (created 0600, replaced atomically) instead of stdout')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (the token included unless --out)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;token;rotate' {
            [CompletionResult]::new('--grace-seconds', '--grace-seconds', [CompletionResultType]::ParameterName, 'Seconds the old token keeps working (0-3600)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the token to FILE (created 0600, replaced atomically) instead of stdout')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (the token included unless --out)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;token;revoke' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the token to FILE (created 0600, replaced atomically) instead of stdout')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--no-recovery', '--no-recovery', [CompletionResultType]::ParameterName, 'Issue no recovery token: the agent stays revoked until `relay recover`')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (the token included unless --out)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;token;help' {
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Replace an agent''s token; the old one stays valid for --grace-seconds')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke an agent''s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'relay;token;help;issue' {
            break
        }
        'relay;token;help;rotate' {
            break
        }
        'relay;token;help;revoke' {
            break
        }
        'relay;token;help;help' {
            break
        }
        'relay;pair' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The agent name to register at the hub for this machine')
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'Its role')
            [CompletionResult]::new('--capabilities', '--capabilities', [CompletionResultType]::ParameterName, 'Its capabilities, comma-separated (a hub grants an anonymous registration only tasks, broadcast, channels) [default: tasks, so `relay worker` can run its tasks]')
            [CompletionResult]::new('--description', '--description', [CompletionResultType]::ParameterName, 'One line on what the agent does')
            [CompletionResult]::new('--secret-file', '--secret-file', [CompletionResultType]::ParameterName, 'File holding the hub secret [default: env RELAY_HTTP_SECRET]')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;recover' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed when not on a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed when not on a terminal)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would change; change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;re-encrypt' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Seal every value with key KID (in the keyring; normally its `current`)')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Move only values sealed with key KID (default: plain values and every key but --to)')
            [CompletionResult]::new('--batch-size', '--batch-size', [CompletionResultType]::ParameterName, 'Rows read per batch; each batch''s writes are one short transaction')
            [CompletionResult]::new('--max-batches', '--max-batches', [CompletionResultType]::ParameterName, 'Stop after N batches (run the same command again to go on)')
            [CompletionResult]::new('--verify-clean', '--verify-clean', [CompletionResultType]::ParameterName, 'Exit 0 only when no stored value is sealed with key KID (check before removing KID from the keyring)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Count what would move; change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;guard' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Write the git pre-commit hook that runs `relay guard check`')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check staged paths (or PATHS) against the reservations: what the hook runs')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'relay;guard;install' {
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'The repository (any directory inside it) [default: the current directory]')
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The agent that commits in this repository, baked into the hook; RELAY_AGENT at commit time overrides it')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace a pre-commit hook that is not relay''s (it is kept as pre-commit.relay-backup)')
            [CompletionResult]::new('--chain', '--chain', [CompletionResultType]::ParameterName, 'Keep a pre-commit hook that is not relay''s and run it first (it is moved to pre-commit.relay-chained)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;guard;check' {
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'The repository (any directory inside it) [default: the current directory]')
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The committing agent: its own reservations never block it')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON report on stdout (ok, bypassed, repository, projects, agent, checked, blocked)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;guard;help' {
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Write the git pre-commit hook that runs `relay guard check`')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check staged paths (or PATHS) against the reservations: what the hook runs')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'relay;guard;help;install' {
            break
        }
        'relay;guard;help;check' {
            break
        }
        'relay;guard;help;help' {
            break
        }
        'relay;completions' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write completions for every shell into DIR (relay.bash, _relay, relay.fish, _relay.ps1, relay.elv) instead of printing one')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;man' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Write relay.1 and one page per subcommand into DIR instead of printing relay.1')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The config file [default: ~/.config/relay/config.toml on Linux]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (to stderr)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Log more to stderr; repeat for more detail (-vv)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'relay;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the MCP server for one agent (what an agent''s MCP config starts)')
            [CompletionResult]::new('worker', 'worker', [CompletionResultType]::ParameterValue, 'Claim tasks addressed to an agent and run them (a headless worker)')
            [CompletionResult]::new('hook', 'hook', [CompletionResultType]::ParameterValue, 'Claude Code hook handler: print new relay mail and tasks as context')
            [CompletionResult]::new('generate-hooks', 'generate-hooks', [CompletionResultType]::ParameterValue, 'Print (or merge into a settings file) the Claude Code hooks that run `relay hook`')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Follow relay events live: messages, channel posts, tasks, agents')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Set relay up: write the config file, create the store, print MCP configs to paste into Claude Code, Codex and Cursor')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Self-check on a throwaway store: real relay processes, end to end')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check that relay can work here: PASS/WARN/FAIL per check')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Write a consistent backup of the store (tar.gz), safe while agents run')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Replace the store with a backup (stop every relay process first)')
            [CompletionResult]::new('agents', 'agents', [CompletionResultType]::ParameterValue, 'List the agents of the store: presence, auth state, role, capabilities')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Issue, rotate or revoke agent tokens, with no model in the loop')
            [CompletionResult]::new('pair', 'pair', [CompletionResultType]::ParameterValue, 'Join this machine to a hub: register an agent there, keep its token')
            [CompletionResult]::new('recover', 'recover', [CompletionResultType]::ParameterValue, 'Clear an agent''s lost token so its name can be registered again')
            [CompletionResult]::new('re-encrypt', 're-encrypt', [CompletionResultType]::ParameterValue, 'Move encrypted values to another key of the keyring (rotation)')
            [CompletionResult]::new('guard', 'guard', [CompletionResultType]::ParameterValue, 'Refuse git commits that touch files another agent reserved exclusively')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions, generated from these definitions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff), generated from these definitions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'relay;help;serve' {
            break
        }
        'relay;help;worker' {
            break
        }
        'relay;help;hook' {
            break
        }
        'relay;help;generate-hooks' {
            break
        }
        'relay;help;tail' {
            break
        }
        'relay;help;init' {
            break
        }
        'relay;help;test' {
            break
        }
        'relay;help;doctor' {
            break
        }
        'relay;help;backup' {
            break
        }
        'relay;help;restore' {
            break
        }
        'relay;help;agents' {
            break
        }
        'relay;help;token' {
            [CompletionResult]::new('issue', 'issue', [CompletionResultType]::ParameterValue, 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Replace an agent''s token; the old one stays valid for --grace-seconds')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke an agent''s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery')
            break
        }
        'relay;help;token;issue' {
            break
        }
        'relay;help;token;rotate' {
            break
        }
        'relay;help;token;revoke' {
            break
        }
        'relay;help;pair' {
            break
        }
        'relay;help;recover' {
            break
        }
        'relay;help;re-encrypt' {
            break
        }
        'relay;help;guard' {
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Write the git pre-commit hook that runs `relay guard check`')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Check staged paths (or PATHS) against the reservations: what the hook runs')
            break
        }
        'relay;help;guard;install' {
            break
        }
        'relay;help;guard;check' {
            break
        }
        'relay;help;completions' {
            break
        }
        'relay;help;man' {
            break
        }
        'relay;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
