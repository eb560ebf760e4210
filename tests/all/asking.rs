//! Asking the user (contract 0.2, issue 16) outside MCP: a guest's `elicit`
//! and `[policy] confirm_destructive` end a call with `INPUT_REQUIRED`
//! carrying the question and its key; the caller answers and calls again
//! (`Answers`, `ToolCall::input_responses`, HTTP `input_responses`,
//! `toolhost call --answer`). Uses the example plugin `confirm`
//! (`account.signup` asks a form, `files.purge` is destructive).

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use toolhost::exec::confirm::confirmation_request;
use toolhost::interact::{Answers, ElicitRequest, InputRequest, InputResponse};
use toolhost::{CallOptions, CallRequest, Error, ExecutionContext, Host, ToolCall, ToolErrorKind};

/// A folder with `confirm.wasm`, its `/data` granted (read-only) over a temp
/// dir holding `a.tmp`, `b.tmp` and `keep.txt`, and `toolhost.toml` = `config`.
pub(crate) struct ConfirmFolder {
    pub(crate) folder: Folder,
    _data: tempfile::TempDir,
    pub(crate) config: String,
}

pub(crate) fn confirm_folder(config: &str) -> ConfirmFolder {
    let folder = Folder::new();
    let data = tempfile::tempdir().unwrap();
    for f in ["a.tmp", "b.tmp", "keep.txt"] {
        std::fs::write(data.path().join(f), "x").unwrap();
    }
    folder.wasm("confirm", &std::fs::read(example_plugins().join("confirm.wasm")).unwrap());
    let grant = format!(
        "[limits]\ntimeout_ms = 20000\n[config]\ndir = \"/data\"\n[grants]\ndirs = [{{ host = {:?}, guest = \"/data\" }}]\n",
        data.path().display().to_string()
    );
    folder.manifest("confirm", &grant);
    ConfirmFolder { folder, _data: data, config: config.to_string() }
}

impl ConfirmFolder {
    pub(crate) async fn host(&self) -> Host {
        let mut cfg = toolhost::Config::from_toml(&self.config).unwrap();
        cfg.plugins_dir = self.folder.path().to_path_buf();
        cfg.cache_dir = Some(shared_cache());
        let host = Host::builder().config(cfg).build().await.unwrap();
        assert_loaded(&host, "confirm");
        host
    }
}

const CONFIRM_ON: &str = "[policy]\nconfirm_destructive = true\n";
const PURGE_DRY: &str = r#"{"suffix": ".tmp", "dry_run": true}"#;

fn answers(pairs: &[(&str, Value)]) -> Arc<Answers> {
    let given: BTreeMap<String, InputResponse> =
        pairs.iter().map(|(k, v)| (k.to_string(), serde_json::from_value(v.clone()).unwrap())).collect();
    Arc::new(Answers::new(given, None))
}

fn input_required(e: &Error) -> (String, InputRequest) {
    match e {
        Error::InputRequired { key, request, .. } => (key.clone(), (**request).clone()),
        other => panic!("expected INPUT_REQUIRED, got {}: {other}", other.code()),
    }
}

/// One call through every policy; the result (with `attempts`).
async fn execute(host: &Host, tool: &str, args: &str, given: &[(&str, Value)]) -> toolhost::CallResult {
    let mut call = ToolCall::new(tool, args);
    if !given.is_empty() {
        let map = given.iter().map(|(k, v)| (k.to_string(), serde_json::from_value(v.clone()).unwrap()));
        call = call.with_input_responses(map.collect());
    }
    host.execute(&ExecutionContext::default(), call, &CallOptions::default()).await
}

fn accept(content: Value) -> Value {
    json!({ "action": "accept", "content": content })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_form_ends_with_input_required_and_the_answer_runs_it_again() {
    let f = confirm_folder("");
    let host = f.host().await;
    let args = r#"{"email": "ada@example.com"}"#;
    let e = host.call(CallRequest::new("account.signup", args)).await.unwrap_err();
    let (key, request) = input_required(&e);
    let InputRequest::Elicit(ElicitRequest::Form { message, requested_schema }) = &request else {
        panic!("a form: {request:?}")
    };
    assert_eq!(message, "Create your account");
    assert_eq!(requested_schema["properties"]["email"]["default"], "ada@example.com");
    assert_eq!(key, request.key());
    let j = e.to_json();
    assert_eq!(j["code"], "INPUT_REQUIRED");
    assert_eq!(j["details"]["input_requests"][&key]["method"], "elicitation/create");
    assert_eq!(j["details"]["input_requests"][&key]["params"]["mode"], "form");

    let form = accept(json!({"name": "Ada", "email": "ada@example.com", "plan": "pro"}));
    let req = CallRequest::new("account.signup", args).interact(answers(&[(&key, form.clone())]));
    let out = host.call(req).await.expect("the answered call runs");
    assert_eq!(out.output.value.as_ref().unwrap()["status"], "created");
    assert_eq!(out.output.value.as_ref().unwrap()["account"]["plan"], "pro");
    // The same through the executor's per-call answers.
    let r = execute(&host, "account.signup", args, &[(&key, form)]).await;
    assert_eq!(r.result.unwrap().value.as_ref().unwrap()["status"], "created");
    // Declined: the guest decides (this one reports it).
    let r = execute(&host, "account.signup", args, &[(&key, json!({"action": "decline"}))]).await;
    assert_eq!(r.result.unwrap().value, Some(json!({"status": "declined"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_destructive_asks_before_any_guest_code_runs() {
    let f = confirm_folder(CONFIRM_ON);
    let host = f.host().await;
    let r = execute(&host, "files.purge", PURGE_DRY, &[]).await;
    assert_eq!(r.attempts, 0, "no attempt before the confirmation");
    let e = r.result.unwrap_err();
    let (key, request) = input_required(&e);
    let want = confirmation_request("files.purge", &serde_json::from_str(PURGE_DRY).unwrap());
    assert_eq!((key.as_str(), &request), (want.key().as_str(), &want));
    let InputRequest::Elicit(ElicitRequest::Form { message, requested_schema }) = &request else { panic!() };
    assert!(message.starts_with("Run destructive tool 'files.purge' with these arguments? {"), "{message}");
    assert_eq!(requested_schema["properties"]["confirm"]["type"], "boolean");
    assert_eq!(requested_schema["required"], json!(["confirm"]));

    let yes = accept(json!({"confirm": true}));
    let r = execute(&host, "files.purge", PURGE_DRY, &[(&key, yes.clone())]).await;
    assert_eq!(r.attempts, 1);
    assert_eq!(r.result.unwrap().value, Some(json!({"files": ["a.tmp", "b.tmp"], "dry_run": true})));
    // The same answer confirms only these arguments.
    let other = r#"{"suffix": ".txt", "dry_run": true}"#;
    let r = execute(&host, "files.purge", other, &[(&key, yes)]).await;
    assert_ne!(input_required(&r.result.unwrap_err()).0, key);
    // Non-destructive tools are not gated (account.signup asks its own form).
    let e = host.call(CallRequest::new("account.signup", "{}")).await.unwrap_err();
    let (_, InputRequest::Elicit(ElicitRequest::Form { message, .. })) = input_required(&e) else { panic!() };
    assert_eq!(message, "Create your account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_confirmation_is_a_denied_error_and_nothing_runs() {
    let f = confirm_folder(&format!("{CONFIRM_ON}fallback = \"fell back\"\n"));
    let host = f.host().await;
    let key = confirmation_request("files.purge", &serde_json::from_str(PURGE_DRY).unwrap()).key();
    for (answer, confirmation) in [
        (json!({"action": "decline"}), "declined"),
        (json!({"action": "cancel"}), "cancelled"),
        (accept(json!({"confirm": false})), "rejected"),
    ] {
        let r = execute(&host, "files.purge", PURGE_DRY, &[(&key, answer)]).await;
        assert_eq!((r.attempts, r.fallback_for.is_none()), (0, true), "no attempt, no fallback");
        let e = r.result.unwrap_err();
        assert!(matches!(e, Error::Tool { kind: ToolErrorKind::Denied, retryable: false, .. }), "{e}");
        assert_eq!(e.to_json()["details"]["tool_details"]["confirmation"], confirmation);
        assert!(e.to_string().contains("was not run"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_destructive_is_off_by_default_and_per_tool() {
    for config in [
        "",
        "[policy]\nconfirm_destructive = false\n",
        "[policy]\nconfirm_destructive = true\n[policy.tools.\"files.purge\"]\nconfirm_destructive = false\n",
    ] {
        let f = confirm_folder(config);
        let host = f.host().await;
        let r = execute(&host, "files.purge", PURGE_DRY, &[]).await;
        assert_eq!(r.result.unwrap().value.clone().unwrap()["files"], json!(["a.tmp", "b.tmp"]), "{config}");
    }
    let f = confirm_folder("[[policy.patterns]]\npattern = \"files.*\"\nconfirm_destructive = true\n");
    let r = execute(&f.host().await, "files.purge", PURGE_DRY, &[]).await;
    assert_eq!(r.result.unwrap_err().code().as_str(), "INPUT_REQUIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_malformed_and_unknown_answers() {
    let f = confirm_folder(CONFIRM_ON);
    let host = f.host().await;
    let key = confirmation_request("files.purge", &serde_json::from_str(PURGE_DRY).unwrap()).key();
    let sampled = json!({"role": "assistant", "content": {"type": "text", "text": "yes"}, "model": "m"});
    // A sampling result where a confirmation is asked: the caller's error, nothing runs.
    for wrong in [sampled.clone(), accept(json!({"confirm": "yes"})), json!({"action": "accept"})] {
        let r = execute(&host, "files.purge", PURGE_DRY, &[(&key, wrong)]).await;
        let e = r.result.unwrap_err();
        assert_eq!((e.code().as_str(), r.attempts), ("TOOL_VALIDATION_ERROR", 0), "{e}");
        assert!(e.to_string().contains(&key), "{e}");
    }
    // A sampling result for a guest's form: the guest's elicit fails, the call does not succeed.
    let form_key = input_required(&host.call(CallRequest::new("account.signup", "{}")).await.unwrap_err()).0;
    let r = execute(&host, "account.signup", "{}", &[(&form_key, sampled)]).await;
    let e = r.result.unwrap_err();
    assert_eq!(e.code().as_str(), "TOOL_EXECUTION_FAILED", "{e}");
    // An answer for a key nobody asks is ignored: the real question is still asked.
    let r = execute(
        &host,
        "files.purge",
        PURGE_DRY,
        &[("in_0000000000000000", accept(json!({"confirm": true})))],
    )
    .await;
    assert_eq!(input_required(&r.result.unwrap_err()).0, key);
    // Unreadable answers (as a front door parses them) fail the call before anything runs.
    let mut call = ToolCall::new("files.purge", PURGE_DRY);
    call.input_responses = toolhost::exec::parse_input_responses(r#"{"in_x": 42}"#);
    let r = host.execute(&ExecutionContext::default(), call, &CallOptions::default()).await;
    let e = r.result.unwrap_err();
    assert_eq!(e.code().as_str(), "TOOL_VALIDATION_ERROR");
    assert!(e.to_string().contains("input_responses.in_x"), "{e}");
}

/// `POST /v1/calls` on a real listener: `INPUT_REQUIRED` with the question,
/// then the same call with `input_responses` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_calls_answer_questions_with_input_responses() {
    let f = confirm_folder(CONFIRM_ON);
    let server =
        toolhost_serve::HttpServer::bind(f.host().await, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}/v1/calls?order=submission", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let post = |body: Value| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let purge = json!({"tool": "files.purge", "arguments": {"suffix": ".tmp", "dry_run": true}});
    let (status, doc) = post(purge.clone()).await;
    assert_eq!((status, &doc["ok"]), (200, &json!(false)), "{doc}");
    let err = &doc["results"][0]["error"];
    assert_eq!(err["code"], "INPUT_REQUIRED", "{doc}");
    let requests = err["details"]["input_requests"].as_object().unwrap();
    assert_eq!(requests.len(), 1);
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["mode"], "form");
    assert_eq!(request["params"]["requestedSchema"]["required"], json!(["confirm"]));
    assert!(doc["results"][0]["text"].as_str().unwrap().contains(key.as_str()), "{doc}");

    // A batch: the confirmed purge runs, a declined one is denied, a malformed answer fails its call only.
    let mut yes = purge.clone();
    yes["input_responses"] = json!({ key.as_str(): {"action": "accept", "content": {"confirm": true}} });
    let mut no = purge.clone();
    no["input_responses"] = json!({ key.as_str(): {"action": "decline"} });
    let mut bad = purge.clone();
    bad["input_responses"] = json!({ "in_x": 42 });
    let (status, doc) = post(json!([yes, no, bad])).await;
    assert_eq!(status, 200, "{doc}");
    let r = doc["results"].as_array().unwrap();
    assert_eq!(r[0]["value"], json!({"files": ["a.tmp", "b.tmp"], "dry_run": true}), "{doc}");
    assert_eq!(r[1]["error"]["code"], "TOOL_EXECUTION_FAILED");
    assert_eq!(r[1]["error"]["details"]["kind"], "denied");
    assert_eq!(r[2]["error"]["code"], "TOOL_VALIDATION_ERROR");

    // A guest's own form over the OpenAI shape: the answer sits beside `function`.
    let signup =
        json!({"id": "c1", "type": "function", "function": {"name": "account.signup", "arguments": "{}"}});
    let (_, doc) = post(json!({ "tool_calls": [signup.clone()] })).await;
    let requests = doc["results"][0]["error"]["details"]["input_requests"].as_object().unwrap().clone();
    let key = requests.keys().next().unwrap();
    let mut answered = signup;
    answered["input_responses"] =
        json!({ key.as_str(): accept(json!({"name": "Ada", "email": "ada@example.com", "plan": "team"})) });
    let (_, doc) = post(json!({ "tool_calls": [answered] })).await;
    assert_eq!(doc["results"][0]["call_id"], "c1");
    assert_eq!(doc["results"][0]["value"]["account"]["plan"], "team", "{doc}");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

fn cli(f: &ConfirmFolder, args: &[&str]) -> std::process::Output {
    std::fs::write(f.folder.path().join("toolhost.toml"), &f.config).unwrap();
    std::process::Command::new(crate::cli::bin())
        .args(args)
        .arg("--plugins")
        .arg(f.folder.path())
        .arg("--config")
        .arg(f.folder.path().join("toolhost.toml"))
        .arg("--cache-dir")
        .arg(shared_cache())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn cli_call_prints_the_question_and_takes_answers() {
    let f = confirm_folder(CONFIRM_ON);
    let out = cli(&f, &["call", "files.purge", PURGE_DRY, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "INPUT_REQUIRED", "{doc}");
    let key = doc["error"]["details"]["input_requests"].as_object().unwrap().keys().next().unwrap().clone();
    // Without --json: the question and how to answer it, on stderr.
    let out = cli(&f, &["call", "files.purge", PURGE_DRY]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INPUT_REQUIRED") && err.contains(&format!("--answer '{key}=JSON'")), "{err}");

    let yes = format!(r#"{key}={{"action":"accept","content":{{"confirm":true}}}}"#);
    let out = cli(&f, &["call", "files.purge", PURGE_DRY, "--json", "--answer", &yes]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["value"]["files"], json!(["a.tmp", "b.tmp"]));
    // --answers FILE, declined.
    let file = f.folder.path().join("answers.json");
    std::fs::write(&file, json!({ key.as_str(): {"action": "decline"} }).to_string()).unwrap();
    let out = cli(&f, &["call", "files.purge", PURGE_DRY, "--json", "--answers", file.to_str().unwrap()]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), &doc["error"]["details"]["kind"]), (Some(1), &json!("denied")), "{doc}");
    // A malformed --answer is refused by the argument parser (exit 2).
    let out = cli(&f, &["call", "files.purge", PURGE_DRY, "--answer", "in_x=42"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in_x"));
}

/// On a terminal (`script` gives the CLI a pty), the form is asked field by
/// field and the call runs again with the answers.
#[test]
fn cli_call_asks_on_a_terminal() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to give the CLI a terminal");
        return;
    }
    let f = confirm_folder(CONFIRM_ON);
    std::fs::write(f.folder.path().join("toolhost.toml"), &f.config).unwrap();
    let command = format!(
        "{} call account.signup '{{}}' --plugins {} --config {} --cache-dir {}",
        crate::cli::bin().display(),
        f.folder.path().display(),
        f.folder.path().join("toolhost.toml").display(),
        shared_cache().display()
    );
    // Required fields first (name, email, plan), then newsletter (default).
    let typed = "Ada\nada@example.com\n2\n\n";
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // Typed after the prompt appears; the pty buffers it either way.
        std::thread::sleep(std::time::Duration::from_millis(500));
        stdin.write_all(typed.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Create your account") && text.contains("Full name"), "{text}");
    assert!(text.contains(r#""status": "created""#) || text.contains(r#""status":"created""#), "{text}");
    assert!(text.contains("\"plan\"") && text.contains("pro"), "{text}");
}
