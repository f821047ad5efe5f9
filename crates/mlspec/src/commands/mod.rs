//! One module per subcommand. Commands are leaves: a command (and its own submodules, such as
//! `data/split.rs`) never imports another command; what two commands share is a module of the
//! binary beside `main.rs`, named for what it is (`documents`, `args`, `output`, …). The test
//! below holds the rule.

pub mod apply;
pub mod data;
pub mod demo;
pub mod eval;
pub mod get;
pub mod history;
pub mod ingest;
pub mod init;
pub mod kinds;
pub mod lifecycle;
pub mod lineage;
pub mod list;
pub mod log;
pub mod migrate;
pub mod monitor;
pub mod new;
pub mod objectives;
pub mod package;
pub mod pipeline;
pub mod recreate;
pub mod rollout;
pub mod schema;
pub mod serve;
pub mod server;
pub mod step;
pub mod store;
pub mod test;
pub mod training;
pub mod tune;
pub mod ui;
pub mod validate;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file below `dir`.
    fn sources(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("the commands directory is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                found.extend(sources(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
        found
    }

    /// The first path segment of each item a `super::` path names: `super::data::record` →
    /// `data`, `super::{a, b::c}` → `a`, `b`.
    fn super_items(text: &str) -> Vec<&str> {
        let mut items = Vec::new();
        for (at, _) in text.match_indices("super::") {
            let rest = &text[at + "super::".len()..];
            let group = match rest.strip_prefix('{') {
                Some(inner) => &inner[..inner.find('}').unwrap_or(inner.len())],
                None => rest,
            };
            for item in group.split(',') {
                let item = item.trim();
                let end = item
                    .find(|c: char| !c.is_alphanumeric() && c != '_')
                    .unwrap_or(item.len());
                items.push(&item[..end]);
            }
        }
        items
    }

    /// The lines by which the file at `relative` (below src/commands) reaches a command other
    /// than its own: through `crate::commands::`, through `super::COMMAND` from a command's
    /// file (its parent is this module, whose children are the commands), or through
    /// `super::super::` from a command's submodule (which may use its own command).
    fn sibling_imports(relative: &Path, text: &str, commands: &[String]) -> Vec<String> {
        let own = relative.components().next().map(|c| c.as_os_str().to_string_lossy());
        let own = own.as_deref().map(|o| o.trim_end_matches(".rs"));
        let nested = relative.components().count() > 1;
        let reaches_sibling = |line: &str| {
            line.contains("commands::")
                || (nested && line.contains("super::super::"))
                || (!nested
                    && super_items(line)
                        .iter()
                        .any(|item| *item == "super" || (Some(*item) != own && commands.iter().any(|c| c == item))))
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim_start().starts_with("//") && reaches_sibling(line))
            .map(|(i, line)| format!("{}:{}: {}", relative.display(), i + 1, line.trim()))
            .collect()
    }

    /// The commands: the modules this file declares.
    fn commands() -> Vec<String> {
        include_str!("mod.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn no_command_imports_another() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
        let mut found = Vec::new();
        for path in sources(&root).into_iter().filter(|p| !p.ends_with("mod.rs")) {
            let text = std::fs::read_to_string(&path).expect("a command's source is readable");
            let relative = path.strip_prefix(&root).expect("below the commands directory");
            found.extend(sibling_imports(relative, &text, &commands()));
        }
        assert!(
            found.is_empty(),
            "commands are leaves: what two commands share belongs in a module of the binary \
             (src/documents.rs, src/args.rs, …), not in one of them:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_scan_sees_sibling_imports() {
        let commands = commands();
        let found = |file: &str, line: &str| sibling_imports(Path::new(file), line, &commands).len();
        assert_eq!(found("eval.rs", "use super::data::record;"), 1);
        assert_eq!(found("eval.rs", "use super::{data, objectives::load};"), 1);
        assert_eq!(found("eval.rs", "use crate::commands::data;"), 1);
        assert_eq!(found("eval.rs", "use crate::{commands::data};"), 1);
        assert_eq!(found("data/split.rs", "use super::super::eval;"), 1);
        assert_eq!(found("data/split.rs", "use super::{RecordArgs, record};"), 0);
        assert_eq!(found("eval.rs", "    use super::*;"), 0);
        assert_eq!(found("eval.rs", "use crate::documents::load;"), 0);
    }
}
