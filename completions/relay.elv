
use builtin;
use str;

set edit:completion:arg-completer[relay] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'relay'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'relay'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the MCP server for one agent (what an agent''s MCP config starts)'
            cand worker 'Claim tasks addressed to an agent and run them (a headless worker)'
            cand hook 'Claude Code hook handler: print new relay mail and tasks as context'
            cand generate-hooks 'Print (or merge into a settings file) the Claude Code hooks that run `relay hook`'
            cand tail 'Follow relay events live: messages, channel posts, tasks, agents'
            cand init 'Set relay up: write the config file, create the store, print MCP configs to paste into Claude Code, Codex and Cursor'
            cand test 'Self-check on a throwaway store: real relay processes, end to end'
            cand doctor 'Check that relay can work here: PASS/WARN/FAIL per check'
            cand backup 'Write a consistent backup of the store (tar.gz), safe while agents run'
            cand restore 'Replace the store with a backup (stop every relay process first)'
            cand agents 'List the agents of the store: presence, auth state, role, capabilities'
            cand token 'Issue, rotate or revoke agent tokens, with no model in the loop'
            cand pair 'Join this machine to a hub: register an agent there, keep its token'
            cand recover 'Clear an agent''s lost token so its name can be registered again'
            cand re-encrypt 'Move encrypted values to another key of the keyring (rotation)'
            cand guard 'Refuse git commits that touch files another agent reserved exclusively'
            cand completions 'Print shell completions, generated from these definitions'
            cand man 'Print the man page (roff), generated from these definitions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'relay;serve'= {
            cand --transport 'The transport to speak'
            cand --host 'The address the hub binds (http, both). A non-loopback address needs a hub secret. [default: 127.0.0.1, or [http] host]'
            cand --port 'The hub''s port (http, both); 0 lets the OS choose. The bound URL is logged on stderr as `listening on http://HOST:PORT/mcp`, then `dashboard at http://HOST:PORT/`. [default: 3777, or [http] port]'
            cand --agent 'Bind this session to agent NAME, registering it if new'
            cand --role 'The agent''s role (e.g. reviewer, builder); used with --agent'
            cand --spawn-mode 'How the spawn_agent tool opens terminals: auto (a terminal emulator on a desktop, else tmux), tmux, terminal, or dry-run (only return the command)'
            cand --capabilities 'Comma-separated capabilities granted to --agent: tasks, broadcast, channels, webhooks, spawn, admin'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --channel 'Push Claude Code channel notifications (`notifications/claude/channel`) when mail, tasks or channel posts arrive: a fixed envelope with ids only, never the message text. Start Claude Code with `--channels` to receive them'
            cand --notify 'Show a desktop notification (notify-send, osascript, PowerShell) when mail, tasks or channel posts arrive: at most one per 10 s, sender and kind only. A missing notifier is a warning, not an error'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;worker'= {
            cand --agent 'The agent whose tasks to claim (registered with the tasks capability if new)'
            cand --executor 'How to run tasks [default: shell when a command follows `--`]'
            cand --concurrency 'Tasks to run at the same time (1-64)'
            cand --lease-seconds 'Lease per claim in seconds; the worker heartbeats every quarter of it'
            cand --timeout-seconds 'Kill a task''s process after this many seconds and fail the task'
            cand --cwd 'Working directory for the executor [default: the current directory]'
            cand --hub 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]'
            cand --token-file 'File holding the agent''s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]'
            cand --secret-file 'File holding the hub secret [default: env RELAY_HTTP_SECRET]'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --allow-writes 'Run write tasks too (without it they fail and the executor never starts)'
            cand --once 'Drain the tasks there are now, then exit'
            cand --json 'Print one JSON object per finished task instead of a line of text'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;hook'= {
            cand --agent 'The agent whose mail to report'
            cand --hub 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]'
            cand --token-file 'File holding the agent''s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]'
            cand --secret-file 'File holding the hub secret [default: env RELAY_HTTP_SECRET]'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;generate-hooks'= {
            cand --agent 'The agent the hooks report for (baked into the hook commands)'
            cand --write 'Merge the hooks into this Claude Code settings file (created if missing), keeping every other setting; running it again changes nothing'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;tail'= {
            cand --agent 'Only events to or from this agent'
            cand --last 'Start with the last N events already stored'
            cand --hub 'Work against the hub at URL (e.g. https://hub.example:3777) instead of a local store [default: the hub `relay pair` paired the agent with]'
            cand --token-file 'File holding the agent''s token (X-Agent-Token) [default: the file `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself]'
            cand --secret-file 'File holding the hub secret [default: env RELAY_HTTP_SECRET]'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print one JSON object per event instead of a line of text'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;init'= {
            cand --agent 'The agent name for this terminal [default: the current directory''s name]'
            cand --transport 'The transport the agents'' MCP configs use: stdio (each MCP client starts its own relay serve), http (they all talk to one hub) or both (this terminal''s relay serve also runs the hub)'
            cand --hub-url 'The hub''s MCP endpoint that the HTTP client configs name (with --transport http or both)'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -y 'Take the defaults; ask nothing'
            cand --yes 'Take the defaults; ask nothing'
            cand --force 'Overwrite an existing config file'
            cand --install-hooks 'Merge the Claude Code hooks into ./.claude/settings.json'
            cand --encrypt 'Encrypt message, channel and task text at rest: writes a new keyring (keyring.json, 0600, beside the config file; an existing one is kept) and points the config at it. Back the keyring up separately: `relay backup` does not include it'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;test'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print the steps as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;doctor'= {
            cand --remote 'Check the HTTP hub at URL instead of the local store: reachable (GET /health), relay version and protocol revisions, whether /mcp demands the hub secret (and accepts yours), and, given a token, which agent it names. URL is the hub''s MCP endpoint (http://HOST:PORT/mcp) or its base. Waits at most 3 s to connect and 5 s per request'
            cand --secret-file 'With --remote: a file holding the hub secret to check (whitespace around it is ignored) [default: the RELAY_HTTP_SECRET variable]. There is no flag for the secret itself: other users can read a command line'
            cand --token-file 'With --remote: a file holding an agent token (register_agent''s reply) to check [default: the RELAY_AGENT_TOKEN variable]'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print the checks as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;backup'= {
            cand -o 'Where to write: a file, or a directory (ending in `/` or existing)'
            cand --output 'Where to write: a file, or a directory (ending in `/` or existing)'
            cand --keep 'Keep only the newest N backups in the output directory'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print the result (path, manifest, pruned files) as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;restore'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -y 'Do not ask for confirmation (needed when not on a terminal)'
            cand --yes 'Do not ask for confirmation (needed when not on a terminal)'
            cand --force 'Restore a backup with an older schema (migrated when next opened)'
            cand --json 'Print the result as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;agents'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print a JSON array instead of a table'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;token'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand issue 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once'
            cand rotate 'Replace an agent''s token; the old one stays valid for --grace-seconds'
            cand revoke 'Revoke an agent''s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'relay;token;issue'= {
            cand --role 'Role for a new agent; replaces an existing agent''s when given'
            cand --capabilities 'Capabilities, comma-separated (tasks, broadcast, channels, webhooks, spawn, admin, or routing labels): a new agent''s, or replacing an existing agent''s when given'
            cand --out 'Write the token to FILE (created 0600, replaced atomically) instead of stdout'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print the result as JSON (the token included unless --out)'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;token;rotate'= {
            cand --grace-seconds 'Seconds the old token keeps working (0-3600)'
            cand --out 'Write the token to FILE (created 0600, replaced atomically) instead of stdout'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print the result as JSON (the token included unless --out)'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;token;revoke'= {
            cand --out 'Write the token to FILE (created 0600, replaced atomically) instead of stdout'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --no-recovery 'Issue no recovery token: the agent stays revoked until `relay recover`'
            cand --json 'Print the result as JSON (the token included unless --out)'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;token;help'= {
            cand issue 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once'
            cand rotate 'Replace an agent''s token; the old one stays valid for --grace-seconds'
            cand revoke 'Revoke an agent''s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'relay;token;help;issue'= {
        }
        &'relay;token;help;rotate'= {
        }
        &'relay;token;help;revoke'= {
        }
        &'relay;token;help;help'= {
        }
        &'relay;pair'= {
            cand --name 'The agent name to register at the hub for this machine'
            cand --role 'Its role'
            cand --capabilities 'Its capabilities, comma-separated (a hub grants an anonymous registration only tasks, broadcast, channels) [default: tasks, so `relay worker` can run its tasks]'
            cand --description 'One line on what the agent does'
            cand --secret-file 'File holding the hub secret [default: env RELAY_HTTP_SECRET]'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print the result as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;recover'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -y 'Do not ask for confirmation (needed when not on a terminal)'
            cand --yes 'Do not ask for confirmation (needed when not on a terminal)'
            cand --dry-run 'Show what would change; change nothing'
            cand --json 'Print the result as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;re-encrypt'= {
            cand --to 'Seal every value with key KID (in the keyring; normally its `current`)'
            cand --from 'Move only values sealed with key KID (default: plain values and every key but --to)'
            cand --batch-size 'Rows read per batch; each batch''s writes are one short transaction'
            cand --max-batches 'Stop after N batches (run the same command again to go on)'
            cand --verify-clean 'Exit 0 only when no stored value is sealed with key KID (check before removing KID from the keyring)'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --dry-run 'Count what would move; change nothing'
            cand --json 'Print the report as JSON'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;guard'= {
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand install 'Write the git pre-commit hook that runs `relay guard check`'
            cand check 'Check staged paths (or PATHS) against the reservations: what the hook runs'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'relay;guard;install'= {
            cand --repo 'The repository (any directory inside it) [default: the current directory]'
            cand --agent 'The agent that commits in this repository, baked into the hook; RELAY_AGENT at commit time overrides it'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --force 'Replace a pre-commit hook that is not relay''s (it is kept as pre-commit.relay-backup)'
            cand --chain 'Keep a pre-commit hook that is not relay''s and run it first (it is moved to pre-commit.relay-chained)'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;guard;check'= {
            cand --repo 'The repository (any directory inside it) [default: the current directory]'
            cand --agent 'The committing agent: its own reservations never block it'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand --json 'Print a JSON report on stdout (ok, bypassed, repository, projects, agent, checked, blocked)'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;guard;help'= {
            cand install 'Write the git pre-commit hook that runs `relay guard check`'
            cand check 'Check staged paths (or PATHS) against the reservations: what the hook runs'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'relay;guard;help;install'= {
        }
        &'relay;guard;help;check'= {
        }
        &'relay;guard;help;help'= {
        }
        &'relay;completions'= {
            cand --out-dir 'Write completions for every shell into DIR (relay.bash, _relay, relay.fish, _relay.ps1, relay.elv) instead of printing one'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;man'= {
            cand --out-dir 'Write relay.1 and one page per subcommand into DIR instead of printing relay.1'
            cand --db 'The SQLite store [default: ~/.local/share/relay/relay.db on Linux]'
            cand --config 'The config file [default: ~/.config/relay/config.toml on Linux]'
            cand -q 'Only log errors (to stderr)'
            cand --quiet 'Only log errors (to stderr)'
            cand -v 'Log more to stderr; repeat for more detail (-vv)'
            cand --verbose 'Log more to stderr; repeat for more detail (-vv)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'relay;help'= {
            cand serve 'Run the MCP server for one agent (what an agent''s MCP config starts)'
            cand worker 'Claim tasks addressed to an agent and run them (a headless worker)'
            cand hook 'Claude Code hook handler: print new relay mail and tasks as context'
            cand generate-hooks 'Print (or merge into a settings file) the Claude Code hooks that run `relay hook`'
            cand tail 'Follow relay events live: messages, channel posts, tasks, agents'
            cand init 'Set relay up: write the config file, create the store, print MCP configs to paste into Claude Code, Codex and Cursor'
            cand test 'Self-check on a throwaway store: real relay processes, end to end'
            cand doctor 'Check that relay can work here: PASS/WARN/FAIL per check'
            cand backup 'Write a consistent backup of the store (tar.gz), safe while agents run'
            cand restore 'Replace the store with a backup (stop every relay process first)'
            cand agents 'List the agents of the store: presence, auth state, role, capabilities'
            cand token 'Issue, rotate or revoke agent tokens, with no model in the loop'
            cand pair 'Join this machine to a hub: register an agent there, keep its token'
            cand recover 'Clear an agent''s lost token so its name can be registered again'
            cand re-encrypt 'Move encrypted values to another key of the keyring (rotation)'
            cand guard 'Refuse git commits that touch files another agent reserved exclusively'
            cand completions 'Print shell completions, generated from these definitions'
            cand man 'Print the man page (roff), generated from these definitions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'relay;help;serve'= {
        }
        &'relay;help;worker'= {
        }
        &'relay;help;hook'= {
        }
        &'relay;help;generate-hooks'= {
        }
        &'relay;help;tail'= {
        }
        &'relay;help;init'= {
        }
        &'relay;help;test'= {
        }
        &'relay;help;doctor'= {
        }
        &'relay;help;backup'= {
        }
        &'relay;help;restore'= {
        }
        &'relay;help;agents'= {
        }
        &'relay;help;token'= {
            cand issue 'Give an agent a fresh token now (registering it if new), e.g. for a script or an HTTP client. Any previous token stops working at once'
            cand rotate 'Replace an agent''s token; the old one stays valid for --grace-seconds'
            cand revoke 'Revoke an agent''s token: its next call fails with AUTH_FAILED and its HTTP sessions close. Prints a one-time recovery token unless --no-recovery'
        }
        &'relay;help;token;issue'= {
        }
        &'relay;help;token;rotate'= {
        }
        &'relay;help;token;revoke'= {
        }
        &'relay;help;pair'= {
        }
        &'relay;help;recover'= {
        }
        &'relay;help;re-encrypt'= {
        }
        &'relay;help;guard'= {
            cand install 'Write the git pre-commit hook that runs `relay guard check`'
            cand check 'Check staged paths (or PATHS) against the reservations: what the hook runs'
        }
        &'relay;help;guard;install'= {
        }
        &'relay;help;guard;check'= {
        }
        &'relay;help;completions'= {
        }
        &'relay;help;man'= {
        }
        &'relay;help;help'= {
        }
    ]
    $completions[$command]
}
