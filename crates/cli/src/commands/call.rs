//! `toolhost call`.

use crate::commands::ask;
use crate::host_args::HostArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use toolhost::interact::{Answers, InputResponse};
use toolhost::{CallRequest, CallResponse, Error, Host};

/// Most rounds of questions one `toolhost call` answers on a terminal.
const MAX_ROUNDS: usize = 10;

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// Tool name, exactly as listed.
    tool: String,
    /// Arguments as a JSON object; `-` reads them from stdin. Default: `{}`.
    #[arg(default_value = "{}")]
    args: String,
    #[command(flatten)]
    host: HostArgs,
    /// Timeout for this call, milliseconds (overrides the tool's).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print one JSON object: `{"ok": true, ...}` or `{"ok": false, "error": {...}}`
    /// (an `INPUT_REQUIRED` error holds the question under `error.details.input_requests`).
    #[arg(long)]
    json: bool,
    /// Metadata for the call's context, `KEY=VALUE` (repeatable); the guest
    /// reads it in its call context.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = crate::host_args::meta_arg)]
    meta: Vec<(String, String)>,
    /// Answer to a question the tool asked (`INPUT_REQUIRED`), `KEY=JSON`
    /// (repeatable): the key from the error (`in_…`) and an elicitation result
    /// (`{"action":"accept","content":{…}}`, `{"action":"decline"}`) or a
    /// sampling result (`{"role":"assistant","content":{"type":"text","text":"…"},"model":"…"}`).
    #[arg(long = "answer", value_name = "KEY=JSON", value_parser = answer_arg)]
    answer: Vec<(String, InputResponse)>,
    /// Answers from a JSON file `{"in_…": answer, …}` (the shape of the HTTP
    /// API's `input_responses`); `--answer` wins for the same key.
    #[arg(long = "answers", value_name = "FILE")]
    answers: Option<std::path::PathBuf>,
    /// Never ask on the terminal: a question ends the call with `INPUT_REQUIRED`
    /// (the default when stdin is not a terminal).
    #[arg(long)]
    no_input: bool,
}

pub(crate) const ASKING_HELP: &str = "\
Asking the user:
  A tool may ask a question while it runs (a form, a URL to visit, a model
  completion), and `[policy] confirm_destructive = true` asks before any tool
  annotated destructive runs. On a terminal (stdin a TTY, no --no-input) the
  question is asked here and the call runs again with the answer, up to 10
  rounds. Otherwise the call fails with INPUT_REQUIRED (exit 1); the error
  names the question's key, and the same call with the answer runs:

    toolhost call files.purge '{\"suffix\":\".tmp\"}' --json
    # {\"ok\":false,\"error\":{\"code\":\"INPUT_REQUIRED\",…,\"details\":{\"input_requests\":{\"in_…\":{…}}}}}
    toolhost call files.purge '{\"suffix\":\".tmp\"}' \\
      --answer 'in_…={\"action\":\"accept\",\"content\":{\"confirm\":true}}'";

/// Parses `KEY=JSON` into a key and an answer.
fn answer_arg(s: &str) -> Result<(String, InputResponse), String> {
    let (key, json) = s.split_once('=').ok_or("expected KEY=JSON, e.g. in_0123…={\"action\":\"decline\"}")?;
    let key = key.trim();
    if key.is_empty() {
        return Err("the key before `=` is empty".into());
    }
    let answer = serde_json::from_str(json).map_err(|_| {
        format!(
            "the answer for {key} is not an elicitation result {{\"action\":\"accept\"|\"decline\"|\"cancel\",\"content\"?:{{…}}}} or a sampling result {{\"role\",\"content\",\"model\"}}"
        )
    })?;
    Ok((key.to_string(), answer))
}

impl CallArgs {
    /// The answers given on the command line (`--answers` file, then `--answer`).
    fn given_answers(&self) -> Result<BTreeMap<String, InputResponse>> {
        let mut given = BTreeMap::new();
        if let Some(path) = &self.answers {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            given = toolhost::exec::parse_input_responses(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        given.extend(self.answer.iter().cloned());
        Ok(given)
    }

    fn request(&self, args: &str, given: &BTreeMap<String, InputResponse>) -> CallRequest {
        let mut req = CallRequest::new(&self.tool, args);
        req.tenant = self.host.tenant.clone();
        req.timeout = self.timeout_ms.map(Duration::from_millis);
        req.metadata = self.meta.clone();
        if !given.is_empty() {
            req = req.interact(Arc::new(Answers::new(given.clone(), None)));
        }
        req
    }
}

pub(crate) async fn run(a: CallArgs) -> Result<ExitCode> {
    let host = a.host.host().await?;
    let args = if a.args == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading arguments from stdin")?;
        s
    } else {
        a.args.clone()
    };
    let mut given = a.given_answers()?;
    let interactive = !a.no_input && a.args != "-" && std::io::stdin().is_terminal();
    let result = call_answering(&host, &a, &args, &mut given, interactive).await?;
    report(&a, result)
}

/// Runs the call; on a terminal, answers its questions and runs it again.
async fn call_answering(
    host: &Host,
    a: &CallArgs,
    args: &str,
    given: &mut BTreeMap<String, InputResponse>,
    interactive: bool,
) -> Result<Result<CallResponse, Error>> {
    for round in 1.. {
        let result = host.call(a.request(args, given)).await;
        let Err(Error::InputRequired { key, request, .. }) = &result else { return Ok(result) };
        if !interactive || round > MAX_ROUNDS || given.contains_key(key) {
            if interactive && round > MAX_ROUNDS {
                eprintln!("toolhost: the tool asked {MAX_ROUNDS} rounds of questions; giving up");
            }
            return Ok(result);
        }
        let (key, request) = (key.clone(), (**request).clone());
        let answer = tokio::task::spawn_blocking(move || ask::on_terminal(&request)).await??;
        match answer {
            Some(answer) => {
                given.insert(key, answer);
            }
            None => bail!("the question cannot be answered on a terminal; pass --answer {key}=JSON"),
        }
    }
    unreachable!("the loop returns")
}

fn report(a: &CallArgs, result: Result<CallResponse, Error>) -> Result<ExitCode> {
    match result {
        Ok(res) => {
            if a.json {
                let doc = serde_json::json!({
                    "ok": true,
                    "call_id": res.call_id,
                    "tool": res.tool,
                    "value": res.output.value,
                    "content": res.output.content,
                    "attempts": res.attempts,
                    "cached": res.cached,
                    "stats": res.stats,
                });
                println!("{doc}");
            } else {
                println!("{}", res.output.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                println!("{}", serde_json::json!({ "ok": false, "error": e.to_json() }));
            } else {
                eprintln!("error: {}: {e}", e.code());
                if let Error::InputRequired { key, request, .. } = &e {
                    eprintln!("question {key}: {}", serde_json::to_string(request).unwrap_or_default());
                    eprintln!("answer it with --answer '{key}=JSON' (see `toolhost call --help`)");
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}
