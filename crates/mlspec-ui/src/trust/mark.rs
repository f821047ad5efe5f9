//! What a trust page says of each link it shows: verified (and by what), not verified (and
//! why, or which option of the server would verify it), or not in the store. Every mark is a
//! word in the text, not only a colour.

use maud::{Markup, html};
use mlspec_spec::Ref;
use mlspec_store::{Selector, Store};

use crate::format::object_href;

/// What is known of one link.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// It holds: how we know.
    Verified(String),
    /// It does not hold, or was not checked: why.
    NotVerified(String),
}

impl Mark {
    /// Verified when `why_not` is `None`.
    pub fn unless(why_not: Option<String>, how: impl Into<String>) -> Mark {
        match why_not {
            None => Mark::Verified(how.into()),
            Some(reason) => Mark::NotVerified(reason),
        }
    }

    /// The mark as shown: a word, then the reason.
    pub fn view(&self) -> Markup {
        match self {
            Mark::Verified(how) => html! { span.pass { "verified" } " — " (how) },
            Mark::NotVerified(why) => html! { span.fail { "not verified" } " — " (why) },
        }
    }
}

/// A reference the store may hold: its id when it does.
pub struct Linked {
    /// The reference as written.
    pub reference: Ref,
    /// The object's id, when the store holds it.
    pub id: Option<String>,
}

impl Linked {
    /// Looks `reference` up in `store`.
    pub async fn find(store: &dyn Store, reference: &Ref) -> Linked {
        let id = store.get(&Selector::from(reference)).await.ok().map(|o| o.summary.id);
        Linked {
            reference: reference.clone(),
            id,
        }
    }

    /// A link to its page, or its text and that the store does not hold it.
    pub fn view(&self) -> Markup {
        let text = self.reference.to_string();
        html! {
            @match &self.id {
                Some(id) => a href=(object_href(id)) { (text) },
                None => { code { (text) } " " span.unknown { "not in the store" } },
            }
        }
    }
}
