//! Secrets: one definition of what looks like a credential, used to redact it wherever text
//! leaves mlspec (`/varz`, recorded commands and environments, error messages, migrated
//! documents) and to refuse documents that carry one inline (`validate`, `apply`).
//!
//! It lives here, in the crate every other mlspec crate depends on, because refusing inline
//! credentials is a rule of the spec: the validator and every redacting tool share this one
//! detector, so what `validate` refuses is exactly what the tools redact.
//!
//! What counts as a secret:
//! - the password of a URL's user info, in any scheme (`postgres://user:PASSWORD@host`);
//! - the value of a `name=value` pair whose name looks like a credential, wherever it appears:
//!   connection strings (`Password=…;`, `PWD=…`, `password=… host=…`), URL query parameters
//!   (signed URLs: AWS `X-Amz-Signature`/`X-Amz-Credential`/`X-Amz-Security-Token`, GCS
//!   `X-Goog-Signature`/`X-Goog-Credential`, Azure SAS `sig`, `token`, `access_token`…) and
//!   arguments (`--token=…`);
//! - the argument after a flag whose name looks like a credential (`--api-key VALUE`);
//! - a bearer token (`Bearer …`).
//!
//! A value that refers to a secret rather than holding it (`$NAME`, `${NAME}`, `env:NAME`,
//! `{params.x}`, `<password>`, an already redacted `***`) is not a secret.

use std::borrow::Cow;
use std::ops::Range;

/// What replaces a secret.
pub const MASK: &str = "***";

/// One secret found in a text: the byte range of the secret itself, and what it is (worded for
/// messages; it never contains the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secret {
    /// Where the secret is in the text.
    pub range: Range<usize>,
    /// What it is, e.g. "a password in the user info of a `postgres://` URL".
    pub what: String,
}

/// Name fragments that mark a credential wherever they appear in a name (`DB_PASSWORD`,
/// `mysecretvalue`, `AccountKey`).
const SECRET_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
    "accountkey",
    "signingkey",
    "accesstoken",
    "authtoken",
    "refreshtoken",
    "sessiontoken",
    "securitytoken",
    "bearertoken",
    "sastoken",
];

/// Words that mark a credential only as a whole word of a name (`pwd` and `token` are, but not
/// `tokenizer` or `max_tokens`; `auth` is, but not `author`).
const SECRET_WORDS: &[&str] = &[
    "pwd",
    "token",
    "auth",
    "session",
    "sig",
    "signature",
    "cookie",
    "sas",
    "bearer",
    "jwt",
];

/// Pairs of words that together mark a credential (`api_key`, `access-key`, `private key`).
const SECRET_WORD_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("account", "key"),
    ("signing", "key"),
    ("master", "key"),
    ("encryption", "key"),
];

/// Last words that make a name point at a secret rather than hold one (`--password-file`,
/// `secretRef`, `token_url`, `api_key_env`).
const REFERENCE_WORDS: &[&str] = &[
    "file", "path", "dir", "env", "var", "ref", "name", "url", "uri", "endpoint", "type", "length", "len", "count",
    "expiry", "expires", "ttl",
];

/// True when a name (a flag, a setting, a URL parameter) looks like it holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.trim_start_matches('-');
    let words = words(name);
    if words.last().is_some_and(|w| REFERENCE_WORDS.contains(&w.as_str())) {
        return false;
    }
    let folded: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if SECRET_FRAGMENTS.iter().any(|f| folded.contains(f)) {
        return true;
    }
    words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || words
            .windows(2)
            .any(|pair| SECRET_WORD_PAIRS.contains(&(pair[0].as_str(), pair[1].as_str())))
}

/// True when a variable (an environment variable, a map key) looks like it holds a credential:
/// [`is_secret_name`], except `PWD` and `OLDPWD`, the shell's working directories.
pub fn is_secret_variable(name: &str) -> bool {
    !matches!(name, "PWD" | "OLDPWD") && is_secret_name(name)
}

/// The lower-case words of a name: split at anything not alphanumeric and at camel-case humps
/// (`X-Amz-Signature` → x, amz, signature; `APIKey` → api, key).
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let previous = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let hump = previous.is_some_and(|p| {
                (p.is_ascii_lowercase() && c.is_ascii_uppercase())
                    || (p.is_ascii_uppercase() && c.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
            });
            if hump && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        words.push(word);
    }
    words
}

/// True when a value names a secret instead of holding it: `$NAME`, `${NAME}`, `%NAME%`,
/// `env:NAME` (a secret reference), a template placeholder (`{params.x}`, `{{ x }}`,
/// `<password>`) or a redacted value.
pub fn is_reference(value: &str) -> bool {
    let value = value.trim_matches(['"', '\'']);
    value.is_empty()
        || value.starts_with('$')
        || value.starts_with("{{")
        || ["{params.", "{inputs.", "{outputs."]
            .iter()
            .any(|p| value.starts_with(p))
        || (value.starts_with('%') && value.ends_with('%') && value.len() > 2)
        || (value.starts_with('<') && value.ends_with('>'))
        || value.chars().all(|c| c == '*')
        || value.split_once(':').is_some_and(|(scheme, rest)| {
            ["env", "file", "vault", "k8s"].contains(&scheme) && !rest.is_empty() && !rest.contains(char::is_whitespace)
        })
}

/// Every secret in `text`, in order, without overlaps.
pub fn find(text: &str) -> Vec<Secret> {
    let mut found = Vec::new();
    if text.contains("://") {
        url_passwords(text, &mut found);
    }
    if text.contains('=') {
        secret_pairs(text, &mut found);
    }
    if text.contains('-') {
        secret_flag_values(text, &mut found);
    }
    if text.len() > 7 {
        bearer_tokens(text, &mut found);
    }
    found.sort_by_key(|s| (s.range.start, std::cmp::Reverse(s.range.end)));
    let mut merged: Vec<Secret> = Vec::with_capacity(found.len());
    for secret in found {
        match merged.last_mut() {
            Some(last) if secret.range.start < last.range.end => {
                last.range.end = last.range.end.max(secret.range.end);
            }
            _ => merged.push(secret),
        }
    }
    merged
}

/// The text with every secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = find(text);
    if secrets.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for secret in secrets {
        out.push_str(&text[at..secret.range.start]);
        out.push_str(MASK);
        at = secret.range.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// `text` as part of an environment variable's name: upper case, every character other than
/// an ASCII letter or digit as `_` (`learning-rate` → `LEARNING_RATE`) — the one rule for the
/// variables mlspec names after keys (a migrated credential's `env:` reference, a parameter).
pub fn variable_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// An environment variable's value as it may be shown: [`MASK`] when the name looks like a
/// credential, else the value with any secret inside it redacted.
pub fn redact_env(name: &str, value: &str) -> String {
    if is_secret_variable(name) && !is_reference(value) {
        MASK.to_owned()
    } else {
        redact(value).into_owned()
    }
}

/// A command line as it may be shown or recorded: secrets inside arguments redacted, and the
/// argument after a flag that takes a secret (`--password VALUE`) replaced by [`MASK`].
pub fn redact_args<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let mut after_secret_flag = false;
    for arg in args {
        let arg = arg.as_ref();
        if std::mem::take(&mut after_secret_flag) && takes_value(arg) {
            out.push(MASK.to_owned());
            continue;
        }
        after_secret_flag = secret_flag(arg).is_some();
        out.push(redact(arg).into_owned());
    }
    out
}

/// The secret in the argument that follows `previous` on a command line, if `previous` is a
/// flag that takes a secret and `arg` holds one.
pub fn secret_argument(previous: &str, arg: &str) -> Option<Secret> {
    let flag = secret_flag(previous)?;
    takes_value(arg).then(|| Secret {
        range: 0..arg.len(),
        what: format!("the value of the argument `{flag}`"),
    })
}

/// `--token` or `-api-key` (a flag without `=value` whose name looks like a credential).
fn secret_flag(arg: &str) -> Option<&str> {
    let name = arg.strip_prefix('-')?;
    let looks_like_flag = !name.is_empty() && !name.contains(['=', ' ']) && name.trim_start_matches('-').len() > 1;
    (looks_like_flag && is_secret_name(name)).then_some(arg)
}

/// True when an argument can be a flag's value: not another flag, not a reference.
fn takes_value(arg: &str) -> bool {
    !arg.starts_with('-') && !is_reference(arg)
}

/// Where the word that ends `text` starts: its last run of ASCII letters, digits and `also`
/// characters (a byte index on a character boundary, whatever precedes the word).
fn word_start(text: &str, also: &str) -> usize {
    text.char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || also.contains(c)))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// `scheme://user:PASSWORD@host`: the password of the user info.
fn url_passwords(text: &str, found: &mut Vec<Secret>) {
    for (at, _) in text.match_indices("://") {
        let scheme_start = word_start(&text[..at], "+.-");
        let scheme = &text[scheme_start..at];
        let authority_start = at + 3;
        let authority_end = text[authority_start..]
            .find(|c: char| "/?#\"'<>`".contains(c) || c.is_whitespace())
            .map_or(text.len(), |i| authority_start + i);
        let authority = &text[authority_start..authority_end];
        let Some(user_end) = authority.rfind('@') else { continue };
        let Some(colon) = authority[..user_end].find(':') else {
            continue;
        };
        let range = authority_start + colon + 1..authority_start + user_end;
        if !range.is_empty() && !is_reference(&text[range.clone()]) {
            found.push(Secret {
                range,
                what: format!("a password in the user info of a `{scheme}://` URL"),
            });
        }
    }
}

/// `name=value` where the name looks like a credential: connection strings, query parameters,
/// `--flag=value`.
fn secret_pairs(text: &str, found: &mut Vec<Secret>) {
    for (equals, _) in text.match_indices('=') {
        let name_start = word_start(&text[..equals], "_.-");
        let name = &text[name_start..equals];
        if name.trim_start_matches('-').is_empty() || !is_secret_name(name) {
            continue;
        }
        let range = value_range(text, equals + 1);
        if range.is_empty() || is_reference(&text[range.clone()]) {
            continue;
        }
        let before = text[..name_start].chars().next_back();
        let what = if name.starts_with('-') {
            format!("the value of the argument `{name}`")
        } else if matches!(before, Some('?' | '&')) {
            format!("the URL query parameter `{name}`")
        } else {
            format!("the setting `{name}=`")
        };
        found.push(Secret { range, what });
    }
}

/// The value that starts at `start`: up to its closing quote or brace when quoted (`"…"`,
/// `'…'`, ODBC's `{…}`), else up to `;`, `&`, `,`, a quote or white space.
fn value_range(text: &str, start: usize) -> Range<usize> {
    let rest = &text[start..];
    let close = match rest.chars().next() {
        Some('"') => Some('"'),
        Some('\'') => Some('\''),
        Some('{') if !rest.starts_with("{{") => Some('}'),
        _ => None,
    };
    let end = match close {
        Some(close) => rest[1..].find(close).map_or(text.len(), |i| start + 1 + i + 1),
        None => rest
            .find(|c: char| ";&,\"'".contains(c) || c.is_whitespace())
            .map_or(text.len(), |i| start + i),
    };
    start..end
}

/// `--password VALUE` inside one string (a command line written as text).
fn secret_flag_values(text: &str, found: &mut Vec<Secret>) {
    let mut tokens = text
        .split_whitespace()
        .map(|t| (t.as_ptr() as usize - text.as_ptr() as usize, t));
    let mut previous: Option<&str> = None;
    for (offset, token) in tokens.by_ref() {
        if let Some(previous) = previous
            && let Some(secret) = secret_argument(previous, token)
        {
            found.push(Secret {
                range: offset..offset + token.len(),
                what: secret.what,
            });
        }
        previous = Some(token);
    }
}

/// `Bearer TOKEN` (an HTTP Authorization value).
fn bearer_tokens(text: &str, found: &mut Vec<Secret>) {
    let lower = text.to_ascii_lowercase();
    for (at, _) in lower.match_indices("bearer ") {
        let start = at + "bearer ".len();
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c)))
            .map_or(text.len(), |i| start + i);
        if end - start >= 8 {
            found.push(Secret {
                range: start..end,
                what: "a bearer token".to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for secret in [
            "password",
            "DB_PASSWORD",
            "Pwd",
            "PGPASSWORD",
            "api_key",
            "apiKey",
            "X-API-Key",
            "AWS_SECRET_ACCESS_KEY",
            "AccountKey",
            "X-Amz-Signature",
            "X-Goog-Credential",
            "sig",
            "access_token",
            "GITHUB_TOKEN",
            "auth",
            "SESSION",
            "privateKey",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        assert!(is_secret_name("PWD") && !is_secret_variable("PWD") && !is_secret_variable("OLDPWD"));
        for plain in [
            "tokenizer",
            "max_tokens",
            "author",
            "key",
            "monkey",
            "keyboard",
            "passes",
            "sigma",
            "design",
            "host",
            "user",
            "password_file",
            "secretRef",
            "token_url",
        ] {
            assert!(!is_secret_name(plain), "{plain}");
        }
    }

    #[test]
    fn words_split_at_humps() {
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("X-Amz-Signature"), ["x", "amz", "signature"]);
        assert_eq!(words("accessKeyId"), ["access", "key", "id"]);
    }

    #[test]
    fn redacts_values() {
        let cases = [
            ("postgres://me:hunter2@db:5432/x", "postgres://me:***@db:5432/x"),
            (
                "Server=db;User Id=sa;Password=p@ss;word",
                "Server=db;User Id=sa;Password=***;word",
            ),
            ("Driver={SQL};PWD={a;b};UID=x", "Driver={SQL};PWD=***;UID=x"),
            ("host=db password='a b' user=x", "host=db password=*** user=x"),
            (
                "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&X-Amz-Expires=60",
                "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
            ),
            (
                "mysql --user x --password hunter2 db",
                "mysql --user x --password *** db",
            ),
            ("--token=abc", "--token=***"),
            ("Authorization: Bearer abcdefgh12345", "Authorization: Bearer ***"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
        for untouched in [
            "postgres://me@db/x",
            "tokenizer=bpe",
            "--password=$DB_PASSWORD",
            "password=env:DB_PASSWORD",
            "a=b;c=d",
        ] {
            assert_eq!(redact(untouched), untouched);
        }
    }

    #[test]
    fn a_word_after_a_multibyte_character_is_found_whole() {
        // Found by the `validate` fuzz target: `tięeColumn=…` sliced inside `ę`.
        for (text, secret) in [
            ("tiępassword=hunter2", "hunter2"),
            ("ępostgres://me:hunter2@db/x", "hunter2"),
            ("€token=abc123", "abc123"),
        ] {
            let found = find(text);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(&text[found[0].range.clone()], secret);
            assert!(!redact(text).contains(secret));
        }
        assert!(find("tięeColumn=x ę=y").is_empty());
    }

    #[test]
    fn redacts_argument_lists() {
        let args = [
            "run",
            "--api-key",
            "abc",
            "--token=x",
            "--password",
            "--verbose",
            "--seed",
            "1",
        ];
        assert_eq!(
            redact_args(&args),
            [
                "run",
                "--api-key",
                "***",
                "--token=***",
                "--password",
                "--verbose",
                "--seed",
                "1"
            ]
        );
    }
}
