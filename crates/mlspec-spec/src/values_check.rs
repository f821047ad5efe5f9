//! Rules on every value of a document, whatever its kind: numbers are finite (JSON cannot carry
//! NaN or ±infinity, so a document that holds one could be written but never read back), and no
//! string or user-chosen key carries a credential inline ([`crate::redact`]).
//!
//! The document is walked through its own `Serialize` implementation, so the rules see exactly
//! what a writer would write, at the JSON Pointer it would be written at.

use serde::ser::{self, Serialize};

use crate::redact::{self, Secret};
use crate::rules::Findings;

/// What to do about a non-finite number.
pub const NON_FINITE_HINT: &str = "MLSpec documents never carry NaN or infinity (JSON cannot): count such values instead \
     (as a profile's NaN and infinity counts do) and record only finite statistics, or leave the field out";

/// What to do about an inline credential.
pub const SECRET_HINT: &str = "remove the secret and refer to it by name: `{secretRef: env:NAME}` in a Datastore's \
     connection, or an environment variable the code reads; rotate it if this file was shared";

/// The message for a non-finite number.
pub fn non_finite_message(value: f64) -> String {
    let shown = if value.is_nan() {
        ".nan"
    } else if value > 0.0 {
        ".inf"
    } else {
        "-.inf"
    };
    format!("`{shown}` is not a finite number; MLSpec documents never carry NaN or infinity")
}

/// Adds an error for every non-finite number and every inline credential in `value`; true when
/// a number was not finite (rules that compute with numbers would only repeat it).
pub fn check_values<T: Serialize + ?Sized>(value: &T, findings: &mut Findings) -> bool {
    let mut walker = Walker {
        path: Vec::new(),
        findings,
        secret_key: None,
        previous_item: None,
        last_flag: None,
        non_finite: false,
    };
    // The walker itself never fails; a type whose Serialize fails is not a document's.
    let _ = value.serialize(&mut walker);
    walker.non_finite
}

struct Walker<'a> {
    /// JSON Pointer segments, escaped.
    path: Vec<String>,
    findings: &'a mut Findings,
    /// The map key the next value belongs to, when the key looks like a credential.
    secret_key: Option<String>,
    /// The previous item of the sequence being walked, when it was a flag (`--password VALUE`).
    previous_item: Option<String>,
    /// The last flag-like string walked, with the depth it was at.
    last_flag: Option<(usize, String)>,
    /// Whether a non-finite number was found.
    non_finite: bool,
}

impl Walker<'_> {
    fn pointer(&self) -> String {
        self.path.iter().map(|s| format!("/{s}")).collect()
    }

    fn number(&mut self, value: f64) {
        self.secret_key = None;
        if !value.is_finite() {
            self.non_finite = true;
            let pointer = self.pointer();
            self.findings
                .error(pointer, non_finite_message(value))
                .hint(NON_FINITE_HINT);
        }
    }

    fn scalar_secret_key(&mut self) {
        if let Some(key) = self.secret_key.take() {
            let pointer = self.pointer();
            self.findings
                .error(pointer, format!("`{key}` looks like a credential and is given inline"))
                .hint(SECRET_HINT);
        }
    }

    fn string(&mut self, text: &str) {
        let previous = self.previous_item.take();
        if text.starts_with('-') {
            self.last_flag = Some((self.path.len(), text.to_owned()));
        }
        if let Some(key) = self.secret_key.take()
            && !redact::is_reference(text)
        {
            self.secret_key = Some(key);
            self.scalar_secret_key();
            return;
        }
        let mut secrets = redact::find(text);
        secrets.extend(previous.and_then(|p| redact::secret_argument(&p, text)));
        for Secret { what, .. } in secrets {
            let pointer = self.pointer();
            self.findings
                .error(pointer, format!("{what} is given inline"))
                .hint(SECRET_HINT);
        }
    }

    fn nested<F: FnOnce(&mut Self) -> Result<(), Error>>(&mut self, segment: String, f: F) -> Result<(), Error> {
        self.path.push(segment);
        let result = f(self);
        self.path.pop();
        result
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The walker never fails; this exists because serde requires an error type.
#[derive(Debug)]
struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot walk the value")
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Error
    }
}

/// A compound value being walked: the index of the next item, the previous item when it was a
/// flag (a sequence of strings is read as a command line), and whether an enum variant's name
/// was added to the path.
struct Compound<'w, 'a> {
    walker: &'w mut Walker<'a>,
    index: usize,
    previous_item: Option<String>,
    variant: bool,
}

impl<'w, 'a> Compound<'w, 'a> {
    fn new(walker: &'w mut Walker<'a>) -> Self {
        walker.secret_key = None;
        Compound {
            walker,
            index: 0,
            previous_item: None,
            variant: false,
        }
    }

    fn variant(walker: &'w mut Walker<'a>, name: &str) -> Self {
        walker.path.push(escape(name));
        Compound {
            variant: true,
            ..Compound::new(walker)
        }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let segment = self.index.to_string();
        self.index += 1;
        self.walker.previous_item = self.previous_item.take();
        self.walker.last_flag = None;
        let result = self.walker.nested(segment, |w| value.serialize(w));
        let depth = self.walker.path.len() + 1;
        self.previous_item = self
            .walker
            .last_flag
            .take()
            .filter(|(at, _)| *at == depth)
            .map(|(_, flag)| flag);
        self.walker.previous_item = None;
        result
    }

    fn end(self) -> Result<(), Error> {
        if self.variant {
            self.walker.path.pop();
        }
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.walker.nested(escape(key), |w| value.serialize(w))
    }
}

macro_rules! sequence_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.item(value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

sequence_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _key: &T) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, _value: &T) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Error> {
        let key = match serde_json::to_value(key) {
            Ok(serde_json::Value::String(key)) => key,
            Ok(other) => other.to_string(),
            Err(_) => return Err(Error),
        };
        // A key is chosen by the writer (parameters, settings, variables): one that names a
        // credential must not hold a literal value.
        if redact::is_secret_variable(&key) {
            self.walker.secret_key = Some(key.clone());
        }
        let result = self.walker.nested(escape(&key), |w| value.serialize(w));
        self.walker.secret_key = None;
        result
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// An integer is always finite; under a credential-like key it is a credential given inline.
macro_rules! integers {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, _: $type) -> Result<(), Error> {
            self.scalar_secret_key();
            Ok(())
        }
    )*};
}

impl<'w, 'a> ser::Serializer for &'w mut Walker<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        self.secret_key = None;
        Ok(())
    }
    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64
    );
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if v.is_finite() {
            self.scalar_secret_key();
        }
        self.number(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        self.secret_key = None;
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.secret_key = None;
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.secret_key = None;
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.secret_key = None;
        self.nested(escape(variant), |w| value.serialize(w))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::variant(self, variant))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::new(self))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::new(self))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        Ok(Compound::variant(self, variant))
    }
}
