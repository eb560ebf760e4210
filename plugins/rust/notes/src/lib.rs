//! toolhost example plugin `notes`: daily notes, one Markdown file per day
//! (`<dir>/YYYY-MM-DD.md`), offered as MCP prompts, resources and a tool.
//!
//! A guest instance is fresh for every call, so nothing lives in memory between calls: the
//! notes live in a directory the manifest grants (`[grants] dirs`, seen by the guest as
//! `[config] dir`, default `/notes`). Reading works with any grant; `notes.add` appends to
//! the day's file, so it needs the directory to be writable and reports `denied` when the
//! host granted it read-only.
//!
//! | kind | name | what |
//! |---|---|---|
//! | tool | `notes.add` | `{"text", "day"?}`: appends `- HH:MM text` to the day's note, then calls `resource-updated` for `notes://<day>` (and `notes://today`) |
//! | prompt | `notes.summarize` | `day` (required, completes from the existing notes), `style` (`bullets`, `paragraph`, `action-items`; completes) |
//! | resource | `notes://today` | today's note (UTC), `text/markdown` |
//! | template | `notes://{day}` | the note of `day` (`YYYY-MM-DD` or `today`); `day` completes |

use std::fs;
use std::io::{ErrorKind as IoErrorKind, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use toolhost_sdk::prelude::*;

mod date;

use date::Date;

/// The listed resource for today's note.
const TODAY_URI: &str = "notes://today";

/// The summary styles `notes.summarize` knows.
const STYLES: [&str; 3] = ["bullets", "paragraph", "action-items"];

/// The notes directory as the guest sees it (`[config] dir`, default `/notes`).
fn notes_dir() -> PathBuf {
    PathBuf::from(config("dir").unwrap_or_else(|| "/notes".to_owned()))
}

/// The current UTC date and time from the WASI wall clock.
fn now() -> Result<(Date, u32), ToolError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ToolError::internal("the clock is before 1970"))?
        .as_secs();
    Ok(Date::from_unix(secs))
}

/// `today` or a `YYYY-MM-DD` date, as a date.
fn parse_day(day: &str) -> Result<Date, ToolError> {
    if day == "today" {
        return now().map(|(d, _)| d);
    }
    Date::parse(day).ok_or_else(|| {
        ToolError::invalid_input(format!(
            "`{day}` is not a day: write YYYY-MM-DD (e.g. 2025-01-31) or `today`"
        ))
    })
}

/// The note of `day`; `None` when there is none yet.
fn read_note(day: Date) -> Result<Option<String>, ToolError> {
    match fs::read_to_string(notes_dir().join(format!("{day}.md"))) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == IoErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", e)),
    }
}

/// The days that have a note, newest first.
fn note_days() -> Vec<String> {
    let Ok(entries) = fs::read_dir(notes_dir()) else {
        return Vec::new();
    };
    let mut days: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some(name.strip_suffix(".md")?.to_owned()))
        .filter(|day| Date::parse(day).is_some())
        .collect();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days
}

/// An I/O failure as a tool error that says which grant is missing.
fn io_error(action: &str, e: std::io::Error) -> ToolError {
    let dir = notes_dir();
    let dir = dir.display();
    match e.kind() {
        IoErrorKind::PermissionDenied | IoErrorKind::ReadOnlyFilesystem => ToolError::denied(format!(
            "cannot {action} the notes in {dir}: {e}; the directory must be granted writable in the manifest"
        )),
        _ => ToolError::internal(format!(
            "cannot {action} the notes in {dir}: {e}; is it granted in the manifest ([grants] dirs, guest = \"{dir}\")?"
        )),
    }
}

/// Arguments of `notes.add`.
#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    /// The note, one line of Markdown.
    text: String,
    /// `YYYY-MM-DD`, or `today` (the default, in UTC).
    #[serde(default)]
    day: Option<String>,
}

fn add(a: AddArgs, _ctx: &Context) -> Result<Value, ToolError> {
    let text = a.text.trim();
    if text.is_empty() || text.contains('\n') {
        return Err(ToolError::invalid_input("`text` must be one non-empty line"));
    }
    let (today, minutes) = now()?;
    let day = parse_day(a.day.as_deref().unwrap_or("today"))?;
    let line = format!("- {:02}:{:02} {text}\n", minutes / 60, minutes % 60);
    let path = notes_dir().join(format!("{day}.md"));
    let mut file =
        fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io_error("write", e))?;
    file.write_all(line.as_bytes()).map_err(|e| io_error("write", e))?;

    let uri = format!("notes://{day}");
    resource_updated(&uri);
    if day == today {
        resource_updated(TODAY_URI);
    }
    Ok(json!({ "day": day.to_string(), "uri": uri, "added": line.trim_end() }))
}

/// `notes://today`: today's note, or a line saying there is none.
fn today_note(_ctx: &Context) -> Result<String, ToolError> {
    let (today, _) = now()?;
    Ok(read_note(today)?.unwrap_or_else(|| format!("No notes yet for {today}.\n")))
}

/// `notes://{day}`: that day's note.
fn day_note(vars: &Params, _ctx: &Context) -> Result<String, ToolError> {
    let day = parse_day(vars.require("day")?)?;
    read_note(day)?.ok_or_else(|| ToolError::not_found(format!("no notes for {day}")))
}

/// `notes.summarize`: the day's note embedded, and what to make of it.
fn summarize(args: &Params, _ctx: &Context) -> Result<PromptResult, ToolError> {
    let day = parse_day(args.require("day")?)?;
    let style = args.get("style").unwrap_or("bullets");
    if !STYLES.contains(&style) {
        return Err(ToolError::invalid_input(format!(
            "unknown style `{style}`; use one of {}",
            STYLES.join(", ")
        )));
    }
    let note = read_note(day)?.ok_or_else(|| ToolError::not_found(format!("no notes for {day}")))?;
    let ask = match style {
        "paragraph" => "Summarise these notes in one short paragraph.",
        "action-items" => "List the action items in these notes, one per line, with owners when named.",
        _ => "Summarise these notes as at most five bullet points.",
    };
    Ok(PromptResult::new()
        .with_description(format!("Summary of the notes of {day}"))
        .user(EmbeddedResource::text(format!("notes://{day}"), Some("text/markdown"), note))
        .user(ask))
}

/// Completes a day: `today` and the days that have notes.
fn complete_day(value: &str) -> Vec<String> {
    let days = note_days();
    let all = std::iter::once("today").chain(days.iter().map(String::as_str));
    starting_with(all, value)
}

toolhost_sdk::plugin! {
    tool("notes.add", "Append a one-line note to a day's notes (default today, UTC).", add)
        .title("Add note"),
    prompt("notes.summarize", "Summarise the notes of one day.", summarize)
        .title("Summarise notes")
        .argument("day", "The day: YYYY-MM-DD or `today`", true)
        .argument("style", "bullets (default), paragraph or action-items", false)
        .complete("day", complete_day)
        .complete("style", |v| starting_with(STYLES, v)),
    resource(TODAY_URI, "Today's notes", today_note)
        .description("The notes of the current day (UTC).")
        .mime_type("text/markdown"),
    resource_template("notes://{day}", "Notes of a day", day_note)
        .description("The notes of one day: notes://YYYY-MM-DD.")
        .mime_type("text/markdown")
        .complete("day", complete_day),
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_sdk::testing;

    /// A fresh notes directory for one test, set as `[config] dir`.
    fn temp_notes(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("toolhost-notes-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        testing::reset();
        testing::set_config("dir", dir.to_str().unwrap());
        dir
    }

    #[test]
    fn add_appends_and_announces() {
        let dir = temp_notes("add");
        let ctx = Context::new("t");
        let out =
            plugin_registry().call("notes.add", r#"{"text":"ship it","day":"2025-01-31"}"#, &ctx).unwrap();
        assert_eq!(out.value().unwrap()["uri"], "notes://2025-01-31");
        plugin_registry().call("notes.add", r#"{"text":"again","day":"2025-01-31"}"#, &ctx).unwrap();
        let text = fs::read_to_string(dir.join("2025-01-31.md")).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().next().unwrap().ends_with(" ship it"), "{text}");
        assert_eq!(testing::resource_updates(), ["notes://2025-01-31", "notes://2025-01-31"]);

        plugin_registry().call("notes.add", r#"{"text":"now"}"#, &ctx).unwrap();
        assert_eq!(testing::resource_updates().last().unwrap(), TODAY_URI);
    }

    #[test]
    fn resources_read_the_files() {
        let dir = temp_notes("read");
        fs::write(dir.join("2025-02-01.md"), "- 09:00 standup\n").unwrap();
        let reg = plugin_registry();
        let ctx = Context::new("t");
        let day = reg.read_resource("notes://2025-02-01", &ctx).unwrap();
        assert_eq!(day[0].as_text(), Some("- 09:00 standup\n"));
        assert_eq!(day[0].mime_type.as_deref(), Some("text/markdown"));
        assert_eq!(reg.read_resource("notes://2025-02-02", &ctx).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(reg.read_resource("notes://tomorrow", &ctx).unwrap_err().kind(), ErrorKind::InvalidInput);
        let today = reg.read_resource(TODAY_URI, &ctx).unwrap();
        assert!(today[0].as_text().unwrap().starts_with("No notes yet"));
    }

    #[test]
    fn summarize_embeds_the_note_and_completes() {
        let dir = temp_notes("prompt");
        fs::write(dir.join("2025-02-01.md"), "- 09:00 Ada: fix the build\n").unwrap();
        fs::write(dir.join("2025-02-03.md"), "- 10:00 retro\n").unwrap();
        let reg = plugin_registry();
        let args = Params::from_iter([("day", "2025-02-01"), ("style", "action-items")]);
        let p = reg.get_prompt("notes.summarize", &args, &Context::new("t")).unwrap();
        assert!(matches!(&p.messages[0].content, Content::Embedded(r) if r.uri == "notes://2025-02-01"));
        assert!(p.messages[1].text().unwrap().starts_with("List the action items"));

        let r = CompletionRef::Prompt("notes.summarize".into());
        let days = reg.complete(&r, "day", "2025-02", &Params::new()).unwrap();
        assert_eq!(days.values, ["2025-02-03", "2025-02-01"]);
        assert_eq!(reg.complete(&r, "style", "p", &Params::new()).unwrap().values, ["paragraph"]);
        let bad = Params::from_iter([("day", "2025-02-01"), ("style", "haiku")]);
        assert!(reg.get_prompt("notes.summarize", &bad, &Context::new("t")).is_err());
    }

    #[test]
    fn add_rejects_bad_input() {
        temp_notes("bad");
        let ctx = Context::new("t");
        for args in [r#"{"text":""}"#, r#"{"text":"a\nb"}"#, r#"{"text":"x","day":"31.01.2025"}"#] {
            let err = plugin_registry().call("notes.add", args, &ctx).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{args}");
        }
    }
}
