//! JSON-RPC robustness on stdio (SPEC §8): malformed input gets a JSON-RPC
//! error, the session keeps serving, and stdout carries only JSON-RPC.

use serde_json::{Value, json};

use crate::support::Relay;

fn assert_jsonrpc(v: &Value) {
    assert_eq!(v["jsonrpc"], "2.0", "not a JSON-RPC 2.0 message: {v}");
}

#[test]
fn malformed_json_rpc_gets_errors_and_the_session_keeps_serving() {
    let relay = Relay::new();
    // -vvv: logs must still go to stderr only.
    let mut s = relay.raw(&["--agent", "alice", "-vvv"]);
    // A notification before initialize is dropped, not fatal.
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let init = s.initialize();
    assert_jsonrpc(&init);
    assert_eq!(init["result"]["serverInfo"]["name"], "relay");

    s.send_line(b"{this is not json");
    let r = s.recv();
    assert_jsonrpc(&r);
    assert_eq!(r["error"]["code"], -32700);
    assert!(r["id"].is_null());

    s.send_line(br#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#);
    let r = s.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert_eq!(r["id"], 7);

    s.send_line(br#"[{"jsonrpc":"2.0","id":8,"method":"ping"}]"#);
    assert_eq!(s.recv()["error"]["code"], -32600);

    s.send_line(&[0xff, 0xfe, b'{', b'}']);
    assert_eq!(s.recv()["error"]["code"], -32700);

    // A known method with missing params is a JSON-RPC error too.
    s.send(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call"}));
    let r = s.recv();
    assert_eq!(r["id"], 9);
    assert_eq!(r["error"]["code"], -32602);
    s.send(&json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"name": 5, "arguments": [1]}}));
    let r = s.recv();
    assert_eq!(r["id"], 12);
    assert_eq!(r["error"]["code"], -32602);

    // A request whose id is null or fractional is answered, not ignored.
    s.send_line(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#);
    let r = s.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert!(r["id"].is_null());

    s.send(&json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "no_such_tool"}}));
    let r = s.recv();
    assert_eq!(r["id"], 10);
    assert_eq!(r["error"]["code"], -32602);

    // Blank lines are ignored; the session still works.
    s.send_line(b"");
    s.send_line(b"   ");
    let r = s.call(11, "health_check", json!({}));
    assert_jsonrpc(&r);
    assert_eq!(r["id"], 11);
    assert_eq!(r["result"]["structuredContent"]["agent"]["name"], "alice");
    assert_eq!(s.finish().code(), Some(0));
}

#[test]
fn a_line_over_four_mebibytes_is_refused_and_stores_nothing() {
    let relay = Relay::new();
    let mut s = relay.raw(&["--agent", "alice"]);
    s.initialize();
    let huge = "x".repeat(4 * 1024 * 1024 + 10);
    let line = json!({
        "jsonrpc": "2.0", "id": 41, "method": "tools/call",
        "params": {"name": "send_message", "arguments": {"to": "bob", "content": huge}}
    });
    s.send(&line);
    let r = s.recv();
    assert_jsonrpc(&r);
    assert_eq!(r["id"], 41);
    assert_eq!(r["error"]["code"], -32600);
    assert_eq!(r["error"]["data"]["error_code"], "PAYLOAD_TOO_LARGE");

    // The same session goes on; the oversized message was never stored.
    let r = s.call(42, "send_message", json!({"to": "bob", "content": "small"}));
    assert_eq!(r["result"]["isError"], false);
    drop(s);
    let bob_mail = relay.store().unread_count("bob").unwrap();
    assert_eq!(bob_mail, 1);
}

#[test]
fn eof_before_initialize_is_a_clean_exit() {
    let relay = Relay::new();
    let s = relay.raw(&["--agent", "alice"]);
    assert_eq!(s.finish().code(), Some(0));
}

#[test]
fn crlf_bom_and_a_last_line_without_newline_are_accepted() {
    let relay = Relay::new();
    let mut s = relay.raw(&["--agent", "alice"]);
    s.initialize();
    let call = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "send_message", "arguments": {"to": "bob", "content": format!("m{id}")}}})
        .to_string()
    };
    s.send_line(format!("{}\r", call(1)).as_bytes());
    assert_eq!(s.recv()["result"]["isError"], false);
    s.send_line(format!("\u{feff}{}", call(2)).as_bytes());
    assert_eq!(s.recv()["result"]["isError"], false);
    // The last request has no trailing newline; EOF follows.
    s.send_raw(call(3).as_bytes());
    s.close_stdin();
    assert_eq!(s.recv()["id"], 3);
    assert_eq!(s.finish().code(), Some(0));
    assert_eq!(relay.store().unread_count("bob").unwrap(), 3);
}

#[test]
fn a_line_of_exactly_four_mebibytes_is_accepted_with_either_line_ending() {
    let relay = Relay::new();
    let mut s = relay.raw(&["--agent", "alice"]);
    s.initialize();
    let limit = 4 * 1024 * 1024;
    let make = |id: i64| {
        let head = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"health_check","arguments":{{}}}},"pad":""#
        );
        let mut line = head.into_bytes();
        line.resize(limit - 2, b' ');
        line.extend_from_slice(b"\"}");
        assert_eq!(line.len(), limit);
        line
    };
    // A padded top-level field keeps the request valid at exactly the limit.
    s.send_line(&make(1));
    let r = s.recv();
    assert_eq!(r["id"], 1);
    assert_eq!(r["result"]["structuredContent"]["agent"]["name"], "alice", "{r}");
    let mut crlf = make(2);
    crlf.push(b'\r');
    s.send_line(&crlf);
    let r = s.recv();
    assert_eq!(r["result"]["structuredContent"]["status"], "ok", "{r}");
    // One byte more is refused.
    let mut over = make(3);
    over.insert(over.len() - 2, b' ');
    s.send_line(&over);
    let r = s.recv();
    assert_eq!(r["id"], 3);
    assert_eq!(r["error"]["data"]["error_code"], "PAYLOAD_TOO_LARGE");
}

/// Resident memory of process `pid`, in KiB (`VmRSS` in /proc).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `relay serve --agent AGENT` with its pipes, past the MCP handshake.
fn piped_session(
    relay: &Relay,
    agent: &str,
) -> (
    crate::support::Reaper,
    std::process::ChildStdin,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::{BufRead, Write};
    let mut child = crate::support::Reaper(relay.serve_command(&["--agent", agent]).spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
    )
    .unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"result\""), "{line}");
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .unwrap();
    (child, stdin, stdout)
}

/// Writes as much of `input` as the server takes, without blocking, until
/// it has taken nothing for 3 s; returns the bytes written. `stdin` is
/// blocking again afterwards.
fn write_until_stalled(stdin: &mut std::process::ChildStdin, input: &[u8]) -> usize {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};
    let flags = nix::fcntl::fcntl(stdin.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
    let blocking = nix::fcntl::OFlag::from_bits_truncate(flags);
    let set_flags = |stdin: &std::process::ChildStdin, flags| {
        nix::fcntl::fcntl(stdin.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    };
    set_flags(stdin, blocking | nix::fcntl::OFlag::O_NONBLOCK);
    let mut written = 0;
    let mut last_progress = Instant::now();
    while written < input.len() && last_progress.elapsed() < Duration::from_secs(3) {
        match stdin.write(&input[written..]) {
            Ok(n) => {
                written += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("write: {e}"),
        }
    }
    set_flags(stdin, blocking);
    written
}

#[test]
fn a_client_that_stops_reading_stalls_its_own_input_and_loses_nothing() {
    use std::io::{BufRead, Write};

    let relay = Relay::new();
    let (mut child, mut stdin, mut stdout) = piped_session(&relay, "alice");
    let mut line = String::new();

    // 5,000 requests whose answers are ~20 KiB each (100 MiB in all),
    // written without reading a single answer.
    const REQUESTS: usize = 5_000;
    let mut input = Vec::new();
    for id in 1..=REQUESTS {
        input.extend_from_slice(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
                .to_string()
                .as_bytes(),
        );
        input.push(b'\n');
    }
    let written = write_until_stalled(&mut stdin, &input);
    let accepted = input[..written].iter().filter(|&&b| b == b'\n').count();
    assert!(
        accepted < REQUESTS,
        "relay kept reading all {REQUESTS} requests although nobody read its answers"
    );
    let rss = rss_kib(child.0.id());
    eprintln!("accepted {accepted} of {REQUESTS} requests; RSS {rss} KiB");
    assert!(
        rss < 128 * 1024,
        "relay serve grew to {rss} KiB while its client did not read"
    );

    // Once the client reads again, every request gets its answer.
    let rest = input[written..].to_vec();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(&rest).unwrap();
        stdin.flush().unwrap();
        stdin // closed by the reader side once all answers are in
    });
    let mut ids = std::collections::HashSet::new();
    while ids.len() < REQUESTS {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stdout ended after {} answers",
            ids.len()
        );
        #[derive(serde::Deserialize)]
        struct Answer {
            id: u64,
            #[allow(dead_code)]
            result: serde::de::IgnoredAny,
        }
        let answer: Answer = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:.200}"));
        assert!(ids.insert(answer.id), "answered twice: {}", answer.id);
    }
    drop(feeder.join().unwrap());
    assert!(child.0.wait().unwrap().success());
}

/// A raw session that negotiated `version`: (initialize result, session).
fn session_at(relay: &Relay, version: &str) -> (Value, crate::support::RawSession) {
    let mut s = relay.raw(&["--agent", "alice"]);
    s.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}));
    let init = s.recv();
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    (init, s)
}

#[test]
fn fields_newer_than_the_negotiated_revision_are_never_sent() {
    let relay = Relay::new();
    // (revision, annotations 2025-03-26, structured output and titles
    // 2025-06-18, Implementation.description 2025-11-25)
    for (version, annotations, structured, description) in [
        ("2024-11-05", false, false, false),
        ("2025-03-26", true, false, false),
        ("2025-06-18", true, true, false),
        ("2025-11-25", true, true, true),
    ] {
        let (init, mut s) = session_at(&relay, version);
        let result = &init["result"];
        assert_eq!(result["protocolVersion"], version, "{init}");
        let info = result["serverInfo"].as_object().unwrap();
        assert_eq!(info.contains_key("title"), structured, "{version}: {init}");
        assert_eq!(info.contains_key("description"), description, "{version}: {init}");
        assert!(!info.contains_key("icons") && !info.contains_key("websiteUrl"));

        s.send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        let tools = s.recv();
        for tool in tools["result"]["tools"].as_array().unwrap() {
            let tool = tool.as_object().unwrap();
            assert_eq!(tool.contains_key("annotations"), annotations, "{version}: {tool:?}");
            assert_eq!(tool.contains_key("outputSchema"), structured, "{version}: {tool:?}");
            assert!(!tool.contains_key("title") && !tool.contains_key("icons"));
            // 2025-11-25 Tasks (tests/it/mcp_tasks.rs): post_task only.
            let tasks = version == "2025-11-25" && tool["name"] == "post_task";
            assert_eq!(tool.contains_key("execution"), tasks, "{version}: {tool:?}");
        }
        let call = s.call(2, "health_check", json!({}));
        let result = call["result"].as_object().unwrap();
        assert_eq!(
            result.contains_key("structuredContent"),
            structured,
            "{version}: {call}"
        );
        // Every revision gets the JSON as text.
        let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text["agent"]["name"], "alice");
        assert!(s.finish().success());
    }
}

#[test]
fn a_second_initialize_on_an_initialized_session_is_refused() {
    let relay = Relay::new();
    let (_, mut s) = session_at(&relay, "2025-06-18");
    s.send(&json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "again", "version": "0"}}}));
    let r = s.recv();
    assert_eq!(r["id"], 7);
    assert_eq!(r["error"]["code"], -32600, "{r}");
    // The session goes on at the revision it negotiated first.
    let call = s.call(8, "health_check", json!({}));
    assert!(call["result"]["structuredContent"].is_object(), "{call}");
    assert!(s.finish().success());
}

#[test]
fn unknown_and_forbidden_resources_get_one_resource_not_found_error() {
    let relay = Relay::new();
    let mut bob = relay.raw(&["--agent", "bob", "--capabilities", "tasks"]);
    bob.initialize();
    let posted = bob.call(1, "post_task", json!({"to": "carol", "title": "t", "description": "d"}));
    let task_id = posted["result"]["structuredContent"]["task"]["id"].as_i64().unwrap();
    let mut bob_channel = relay.raw(&["--agent", "boss", "--capabilities", "channels"]);
    bob_channel.initialize();
    bob_channel.call(1, "create_channel", json!({"name": "secret"}));

    let (_, mut alice) = session_at(&relay, "2025-06-18");
    let mut id = 10;
    for uri in [
        format!("relay://task/{task_id}"),    // exists, alice is no party to it
        "relay://task/99999".to_string(),     // does not exist
        "relay://inbox/bob".to_string(),      // someone else's inbox
        "relay://channel/secret".to_string(), // not a member
        "relay://channel/nope".to_string(),
        "relay://nothing/1".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        for method in ["resources/read", "resources/subscribe"] {
            id += 1;
            alice.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"uri": uri}}));
            let r = alice.recv();
            assert_eq!(r["id"], id);
            assert_eq!(r["error"]["code"], -32002, "{method} {uri}: {r}");
            assert_eq!(r["error"]["data"]["uri"], uri.as_str(), "{r}");
        }
    }
    // Bob, a party, may read and subscribe to the task.
    bob.send(&json!({"jsonrpc": "2.0", "id": 5, "method": "resources/subscribe",
        "params": {"uri": format!("relay://task/{task_id}")}}));
    assert!(bob.recv()["result"].is_object());
    assert!(alice.finish().success());
}

#[test]
fn json_rpc_errors_answered_to_the_client_are_not_logged_by_default() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let relay = Relay::new();
    let mut child = relay
        .serve_command(&["--agent", "alice"])
        .env_remove("RELAY_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let lines = [
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
        .to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "no_such_tool"}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "relay://task/424242"}})
            .to_string(),
        json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": "nope"}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 4, "method": "no/such/method"}).to_string(),
        "{not json".to_string(),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": 5}}).to_string(),
        format!(
            r#"{{"jsonrpc":"2.0","id":6,"method":"ping","params":{{"pad":"{}"}}}}"#,
            "x".repeat(4 * 1024 * 1024)
        ),
    ];
    for line in &lines {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    let mut errors = 0;
    let mut line = String::new();
    while errors < lines.len() - 2 {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "stdout ended");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v.get("error").is_some() || v["result"]["isError"] == true {
            errors += 1;
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(stderr, "", "errors the client was answered were also logged");
}

#[test]
fn many_large_answers_in_flight_do_not_grow_memory_without_bound() {
    let relay = Relay::new();
    {
        // 15 messages of 60 KiB: every peek at them is a 0.9 MiB answer.
        let store = relay.store();
        store
            .bind_agent("alice", None, None, relay::store::Transport::Cli)
            .unwrap();
        let alice = relay::store::Caller {
            agent: "alice",
            transport: relay::store::Transport::Cli,
        };
        for i in 0..15 {
            let content = format!("{i}{}", "x".repeat(60 * 1024));
            store
                .send_message(alice, "bob", &content, relay::store::Priority::Normal, None)
                .unwrap();
        }
    }
    let (child, mut stdin, _stdout) = piped_session(&relay, "bob");
    // 3,000 of them (2.6 GiB of answers), none read.
    const REQUESTS: usize = 3_000;
    let mut input = Vec::new();
    for id in 1..=REQUESTS {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "get_messages", "arguments": {"peek": true, "limit": 100}}});
        input.extend_from_slice(request.to_string().as_bytes());
        input.push(b'\n');
    }
    let written = write_until_stalled(&mut stdin, &input);
    let accepted = input[..written].iter().filter(|&&b| b == b'\n').count();
    let rss = rss_kib(child.0.id());
    eprintln!("accepted {accepted} of {REQUESTS} requests; RSS {rss} KiB");
    assert!(
        accepted < REQUESTS,
        "relay kept reading although nobody read its answers"
    );
    assert!(rss < 400 * 1024, "relay serve grew to {rss} KiB with answers in flight");
}

#[test]
fn a_client_that_writes_all_its_requests_before_reading_is_answered() {
    use std::io::{BufRead, Write};

    // 5,000 small requests written at once (about 0.6 MiB of input and
    // 1 MiB of answers: more than the pipes hold, less than the output
    // budget), then every answer read.
    let relay = Relay::new();
    let (mut child, mut stdin, mut stdout) = piped_session(&relay, "alice");
    let mut line = String::new();
    const REQUESTS: usize = 5_000;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        for id in 1..=REQUESTS {
            let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "send_message", "arguments": {"to": "bob", "content": "hi"}}});
            writeln!(stdin, "{request}").unwrap();
        }
        stdin.flush().unwrap();
        let _ = done_tx.send(());
        stdin
    });
    // The client reads only once it has written everything.
    done_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("relay stopped reading requests although its answers fit in its output queue");
    let mut answered = 0;
    while answered < REQUESTS {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0);
        answered += 1;
    }
    drop(writer.join().unwrap());
    assert!(child.0.wait().unwrap().success());
    assert_eq!(relay.store().unread_count("bob").unwrap(), REQUESTS as i64);
}
