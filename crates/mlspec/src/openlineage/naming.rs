//! Dataset names: OpenLineage identifies a dataset by a `namespace`, the data source
//! (`scheme://authority`), and a `name` unique within it, so that two tools naming the same data
//! link up in one lineage graph (<https://openlineage.io/docs/spec/naming>):
//!
//! | where the data is | namespace | name |
//! |---|---|---|
//! | a local file `/data/iris.csv` (or `file:///data/iris.csv`) | `file` | `/data/iris.csv` |
//! | a file on another host, `file://nas/data/iris.csv` | `file://nas` | `/data/iris.csv` |
//! | `hdfs://namenode:8020/data/x` | `hdfs://namenode:8020` | `/data/x` |
//! | `s3://bucket/data/x.parquet` (likewise `gs://`, `abfss://`, …) | `s3://bucket` | `data/x.parquet` |
//! | `postgres://host:5432/db.schema.table` | `postgres://host:5432` | `db.schema.table` |
//!
//! File systems keep the absolute path as the name; object stores and databases name the object
//! without the leading `/`. User info (`user:password@`) and a query string never reach a name.

use std::path::Path;

use mlspec_spec::newtypes::Digest;

/// An input or output of a run: its OpenLineage identity and, once known, its content digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    pub namespace: String,
    pub name: String,
    pub digest: Option<Digest>,
}

/// The dataset at `path` in the datastore whose location is `datastore` (its `spec.uri`, e.g.
/// `s3://bucket/prefix` or `file:///data`; empty for the local file system). A `path` that is a
/// URL itself, or an absolute path in a file-system datastore, stands on its own; a relative
/// local path is taken from the current directory.
pub fn dataset(datastore: &str, path: &str, digest: Option<Digest>) -> Dataset {
    let location = locate(datastore, path);
    let (namespace, name) = match split_scheme(&location) {
        Some((scheme, rest)) => url_identity(scheme, rest),
        None => ("file".to_owned(), absolute(&location)),
    };
    Dataset {
        namespace,
        name,
        digest,
    }
}

/// Where `path` is, as one URL or local path.
fn locate(datastore: &str, path: &str) -> String {
    let local_datastore = split_scheme(datastore).is_none_or(|(scheme, _)| scheme == "file");
    if datastore.is_empty() || split_scheme(path).is_some() || (local_datastore && path.starts_with('/')) {
        return path.to_owned();
    }
    format!("{}/{}", datastore.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// The scheme of a URL (`s3` of `s3://…`, `file` of `file:/…`) and what follows `scheme:`.
fn split_scheme(location: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = location.split_once(':')?;
    let valid = scheme.len() > 1 // not a drive letter
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (valid && rest.starts_with('/')).then_some((scheme, rest))
}

/// Namespace and name of `scheme:rest`, `rest` being `//authority/path` or `/path`.
fn url_identity(scheme: &str, rest: &str) -> (String, String) {
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => after.split_once('/').map_or((after, ""), |(a, p)| (a, p)),
        None => ("", rest.trim_start_matches('/')),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let local_host = host.is_empty() || host.eq_ignore_ascii_case("localhost");
    match scheme.as_str() {
        "file" if local_host => ("file".to_owned(), format!("/{path}")),
        "file" | "hdfs" => (format!("{scheme}://{host}"), format!("/{path}")),
        _ => (format!("{scheme}://{host}"), path.to_owned()),
    }
}

/// `path` made absolute against the current directory, without touching the file system.
fn absolute(path: &str) -> String {
    std::path::absolute(Path::new(path)).map_or_else(|_| path.to_owned(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(datastore: &str, path: &str) -> (String, String) {
        let d = dataset(datastore, path, None);
        (d.namespace, d.name)
    }

    fn pair(namespace: &str, name: &str) -> (String, String) {
        (namespace.to_owned(), name.to_owned())
    }

    #[test]
    fn local_files_are_in_the_file_namespace_by_absolute_path() {
        assert_eq!(id("", "/data/iris.csv"), pair("file", "/data/iris.csv"));
        assert_eq!(id("file:///data", "iris.csv"), pair("file", "/data/iris.csv"));
        assert_eq!(id("file:///data/", "/other/x.csv"), pair("file", "/other/x.csv"));
        assert_eq!(id("/data", "iris.csv"), pair("file", "/data/iris.csv"));
        assert_eq!(id("file://localhost/data", "x"), pair("file", "/data/x"));
        assert_eq!(id("file://nas/data", "x"), pair("file://nas", "/data/x"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            id("", "out/model.bin").1,
            cwd.join("out/model.bin").display().to_string()
        );
    }

    #[test]
    fn object_stores_and_databases_name_the_object_within_the_source() {
        assert_eq!(
            id("s3://bucket/prefix/", "x.parquet"),
            pair("s3://bucket", "prefix/x.parquet")
        );
        assert_eq!(id("gs://b", "/k/y.csv"), pair("gs://b", "k/y.csv"));
        assert_eq!(id("", "s3://bucket/k"), pair("s3://bucket", "k"));
        assert_eq!(id("hdfs://nn:8020/data", "x"), pair("hdfs://nn:8020", "/data/x"));
        assert_eq!(
            id("postgres://db:5432", "sales.public.orders"),
            pair("postgres://db:5432", "sales.public.orders")
        );
    }

    #[test]
    fn credentials_and_queries_never_reach_an_identity() {
        let (namespace, name) = id("postgres://u:hunter2@db:5432/x?sslpassword=hunter2", "t");
        assert_eq!(namespace, "postgres://db:5432");
        assert!(!format!("{namespace}{name}").contains("hunter2"), "{name}");
    }
}
