//! Validated string newtypes: a value of one of these types is valid by construction.
//!
//! Each type checks its rule in `TryFrom<String>` (used by serde, so an invalid value can never
//! be deserialized) and publishes the same rule in its JSON Schema (`pattern`, `maxLength`).

use std::fmt;

use compact_str::CompactString;

/// Defines a string newtype whose every value satisfies `$check`.
///
/// `$pattern` and `$max` restate the rule in the published JSON Schema; the unit tests of each
/// type check that the Rust rule and the pattern agree on representative values.
macro_rules! validated_string {
    (
        $(#[$doc:meta])*
        $name:ident, title = $title:literal, pattern = $pattern:expr, max = $max:expr,
        rule = $rule:literal, check = $check:expr
    ) => {
        $(#[$doc])*
        ///
        /// Stored inline when short (most values are), so parsing a document allocates little.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// The rule every value obeys, as shown in error messages and docs.
            pub const RULE: &'static str = $rule;

            /// Checks `value` and wraps it.
            pub fn new(value: impl Into<CompactString>) -> Result<Self, InvalidValue> {
                let value = value.into();
                let check: fn(&str) -> bool = $check;
                let max: Option<usize> = $max;
                let too_long = max.is_some_and(|max| value.chars().count() > max);
                if too_long || !check(&value) {
                    return Err(InvalidValue { type_name: $title, value: value.into_string(), rule: Self::RULE });
                }
                Ok(Self(value))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.into_string()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::new(CompactString::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $title.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let mut schema = schemars::json_schema!({
                    "type": "string",
                    "title": $title,
                    "description": $rule,
                });
                let pattern: Option<&str> = $pattern;
                if let Some(pattern) = pattern {
                    schema.insert("pattern".into(), pattern.into());
                }
                let max: Option<usize> = $max;
                if let Some(max) = max {
                    schema.insert("maxLength".into(), max.into());
                }
                schema
            }
        }
    };
}

/// A value that breaks the rule of its type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{value}` is not a valid {type_name}: {rule}")]
pub struct InvalidValue {
    /// The type's name, e.g. `Name`.
    pub type_name: &'static str,
    /// The rejected value.
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9][A-Za-z0-9_-]*` (the spec's object-name rule).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_alnum) && chars.all(|c| is_alnum(c) || c == '_' || c == '-')
}

/// `[A-Za-z0-9][A-Za-z0-9._-]*`.
fn is_token(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_alnum) && chars.all(|c| is_alnum(c) || "._-".contains(c))
}

fn is_hex_lower(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn has_no_control_chars(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

validated_string! {
    /// The system id of an object: generated (a UUIDv7) when a document omits it.
    ObjectId, title = "ObjectId", pattern = Some("^[A-Za-z0-9][A-Za-z0-9._-]*$"), max = Some(40),
    rule = "at most 40 characters from [A-Za-z0-9._-], starting with a letter or digit",
    check = is_token
}

impl ObjectId {
    /// A fresh, time-ordered id (UUIDv7).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string().into())
    }
}

validated_string! {
    /// The user-facing name of an object, unique case-insensitively among the non-archived
    /// objects of its kind.
    Name, title = "Name", pattern = Some("^[A-Za-z0-9][A-Za-z0-9_-]*$"), max = Some(255),
    rule = "1 to 255 characters matching [A-Za-z0-9][A-Za-z0-9_-]*",
    check = is_name
}

impl Name {
    /// The longest prefix of at most `max` characters of `text` mapped to what a name allows:
    /// characters outside `[A-Za-z0-9_-]` become `-`, and leading `-`/`_` are dropped. Empty
    /// when nothing is left.
    pub fn sanitized_text(text: &str, max: usize) -> String {
        let mapped: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        mapped.trim_start_matches(['-', '_']).chars().take(max).collect()
    }
}

validated_string! {
    /// Free text describing an object.
    Description, title = "Description", pattern = None, max = Some(32_768),
    rule = "at most 32768 characters", check = |_| true
}

validated_string! {
    /// A label key: an optional DNS-style prefix and `/`, then a name of at most 63 characters.
    LabelKey, title = "LabelKey",
    pattern = Some("^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"),
    max = Some(317),
    rule = "an optional lowercase DNS prefix and `/`, then 1 to 63 characters from [A-Za-z0-9_.-] starting and ending with a letter or digit",
    check = is_label_key
}

fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        (1..=253).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && p.starts_with(|c: char| c.is_ascii_alphanumeric())
            && p.ends_with(|c: char| c.is_ascii_alphanumeric())
    });
    prefix_ok && (1..=63).contains(&name.len()) && is_token(name) && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

validated_string! {
    /// A label value: short text without control characters.
    LabelValue, title = "LabelValue", pattern = Some("^[^\\u0000-\\u001F\\u007F]*$"), max = Some(255),
    rule = "at most 255 characters, no control characters",
    check = |s| !s.chars().any(char::is_control)
}

validated_string! {
    /// A version of a versioned object (a Dataset, a Module, a ModelPackage): an integer, a
    /// semantic version or another short token.
    Version, title = "Version", pattern = Some("^[A-Za-z0-9][A-Za-z0-9._+-]*$"), max = Some(64),
    rule = "1 to 64 characters from [A-Za-z0-9._+-], starting with a letter or digit",
    check = |s| { let mut c = s.chars(); c.next().is_some_and(is_alnum) && c.all(|c| is_alnum(c) || "._+-".contains(c)) }
}

validated_string! {
    /// A content digest `ALGORITHM:HEX`: `sha256:` + 64, `sha512:` + 128 or `blake3:` + 64
    /// lowercase hex digits.
    Digest, title = "Digest",
    pattern = Some("^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}|blake3:[0-9a-f]{64})$"), max = Some(135),
    rule = "`sha256:` + 64, `sha512:` + 128 or `blake3:` + 64 lowercase hex digits",
    check = is_digest
}

fn is_digest(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let expected = match algorithm {
        "sha256" | "blake3" => 64,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == expected && is_hex_lower(hex)
}

impl Digest {
    /// The algorithm part (`sha256`, `sha512`, `blake3`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex digits after the algorithm.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, hex)| hex)
    }

    /// The SHA-256 of `bytes`.
    pub fn sha256_of(bytes: impl AsRef<[u8]>) -> Digest {
        use sha2::Digest as _;
        Digest::sha256_finish(sha2::Sha256::new_with_prefix(bytes))
    }

    /// The SHA-256 of everything `hasher` was fed (for content streamed into it).
    pub fn sha256_finish(hasher: sha2::Sha256) -> Digest {
        use sha2::Digest as _;
        Digest(sha256_prefixed(&hex::encode(hasher.finalize())))
    }

    /// A SHA-256 given as hex (as in-toto subjects and manifests carry it): refused unless it
    /// is 64 lowercase hex digits.
    pub fn sha256_hex(hex: &str) -> Result<Digest, InvalidValue> {
        Digest::new(sha256_prefixed(hex))
    }
}

/// `sha256:` and the hex digits: the one place a digest's text is made.
fn sha256_prefixed(hex: &str) -> CompactString {
    format!("sha256:{hex}").into()
}

validated_string! {
    /// A reference to a secret held outside the document: `env:NAME`, `file:PATH`,
    /// `vault:PATH#KEY` or `k8s:NAMESPACE/NAME#KEY`. Documents never hold credentials.
    SecretRef, title = "SecretRef", pattern = Some("^(env|file|vault|k8s):[^\\s]+$"), max = Some(1024),
    rule = "`env:NAME`, `file:PATH`, `vault:PATH#KEY` or `k8s:NAMESPACE/NAME#KEY`",
    check = |s| s.split_once(':').is_some_and(|(scheme, rest)| {
        ["env", "file", "vault", "k8s"].contains(&scheme) && !rest.is_empty() && !rest.contains(char::is_whitespace)
    })
}

validated_string! {
    /// A duration such as `500ms`, `30s`, `15m`, `1h30m` or `7d`.
    DurationText, title = "Duration", pattern = Some("^([0-9]+(ms|s|m|h|d))+$"), max = Some(64),
    rule = "one or more <integer><unit> parts with unit ms, s, m, h or d, e.g. `1h30m`",
    check = |s| parse_duration_ms(s).is_some()
}

impl DurationText {
    /// The duration in milliseconds.
    pub fn as_millis(&self) -> u64 {
        parse_duration_ms(&self.0).unwrap_or(0)
    }
}

fn parse_duration_ms(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number: u64 = rest.get(..digits)?.parse().ok()?;
        rest = &rest[digits..];
        let (unit_ms, unit_len) = match rest.as_bytes() {
            [b'm', b's', ..] => (1, 2),
            [b's', ..] => (1_000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(unit_ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

validated_string! {
    /// An amount of memory or storage: bytes with an optional unit, e.g. `512MiB`, `16GiB`, `2GB`.
    ByteSize, title = "ByteSize", pattern = Some("^[0-9]+(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$"), max = Some(32),
    rule = "an integer with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. `16GiB`",
    check = |s| parse_byte_size(s).is_some()
}

impl ByteSize {
    /// The size in bytes.
    pub fn as_bytes(&self) -> u64 {
        parse_byte_size(&self.0).unwrap_or(0)
    }
}

fn parse_byte_size(s: &str) -> Option<u64> {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let number: u64 = s.get(..digits)?.parse().ok()?;
    let factor: u64 = match &s[digits..] {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(factor)
}

validated_string! {
    /// A media type such as `application/octet-stream` or `text/csv`.
    MediaType, title = "MediaType", pattern = Some("^[a-z0-9][a-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(;.*)?$"), max = Some(255),
    rule = "`type/subtype`, e.g. `application/octet-stream`",
    check = |s| s.split_once('/').is_some_and(|(t, sub)| {
        let sub = sub.split(';').next().unwrap_or("");
        is_media_token(t) && t.chars().all(|c| !c.is_ascii_uppercase()) && is_media_token(sub)
    })
}

fn is_media_token(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_alnum) && chars.all(|c| is_alnum(c) || "!#$&^_.+-".contains(c))
}

validated_string! {
    /// A relative path inside a datastore, package or directory: no leading `/`, no `..`
    /// segment, no empty segment.
    RelativePath, title = "RelativePath", pattern = Some("^(?!/)(?!.*(^|/)\\.\\.(/|$))(?!.*//)[^\\u0000]+$"), max = Some(4096),
    rule = "a relative path: no leading `/`, no `..` or empty segment",
    check = |s| !s.is_empty() && !s.starts_with('/') && !s.contains('\0') && s.split('/').all(|seg| !seg.is_empty() && seg != "..")
}

validated_string! {
    /// A key of a metric, parameter or tag: letters, digits and `_ - . / : space`.
    Key, title = "Key", pattern = Some("^[A-Za-z0-9_./: -]+$"), max = Some(250),
    rule = "1 to 250 characters from letters, digits and `_ - . / : space`",
    check = |s| !s.is_empty() && s.chars().all(|c| is_alnum(c) || "_-./: ".contains(c))
}

validated_string! {
    /// A short single-line text (a title, an owner, a framework name).
    ShortText, title = "ShortText", pattern = Some("^[^\\u0000-\\u001F\\u007F]+$"), max = Some(1024),
    rule = "1 to 1024 characters on one line",
    check = |s| !s.is_empty() && !s.chars().any(char::is_control)
}

validated_string! {
    /// Free text that may span lines (a command, a query, an expression).
    Text, title = "Text", pattern = None, max = Some(1_048_576),
    rule = "at most 1 MiB of text without control characters other than newline and tab",
    check = has_no_control_chars
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust rule and the published schema (checked by the jsonschema crate) agree on every
    /// sample.
    fn agree<T: schemars::JsonSchema + std::str::FromStr>(samples: &[&str]) {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let validator = jsonschema::validator_for(schema.as_value()).unwrap();
        for sample in samples {
            assert_eq!(
                T::from_str(sample).is_ok(),
                validator.is_valid(&serde_json::json!(sample)),
                "{} disagrees with its schema on {sample:?}",
                T::schema_name()
            );
        }
    }

    #[test]
    fn names() {
        agree::<Name>(&["penguins-raw", "a", "A_1-b", "-a", "_a", "a b", "é", "", "a.b"]);
        assert!(Name::new("x".repeat(255)).is_ok());
        assert!(Name::new("x".repeat(256)).is_err());
    }

    #[test]
    fn ids() {
        agree::<ObjectId>(&["0193c7a2-7b7e-7d4e-8f00-000000000000", "a.b", ".a", "a b", ""]);
        assert_eq!(ObjectId::generate().as_str().len(), 36);
        assert!(ObjectId::new("x".repeat(41)).is_err());
    }

    #[test]
    fn digests() {
        let sha = format!("sha256:{}", "ab".repeat(32));
        agree::<Digest>(&[
            &sha,
            "sha256:abc",
            "md5:00",
            &sha.to_uppercase(),
            &format!("sha512:{}", "0".repeat(128)),
        ]);
        assert_eq!(Digest::new(sha).map(|d| d.algorithm().to_owned()), Ok("sha256".into()));
    }

    #[test]
    fn sha256_digests_are_made_one_way() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let of_bytes = Digest::sha256_of(b"");
        assert_eq!(of_bytes.as_str(), format!("sha256:{empty}"));
        assert_eq!(of_bytes.hex(), empty);
        assert_eq!(Digest::sha256_hex(empty), Ok(of_bytes.clone()));
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut hasher, b"a");
        sha2::Digest::update(&mut hasher, b"bc");
        assert_eq!(Digest::sha256_finish(hasher), Digest::sha256_of(b"abc"));
        assert!(Digest::sha256_hex("AB").is_err());
        assert!(Digest::sha256_hex(&empty.to_uppercase()).is_err());
    }

    #[test]
    fn label_keys() {
        agree::<LabelKey>(&[
            "team",
            "mlspec.org/owner",
            "a-",
            "-a",
            "A.b_c",
            "x/",
            "/x",
            "Upper.Case/x",
        ]);
    }

    #[test]
    fn durations_and_sizes() {
        agree::<DurationText>(&["500ms", "1h30m", "7d", "", "1x", "m", "10"]);
        assert_eq!(DurationText::new("1h30m").map(|d| d.as_millis()), Ok(5_400_000));
        agree::<ByteSize>(&["16GiB", "512", "2GB", "1.5GB", "GiB", "16gib"]);
        assert_eq!(ByteSize::new("16GiB").map(|s| s.as_bytes()), Ok(16 << 30));
        assert!(ByteSize::new("99999999999999TiB").is_err(), "overflow is rejected");
    }

    #[test]
    fn paths_and_others() {
        agree::<RelativePath>(&["a/b.csv", "/abs", "a/../b", "..", "a//b", "a/./b", ""]);
        agree::<MediaType>(&[
            "text/csv",
            "application/vnd.onnx+protobuf",
            "Text/csv",
            "text",
            "text/csv; charset=utf-8",
        ]);
        agree::<SecretRef>(&["env:AWS_KEY", "vault:kv/x#y", "plain", "env:", "env:a b"]);
        agree::<Key>(&["loss", "val/accuracy", "a b", "", "a\u{1}"]);
    }
}
