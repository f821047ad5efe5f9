//! The frame every page shares: the document head (styles, the one script, the security
//! meta), a header with the navigation and the theme switch, a skip link for keyboards, and
//! the page's own content in `<main>`.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Serialize;

use crate::assets;

/// Which navigation entry is the current page's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// None (an error page, say).
    None,
    /// The start page.
    Home,
    /// Runs and their comparison.
    Runs,
    /// A list of one kind, or an object's page.
    Objects,
    /// Lineage.
    Lineage,
    /// The audit of a logged request.
    Audit,
}

const NAV: &[(Section, &str, &str)] = &[
    (Section::Home, "/", "Start"),
    (Section::Runs, "/ui/runs", "Runs"),
    (Section::Objects, "/ui/kinds/Experiment", "Objects"),
    (Section::Audit, "/ui/audit", "Audit"),
];

/// A whole page: `body` inside the shared frame, titled `title`.
pub fn shell(title: &str, section: Section, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                link rel="icon" href="data:,";
                title { (title) " · mlspec" }
                link rel="stylesheet" href=(assets::url("uPlot.min.css"));
                link rel="stylesheet" href=(assets::url("ui.css"));
                script src=(assets::url("uPlot.iife.min.js")) defer {}
                script src=(assets::url("ui.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/" { "mlspec" }
                    nav aria-label="Sections" {
                        ul {
                            @for (entry, href, label) in NAV {
                                li {
                                    @if *entry == section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    button #theme type="button" aria-label="Switch between light and dark theme" { "Theme" }
                }
                main #main { (body) }
            }
        }
    }
}

/// Data for the page's script, as a JSON island: `<script type="application/json">`, which
/// browsers never run. `<`, `>` and `&` are written as `\u003c` and so on, so no value can
/// close the element; the script reads it with `JSON.parse(element.textContent)`.
pub fn json_island(id: &str, value: &impl Serialize) -> Markup {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
    let safe = json
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    html! { script type="application/json" id=(id) { (PreEscaped(safe)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_island_cannot_close_its_element() {
        let island = json_island("d", &serde_json::json!({"name": "</script><script>alert(1)</script>&"}));
        let text = island.into_string();
        assert_eq!(text.matches("</script>").count(), 1, "{text}");
        assert!(text.contains("\\u003c/script\\u003e"), "{text}");
        let inner = text
            .trim_start_matches(r#"<script type="application/json" id="d">"#)
            .trim_end_matches("</script>");
        let back: serde_json::Value = serde_json::from_str(inner).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn the_current_section_is_marked_for_assistive_technology() {
        let text = shell("T", Section::Runs, html! { p { "x" } }).into_string();
        assert!(
            text.contains(r#"<a href="/ui/runs" aria-current="page">Runs</a>"#),
            "{text}"
        );
    }
}
