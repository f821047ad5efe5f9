//! Any text as a store URL: never a panic, and a password never survives into what is printed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_store::Location;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Location::Postgres(url)) = Location::parse(text) {
        let shown = Location::Postgres(url.clone()).to_string();
        let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = user_info.split_once(':')
            && password.len() >= 4
            && !password.contains('*')
        {
            assert!(!shown.contains(&format!(":{password}@")), "password shown: {shown}");
        }
    }
});
