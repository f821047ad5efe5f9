//! Writing files whole, and never over a file the command does not own: the bytes go to a
//! temporary file beside the target, are synced, then renamed over it — so a crash, a full disk
//! or a closed pipe leaves the old file or the new one, never half of one — and an existing
//! target is only replaced when it is what the command writes.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, bail};

/// The most of an existing file read to tell whether a command owns it.
const SNIFF_BYTES: u64 = 4096;

/// What a command writes, to recognise a file it may replace.
pub struct Owned {
    /// What it is, for the message (`a DSSE envelope`).
    pub what: &'static str,
    /// Whether the start of a file (at most 4 KiB, lossily decoded) is one.
    pub looks_like: fn(&str) -> bool,
}

/// A DSSE envelope as mlspec writes it (its first member is `payload`).
pub const ENVELOPE: Owned = Owned {
    what: "a DSSE envelope",
    looks_like: |start| first_member(start) == Some("payload"),
};

/// An OpenSSF model-signing (Sigstore) bundle.
pub const BUNDLE: Owned = Owned {
    what: "a model-signing bundle",
    looks_like: |start| first_member(start) == Some("mediaType") && start.contains("sigstore.bundle"),
};

/// An MLSpec document, YAML or JSON.
pub const DOCUMENT: Owned = Owned {
    what: "an MLSpec document",
    looks_like: |start| {
        start
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---" && *l != "{")
            .is_some_and(|l| l.trim_start_matches(['{', '"']).starts_with("apiVersion") && l.contains("mlspec/"))
    },
};

/// A JSON Schema.
pub const SCHEMA: Owned = Owned {
    what: "a JSON Schema",
    looks_like: |start| first_member(start) == Some("$schema"),
};

/// An address file (`host:port`), as `step run --addr-file` writes it.
pub const ADDRESS: Owned = Owned {
    what: "an address file (host:port)",
    looks_like: |start| start.trim().is_empty() || start.trim().parse::<std::net::SocketAddr>().is_ok(),
};

/// The name of the first member of a JSON object.
fn first_member(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(name, _)| name)
}

/// Writes `bytes` to `path` whole, replacing it only if `owned` recognises it (`None`: a file
/// of the command's own, e.g. in a directory it manages).
pub fn write_whole(path: &Path, bytes: &[u8], owned: Option<&Owned>) -> anyhow::Result<()> {
    if let Some(owned) = owned {
        refuse_unless_owned(path, owned)?;
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot = || format!("cannot write {}", path.display());
    let mut file = tempfile::Builder::new()
        .prefix(".mlspec-")
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(cannot)?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(cannot)?;
    file.persist(path).map_err(|e| e.error).with_context(cannot)?;
    Ok(())
}

/// Refuses to replace an existing file that is not what the command writes.
fn refuse_unless_owned(path: &Path, owned: &Owned) -> anyhow::Result<()> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        bail!(
            "{} exists and is not a regular file; write to another path",
            path.display()
        );
    }
    let mut start = Vec::new();
    file.take(SNIFF_BYTES)
        .read_to_end(&mut start)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !(owned.looks_like)(&String::from_utf8_lossy(&start)) {
        bail!(
            "{} exists and is not {}; it is not overwritten (write to another path, or remove it first)",
            path.display(),
            owned.what
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_command_writes_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "precious,data\n1,2\n").unwrap();
        let refused = write_whole(&path, b"{}", Some(&ENVELOPE)).unwrap_err().to_string();
        assert!(
            refused.contains("is not a DSSE envelope; it is not overwritten"),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious,data\n1,2\n");
        std::fs::write(&path, "{\n  \"payload\": \"e30=\",\n  \"payloadType\": \"x\"}").unwrap();
        write_whole(&path, b"{\"payload\":\"new\"}", Some(&ENVELOPE)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"payload\":\"new\"}");
        assert!((DOCUMENT.looks_like)(
            "# migrated\napiVersion: mlspec/v1\nkind: Model\n"
        ));
        assert!((DOCUMENT.looks_like)("{\n  \"apiVersion\": \"mlspec/v1\",\n"));
        assert!(!(DOCUMENT.looks_like)("apiVersion: v1\nkind: Pod\n"));
        assert!((SCHEMA.looks_like)("{\n  \"$schema\": \"https://json-schema.org/\""));
        assert!((ADDRESS.looks_like)("127.0.0.1:8080\n"));
        assert!(!(ADDRESS.looks_like)("my notes\n"));
        // Nothing but the target is left in the directory.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
    }
}
