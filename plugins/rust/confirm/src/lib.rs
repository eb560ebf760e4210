//! toolhost example plugin `confirm`: tools that need a human in the loop.
//!
//! | tool | hints | what |
//! |---|---|---|
//! | `files.purge` | destructive | deletes the files ending in `suffix` (older than `older_than_days`) from the granted directory `[config] dir` (default `/data`); `dry_run` only lists them. With `[policy] confirm_destructive = true` the host asks the user before it runs |
//! | `account.signup` | open-world | asks the user a form (name, email, plan, newsletter) and returns the account it would create |
//! | `account.connect` | open-world | sends the user to `[config] auth_url` to sign in (URL elicitation) |
//!
//! The host may end a call that asks the user and run it again from the start once the
//! answer arrives, so the tools ask first and act afterwards.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use toolhost_sdk::prelude::*;
use toolhost_sdk::{ElicitAction, ElicitResponse};

/// Arguments of `files.purge`.
#[derive(Deserialize, JsonSchema)]
struct PurgeArgs {
    /// Delete files whose name ends with this, e.g. `.tmp` or `.log` (never empty).
    suffix: String,
    /// Only files last modified more than this many days ago (default: any age).
    #[serde(default)]
    older_than_days: Option<u32>,
    /// List what would be deleted without deleting anything.
    #[serde(default)]
    dry_run: bool,
}

/// Result of `files.purge`.
#[derive(Serialize, JsonSchema)]
struct Purged {
    /// The files deleted (or, with `dry_run`, that would be).
    files: Vec<String>,
    /// Whether this was a dry run.
    dry_run: bool,
}

/// The directory `files.purge` works in, as the guest sees it.
fn data_dir() -> PathBuf {
    PathBuf::from(config("dir").unwrap_or_else(|| "/data".to_owned()))
}

/// Whether `path` was last modified before `cutoff` (`None`: any age).
fn old_enough(path: &Path, cutoff: Option<SystemTime>) -> bool {
    let Some(cutoff) = cutoff else { return true };
    fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| t < cutoff)
}

fn fs_error(action: &str, path: &Path, e: std::io::Error) -> ToolError {
    let message = format!("cannot {action} {}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            ToolError::denied(format!("{message}; the directory must be granted writable"))
        }
        std::io::ErrorKind::NotFound => ToolError::not_found(message),
        _ => ToolError::internal(message),
    }
}

fn purge(a: PurgeArgs, _ctx: &Context) -> Result<Purged, ToolError> {
    if a.suffix.is_empty() || a.suffix.contains('/') {
        return Err(ToolError::invalid_input("`suffix` must be a non-empty file-name ending such as `.tmp`"));
    }
    let cutoff = a.older_than_days.map(|d| {
        let age = Duration::from_secs(u64::from(d) * 86_400);
        SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH)
    });
    let dir = data_dir();
    let entries = fs::read_dir(&dir).map_err(|e| fs_error("list", &dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| fs_error("list", &dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !name.ends_with(&a.suffix) || !path.is_file() || !old_enough(&path, cutoff) {
            continue;
        }
        if !a.dry_run {
            fs::remove_file(&path).map_err(|e| fs_error("delete", &path, e))?;
        }
        files.push(name);
    }
    files.sort();
    Ok(Purged { files, dry_run: a.dry_run })
}

/// Arguments of `account.signup`.
#[derive(Deserialize, JsonSchema)]
struct SignupArgs {
    /// An email address to suggest in the form, if the conversation mentioned one.
    #[serde(default)]
    email: Option<String>,
}

/// What the signup form returns.
#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct Account {
    name: String,
    email: String,
    plan: String,
    #[serde(default)]
    newsletter: bool,
}

/// The signup form: a flat object of primitives, with a titled enum for the plan.
fn signup_form(email: Option<&str>) -> Value {
    let mut email_field = json!({ "type": "string", "title": "Email", "format": "email" });
    if let Some(e) = email {
        email_field["default"] = json!(e);
    }
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "title": "Full name", "minLength": 1 },
            "email": email_field,
            "plan": {
                "type": "string",
                "title": "Plan",
                "oneOf": [
                    { "const": "free", "title": "Free" },
                    { "const": "pro", "title": "Pro ($10/month)" },
                    { "const": "team", "title": "Team ($25/user/month)" }
                ],
                "default": "free"
            },
            "newsletter": { "type": "boolean", "title": "Send me the monthly newsletter", "default": false }
        },
        "required": ["name", "email", "plan"]
    })
}

/// The outcome of a form the user did not accept.
fn not_accepted(answer: &ElicitResponse) -> Value {
    let status = if answer.action == ElicitAction::Decline { "declined" } else { "cancelled" };
    json!({ "status": status })
}

fn signup(a: SignupArgs, ctx: &Context) -> Result<Value, ToolError> {
    let form = ElicitRequest::form("Create your account", signup_form(a.email.as_deref()));
    let answer = ctx.elicit(&form)?;
    let Some(account) = answer.accepted::<Account>()? else {
        return Ok(not_accepted(&answer));
    };
    if !account.email.contains('@') || account.name.trim().is_empty() {
        return Err(ToolError::invalid_input("the form needs a name and a valid email address"));
    }
    // A real plugin would now call its service's API (with a [grants.http] host).
    ctx.info(format!("signing up {} on plan {}", account.email, account.plan));
    Ok(json!({ "status": "created", "account": account }))
}

fn connect(_: NoArgs, ctx: &Context) -> Result<Value, ToolError> {
    let url = ctx.config_or("auth_url", "https://example.com/oauth/authorize");
    let id = format!("connect-{}", ctx.call_id());
    let answer = ctx.elicit(&ElicitRequest::url("Sign in to connect your account", &url, &id))?;
    Ok(match answer.action {
        ElicitAction::Accept => json!({ "status": "connected", "elicitation_id": id }),
        _ => not_accepted(&answer),
    })
}

toolhost_sdk::plugin! {
    tool("files.purge", "Delete the files ending in `suffix` (optionally only those older than `older_than_days`) from the data directory. Use `dry_run` to see what would go.", purge)
        .title("Purge files")
        .destructive()
        .output_schema(),
    tool("account.signup", "Sign the user up for an account; asks them for their details.", signup)
        .title("Sign up")
        .open_world(),
    tool("account.connect", "Connect the user's account by sending them to the sign-in page.", connect)
        .title("Connect account")
        .open_world(),
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_sdk::testing::{self, HostEvent};

    fn call(name: &str, args: Value) -> Result<Value, ToolError> {
        plugin_registry()
            .call(name, &args.to_string(), &Context::new("t1"))
            .map(|o| o.value().cloned().unwrap_or(Value::Null))
    }

    #[test]
    fn purge_is_destructive_and_honours_dry_run() {
        let d = plugin_registry().get("files.purge").unwrap().descriptor();
        assert!(d.annotations.destructive && !d.annotations.read_only && !d.idempotent);

        let dir = std::env::temp_dir().join(format!("toolhost-purge-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for f in ["a.tmp", "b.tmp", "keep.txt"] {
            fs::write(dir.join(f), "x").unwrap();
        }
        testing::reset();
        testing::set_config("dir", dir.to_str().unwrap());

        let dry = call("files.purge", json!({ "suffix": ".tmp", "dry_run": true })).unwrap();
        assert_eq!(dry, json!({ "files": ["a.tmp", "b.tmp"], "dry_run": true }));
        assert!(dir.join("a.tmp").exists());
        let old = call("files.purge", json!({ "suffix": ".tmp", "older_than_days": 1 })).unwrap();
        assert_eq!(old["files"], json!([]), "fresh files are not old enough");
        call("files.purge", json!({ "suffix": ".tmp" })).unwrap();
        assert!(!dir.join("a.tmp").exists() && dir.join("keep.txt").exists());
        assert_eq!(call("files.purge", json!({ "suffix": "" })).unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn signup_asks_then_creates() {
        testing::reset();
        let form = json!({ "name": "Ada", "email": "ada@example.com", "plan": "pro" });
        testing::answer_elicit(Ok(ElicitResponse::accept(form)));
        let out = call("account.signup", json!({ "email": "ada@example.com" })).unwrap();
        assert_eq!(out["status"], "created");
        assert_eq!(out["account"]["plan"], "pro");
        assert_eq!(out["account"]["newsletter"], false);

        let HostEvent::Elicit(ElicitRequest::Form { schema, .. }) = &testing::take_events()[0] else {
            panic!("expected a form");
        };
        assert_eq!(schema["properties"]["email"]["default"], "ada@example.com");
        assert_eq!(schema["properties"]["plan"]["oneOf"][2]["const"], "team");

        testing::answer_elicit(Ok(ElicitResponse::decline()));
        assert_eq!(call("account.signup", json!({})).unwrap(), json!({ "status": "declined" }));
        // No client that can answer: the tool fails (denied).
        assert_eq!(call("account.signup", json!({})).unwrap_err().kind(), ErrorKind::Denied);
    }

    #[test]
    fn connect_uses_url_elicitation() {
        testing::reset();
        testing::set_config("auth_url", "https://auth.example.com/start");
        testing::answer_elicit(Ok(ElicitResponse { action: ElicitAction::Accept, content: None }));
        assert_eq!(call("account.connect", json!({})).unwrap()["status"], "connected");
        let HostEvent::Elicit(ElicitRequest::Url { url, elicitation_id, .. }) = &testing::take_events()[0]
        else {
            panic!("expected a URL elicitation");
        };
        assert_eq!((url.as_str(), elicitation_id.as_str()), ("https://auth.example.com/start", "connect-t1"));
    }
}
