//! Any text as a store URL: never a panic, and what is printed shows no password — neither in
//! the user info nor in a `…password=` query parameter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_store::Location;

/// The user info's password and the values of `…password` query parameters.
fn secrets(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut found = Vec::new();
    if let Some((user_info, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = user_info.split_once(':')
    {
        found.push(password.to_owned());
    }
    if let Some((_, query)) = tail.split_once('?') {
        for (key, value) in query.split('&').filter_map(|p| p.split_once('=')) {
            if key.to_ascii_lowercase().ends_with("password") {
                found.push(value.to_owned());
            }
        }
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(location @ Location::Postgres(_)) = Location::parse(text) {
        let shown = location.to_string();
        for secret in secrets(&shown) {
            assert_eq!(secret, "***", "a password is shown: {shown}");
        }
    }
});
