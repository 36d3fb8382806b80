//! The proxy as the host sees it: a real process, real node/python3/sh actions, HTTP.

mod support;

use base64::Engine;
use serde_json::json;
use support::{eventually, process_gone, Proxy, SENTINEL};

// ---- protocol ----

#[test]
fn run_before_init_is_forbidden() {
    let proxy = Proxy::start(Some("nodejs:20"));
    let (status, body) = proxy.run(json!({}));
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error": "Cannot run the action: not initialized."})
    );
}

#[test]
fn second_init_is_forbidden() {
    let proxy = Proxy::start(Some("nodejs:20"));
    assert_eq!(
        proxy.init("function main() { return {}; }"),
        (200, json!({"ok": true}))
    );
    let (status, body) = proxy.init("function main() { return {x: 1}; }");
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error": "Cannot initialize the action more than once."})
    );
    // The first action is still the one that runs.
    assert_eq!(proxy.run(json!({})), (200, json!({})));
}

#[test]
fn failed_init_reports_and_allows_another_init() {
    let proxy = Proxy::start(Some("nodejs:20"));
    let (status, body) = proxy.init("function main( {");
    assert_eq!(status, 502);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.starts_with("Initialization has failed due to: SyntaxError"),
        "{message}"
    );

    let (status, body) = proxy.init("function handler() { return {}; }");
    assert_eq!(status, 502);
    assert_eq!(
        body,
        json!({"error": "Initialization has failed due to: Error: Action entrypoint 'main' is not a function."})
    );

    assert_eq!(
        proxy.init("function main() { return {third: true}; }").0,
        200
    );
    assert_eq!(proxy.run(json!({})), (200, json!({"third": true})));
}

#[test]
fn code_without_kind_must_be_executable() {
    let proxy = Proxy::start(None);
    let (status, body) = proxy.init("function main() { return {}; }");
    assert_eq!(status, 502);
    assert!(
        body["error"].as_str().unwrap().contains("__OW_KIND"),
        "{body}"
    );
    // A script is recognised as native.
    assert_eq!(proxy.init("#!/bin/sh\necho '{\"native\":true}'\n").0, 200);
    assert_eq!(proxy.run(json!({})), (200, json!({"native": true})));
}

#[test]
fn unsupported_kind_fails_init() {
    let proxy = Proxy::start(Some("java:8"));
    let (status, body) = proxy.init("class Main {}");
    assert_eq!(status, 502);
    assert!(body["error"].as_str().unwrap().contains("java:8"), "{body}");
}

#[test]
fn sigterm_stops_the_action_and_removes_its_files() {
    let mut proxy = Proxy::start(Some("nodejs:20"));
    proxy.init("function main() { return { pid: process.pid, dir: process.cwd() }; }");
    let (_, body) = proxy.run(json!({}));
    let pid = body["pid"].as_u64().unwrap();
    let dir = std::path::PathBuf::from(body["dir"].as_str().unwrap());
    assert!(dir.join("action.js").exists());
    assert!(proxy.stop(), "the proxy should exit 0 on SIGTERM");
    assert!(
        eventually(|| process_gone(pid)),
        "launcher {pid} outlived the proxy"
    );
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[cfg(target_os = "linux")]
#[test]
fn killed_proxy_takes_its_action_along() {
    let proxy = Proxy::start(Some("python:3"));
    proxy.init("import os\ndef main(args):\n    return {'pid': os.getpid(), 'dir': os.getcwd()}\n");
    let (_, body) = proxy.run(json!({}));
    let pid = body["pid"].as_u64().unwrap();
    proxy.signal(libc::SIGKILL);
    assert!(
        eventually(|| process_gone(pid)),
        "launcher {pid} outlived the proxy"
    );
    // A SIGKILLed proxy cannot clean up after itself.
    let _ = std::fs::remove_dir_all(body["dir"].as_str().unwrap());
}

// ---- node ----

#[test]
fn node_action_gets_params_and_returns_object() {
    let proxy = Proxy::start(Some("nodejs:20"));
    assert_eq!(
        proxy.init("function main(params) { return { greeting: 'hello ' + params.name }; }"),
        (200, json!({"ok": true}))
    );
    assert_eq!(
        proxy.run(json!({"name": "whisk"})),
        (200, json!({"greeting": "hello whisk"}))
    );
}

#[test]
fn node_action_sees_activation_context_in_env() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init(
        "function main() { const e = process.env; return { id: e.__OW_ACTIVATION_ID, \
         ns: e.__OW_NAMESPACE, name: e.__OW_ACTION_NAME, key: e.__OW_API_KEY, \
         deadline: e.__OW_DEADLINE, tid: e.__OW_TRANSACTION_ID }; }",
    );
    assert_eq!(
        proxy.run(json!({})),
        (
            200,
            json!({"id": "0123456789abcdef", "ns": "guest", "name": "/guest/test",
                   "key": "user:pass", "deadline": "1700000000000", "tid": "tid"})
        )
    );
}

#[test]
fn node_action_exported_main_and_custom_entry_point() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init("exports.main = (p) => ({ via: 'exports', n: p.n });");
    assert_eq!(
        proxy.run(json!({"n": 1})),
        (200, json!({"via": "exports", "n": 1}))
    );

    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init("module.exports.main = () => ({ via: 'module.exports' });");
    assert_eq!(
        proxy.run(json!({})),
        (200, json!({"via": "module.exports"}))
    );

    let proxy = Proxy::start(Some("nodejs:20"));
    let init = json!({"value": {"code": "function handler() { return {via: 'handler'}; }",
                                "main": "handler", "env": {"GREETING": "hi", "N": 3}}});
    assert_eq!(proxy.post("/init", &init).0, 200);
    assert_eq!(proxy.run(json!({})), (200, json!({"via": "handler"})));

    let proxy = Proxy::start(Some("nodejs:20"));
    let init = json!({"value": {"code": "function main() { return {g: process.env.GREETING, n: process.env.N}; }",
                                "env": {"GREETING": "hi", "N": 3}}});
    assert_eq!(proxy.post("/init", &init).0, 200);
    assert_eq!(proxy.run(json!({})), (200, json!({"g": "hi", "n": "3"})));
}

#[test]
fn node_action_logs_come_before_sentinels_per_activation() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init(
        "function main(p) { console.log('one ' + p.n); console.error('oops ' + p.n); \
         console.log('two ' + p.n); process.stdout.write('no newline ' + p.n); return {}; }",
    );
    assert_eq!(proxy.run(json!({"n": 1})).0, 200);
    assert_eq!(proxy.run(json!({"n": 2})).0, 200);
    assert_eq!(
        proxy.stdout_after(2),
        [
            "one 1",
            "two 1",
            "no newline 1",
            SENTINEL,
            "one 2",
            "two 2",
            "no newline 2",
            SENTINEL
        ]
    );
    assert_eq!(
        proxy.stderr_after(2),
        ["oops 1", SENTINEL, "oops 2", SENTINEL]
    );
}

#[test]
fn node_action_non_dictionary_result_is_502() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init("function main(p) { return p.kind === 'num' ? 42 : ['a']; }");
    for kind in ["num", "array"] {
        assert_eq!(
            proxy.run(json!({"kind": kind})),
            (
                502,
                json!({"error": "The action did not return a dictionary."})
            )
        );
    }
    // Sentinels are written for failed activations too.
    proxy.stdout_after(2);
    proxy.stderr_after(2);
}

#[test]
fn node_action_exception_becomes_error_result() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init("function main() { throw new Error('boom'); }");
    assert_eq!(
        proxy.run(json!({})),
        (200, json!({"error": "An error has occurred: Error: boom"}))
    );
    // The stack trace is in the logs, before the sentinel.
    let stderr = proxy.stderr_after(1);
    assert!(stderr[0].contains("Error: boom"), "{stderr:?}");
    assert_eq!(stderr.last().unwrap(), SENTINEL);
}

#[test]
fn node_action_promise_results() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init(
        "async function main(p) { \
           await new Promise(r => setTimeout(r, 50)); \
           if (p.fail) { throw new Error('late'); } \
           console.log('resolved'); return { late: true }; }",
    );
    assert_eq!(proxy.run(json!({})), (200, json!({"late": true})));
    let (status, body) = proxy.run(json!({"fail": true}));
    assert_eq!(status, 200);
    assert_eq!(body["error"]["message"], "late");
    assert_eq!(proxy.stdout_after(2), ["resolved", SENTINEL, SENTINEL]);
}

#[test]
fn node_action_stays_warm_between_runs() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy
        .init("let count = 0; function main() { count += 1; return { count, pid: process.pid }; }");
    let (_, first) = proxy.run(json!({}));
    let (_, second) = proxy.run(json!({}));
    assert_eq!(first["count"], 1);
    assert_eq!(second["count"], 2);
    assert_eq!(first["pid"], second["pid"]);
}

#[test]
fn node_action_that_exits_breaks_the_action() {
    let proxy = Proxy::start(Some("nodejs:20"));
    proxy.init("function main() { console.error('leaving'); process.exit(3); }");
    let (status, body) = proxy.run(json!({}));
    assert_eq!(status, 502);
    assert_eq!(
        body,
        json!({"error": "An error has occurred (see logs for details): The action's process exited (exit status: 3)."})
    );
    assert_eq!(proxy.stderr_after(1), ["leaving", SENTINEL]);
    // No restart: later runs fail the same way, and still end with sentinels.
    assert_eq!(proxy.run(json!({})), (status, body));
    proxy.stdout_after(2);
}

#[test]
fn concurrent_runs_are_serialized_with_one_sentinel_each() {
    let proxy = std::sync::Arc::new(Proxy::start(Some("nodejs:20")));
    proxy.init(
        "let busy = false; async function main(p) { \
           if (busy) throw new Error('overlap'); busy = true; console.log('start ' + p.i); \
           await new Promise(r => setTimeout(r, 20)); console.log('end ' + p.i); \
           busy = false; return { i: p.i }; }",
    );
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let proxy = proxy.clone();
            std::thread::spawn(move || proxy.run(json!({ "i": i })))
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        assert_eq!(run.join().unwrap(), (200, json!({ "i": i })));
    }
    let stdout = proxy.stdout_after(4);
    assert_eq!(stdout.len(), 12, "{stdout:?}");
    for activation in stdout.chunks(3) {
        let i = activation[0].strip_prefix("start ").expect("start line");
        assert_eq!(activation[1], format!("end {i}"));
        assert_eq!(activation[2], SENTINEL);
    }
}

// ---- python ----

#[test]
fn python_action_gets_params_context_and_stays_warm() {
    let proxy = Proxy::start(Some("python:3"));
    let code = "import os\n\
                count = 0\n\
                def main(args):\n\
                \x20   global count\n\
                \x20   count += 1\n\
                \x20   print('hello', args['name'])\n\
                \x20   return {'greeting': 'hello ' + args['name'], 'count': count,\n\
                \x20           'id': os.environ['__OW_ACTIVATION_ID'], 'pid': os.getpid()}\n";
    assert_eq!(proxy.init(code), (200, json!({"ok": true})));
    let (status, first) = proxy.run(json!({"name": "py"}));
    assert_eq!(status, 200);
    assert_eq!(first["greeting"], "hello py");
    assert_eq!(first["id"], "0123456789abcdef");
    assert_eq!(first["count"], 1);
    let (_, second) = proxy.run(json!({"name": "py"}));
    assert_eq!(second["count"], 2);
    assert_eq!(first["pid"], second["pid"]);
    assert_eq!(
        proxy.stdout_after(2),
        ["hello py", SENTINEL, "hello py", SENTINEL]
    );
}

#[test]
fn python_action_exception_and_non_dictionary() {
    let proxy = Proxy::start(Some("python:3"));
    let code = "def main(args):\n\
                \x20   if args.get('fail'):\n\
                \x20       raise ValueError('bad input')\n\
                \x20   return 'text'\n";
    proxy.init(code);
    assert_eq!(
        proxy.run(json!({"fail": true})),
        (200, json!({"error": "bad input"}))
    );
    let stderr = proxy.stderr_after(1);
    assert!(
        stderr.iter().any(|l| l.contains("ValueError: bad input")),
        "{stderr:?}"
    );
    assert_eq!(
        proxy.run(json!({})),
        (
            502,
            json!({"error": "The action did not return a dictionary."})
        )
    );
}

#[test]
fn python_init_failure_is_reported() {
    let proxy = Proxy::start(Some("python:3"));
    let (status, body) = proxy.init("def handler(args):\n    return {}\n");
    assert_eq!(status, 502);
    assert_eq!(
        body,
        json!({"error": "Initialization has failed due to: Action entrypoint 'main' is not a function."})
    );
}

// ---- native ----

#[test]
fn native_script_result_is_last_stdout_line() {
    let proxy = Proxy::start(Some("native"));
    assert_eq!(
        proxy.init("#!/bin/sh\necho log line\necho '{\"ok\":true}'\n"),
        (200, json!({"ok": true}))
    );
    assert_eq!(proxy.run(json!({})), (200, json!({"ok": true})));
    assert_eq!(proxy.stdout_after(1), ["log line", SENTINEL]);
    assert_eq!(proxy.stderr_after(1), [SENTINEL]);
}

#[test]
fn native_script_gets_params_and_context() {
    let proxy = Proxy::start(Some("blackbox"));
    let script = "#!/bin/sh\n\
                  echo to stderr >&2\n\
                  echo \"{\\\"args\\\": $1, \\\"id\\\": \\\"$__OW_ACTIVATION_ID\\\", \\\"stdin\\\": $(cat)}\"\n";
    let code = base64::engine::general_purpose::STANDARD.encode(script);
    let init = json!({"value": {"code": code, "binary": true, "main": "ignored"}});
    assert_eq!(proxy.post("/init", &init).0, 200);
    let params = json!({"name": "sh", "n": [1, 2]});
    assert_eq!(
        proxy.run(params.clone()),
        (
            200,
            json!({"args": params, "id": "0123456789abcdef", "stdin": params})
        )
    );
    assert_eq!(proxy.stderr_after(1), ["to stderr", SENTINEL]);
}

#[test]
fn native_script_runs_fresh_per_activation_and_reports_non_dictionary() {
    let proxy = Proxy::start(Some("native"));
    proxy.init("#!/bin/sh\necho \"{\\\"pid\\\": $$}\"\n");
    let (_, first) = proxy.run(json!({}));
    let (_, second) = proxy.run(json!({}));
    assert_ne!(first["pid"], second["pid"]);

    let proxy = Proxy::start(Some("native"));
    proxy.init("#!/bin/sh\necho before\necho not json\nexit 1\n");
    assert_eq!(
        proxy.run(json!({})),
        (
            502,
            json!({"error": "The action did not return a dictionary."})
        )
    );
    // What was not a result is still logged.
    assert_eq!(proxy.stdout_after(1), ["before", "not json", SENTINEL]);
}

#[test]
fn native_code_must_be_executable() {
    let proxy = Proxy::start(Some("native"));
    let (status, body) = proxy.init("echo no interpreter line");
    assert_eq!(status, 502);
    assert!(body["error"].as_str().unwrap().contains("#!"), "{body}");
}
