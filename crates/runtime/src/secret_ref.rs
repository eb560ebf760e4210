//! Secret references of manifests: `env:NAME` (the host's environment) or
//! `file:/path` (trimmed), read by the host and never shown.

/// Reads a secret reference (`env:NAME`, `file:/path`, trimmed); errors name
/// the key `at` and the reference, never the value.
pub(crate) fn read(at: &str, reference: &str) -> Result<String, String> {
    let value = match reference.split_once(':') {
        Some(("env", name)) => {
            std::env::var(name).map_err(|_| format!("{at}: environment variable {name} is not set"))?
        }
        Some(("file", path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("{at}: cannot read {path}: {}", e.kind()))?
        }
        _ => return Err(format!("{at}: must be env:NAME or file:/path")),
    };
    let value = value.trim();
    if value.is_empty() || http::HeaderValue::from_str(value).is_err() {
        return Err(format!("{at}: {reference} is empty or not a valid header value"));
    }
    Ok(value.to_string())
}
