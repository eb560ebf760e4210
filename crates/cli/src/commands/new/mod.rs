//! `toolhost new NAME --lang rust|python|js|c`: a plugin project against the
//! contract, with a build script, a manifest and a test call.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The guest language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust with wit-bindgen (rustc emits a component for wasm32-wasip2).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
    /// C with wit-bindgen-cli and clang (wasi-sdk style sysroot).
    C,
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Plugin name: lower-case letters, digits and `_`, starting with a letter.
    /// It names the folder, the `.wasm` and the tools (`NAME.hello`).
    name: String,
    /// Guest language.
    #[arg(long, value_enum)]
    lang: Lang,
    /// Folder to create the project in (the project is DIR/NAME).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

const WIT: &str = include_str!("../../../../../wit/plugin.wit");

/// (path in the project, template, executable)
fn files(lang: Lang) -> Vec<(&'static str, &'static str, bool)> {
    let mut f = vec![
        ("wit/plugin.wit", WIT, false),
        ("{{name}}.toml", include_str!("templates/manifest.toml"), false),
        ("test.sh", include_str!("templates/test.sh"), true),
        ("README.md", include_str!("templates/README.md"), false),
        (".gitignore", include_str!("templates/gitignore"), false),
    ];
    f.extend(match lang {
        Lang::Rust => vec![
            ("Cargo.toml", include_str!("templates/rust/Cargo.toml"), false),
            ("src/lib.rs", include_str!("templates/rust/src/lib.rs"), false),
            ("build.sh", include_str!("templates/rust/build.sh"), true),
        ],
        Lang::Python => vec![
            ("app.py", include_str!("templates/python/app.py"), false),
            ("build.sh", include_str!("templates/python/build.sh"), true),
        ],
        Lang::Js => vec![
            ("app.js", include_str!("templates/js/app.js"), false),
            ("componentize.mjs", include_str!("templates/js/componentize.mjs"), false),
            ("build.sh", include_str!("templates/js/build.sh"), true),
        ],
        Lang::C => vec![
            ("plugin.c", include_str!("templates/c/plugin.c"), false),
            ("build.sh", include_str!("templates/c/build.sh"), true),
        ],
    });
    f
}

fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn render(template: &str, name: &str, lang: Lang) -> String {
    let (timeout_ms, memory_mib, title) = match lang {
        Lang::Rust => ("2000", "16", "Rust"),
        Lang::Python => ("5000", "64", "Python"),
        Lang::Js => ("5000", "64", "JavaScript"),
        Lang::C => ("1000", "8", "C"),
    };
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{timeout_ms}}", timeout_ms)
        .replace("{{memory_mib}}", memory_mib)
        .replace("{{lang_title}}", title)
}

/// Writes the project; refuses to touch an existing non-empty folder.
pub(crate) fn create(name: &str, lang: Lang, dir: &Path) -> Result<PathBuf> {
    if !valid(name) {
        bail!("plugin name {name:?} must be 1-32 of [a-z0-9_], starting with a letter");
    }
    let root = dir.join(name);
    if root.exists() && std::fs::read_dir(&root).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty", root.display());
    }
    for (rel, template, exec) in files(lang) {
        let path = root.join(rel.replace("{{name}}", name));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, render(template, name, lang))
            .with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(root)
}

pub(crate) fn run(args: NewArgs) -> Result<ExitCode> {
    let root = create(&args.name, args.lang, &args.dir)?;
    println!("created {} ({:?} plugin, tool `{}.hello`)", root.display(), args.lang, args.name);
    println!("next:");
    println!("  cd {} && ./build.sh      # -> build/{}.wasm", root.display(), args.name);
    println!(
        "  ./test.sh                  # build + `toolhost call {}.hello` (TOOLHOST=path/to/toolhost)",
        args.name
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "weather", "my_tool2"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in ["", "2x", "My", "a-b", "a.b", "../x", &"x".repeat(33)] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn every_language_renders_without_leftover_placeholders() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            let dir = tempfile::tempdir().unwrap();
            let root = create("demo", lang, dir.path()).unwrap();
            for (rel, _, exec) in files(lang) {
                let p = root.join(rel.replace("{{name}}", "demo"));
                let text = std::fs::read_to_string(&p).unwrap();
                assert!(!text.contains("{{"), "{lang:?} {rel} keeps a placeholder");
                #[cfg(unix)]
                if exec {
                    use std::os::unix::fs::PermissionsExt;
                    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o111, 0o111);
                }
            }
            assert_eq!(std::fs::read_to_string(root.join("wit/plugin.wit")).unwrap(), WIT);
            assert!(create("demo", lang, dir.path()).is_err(), "an existing project is not overwritten");
        }
    }
}
