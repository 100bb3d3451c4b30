//! What an option is, apart from which one: the kind of value it takes,
//! how a value of that kind is read from a flag, a TOML file or JSON, and
//! how it is shown. The options themselves are one table
//! (`super::options`), each row naming its field, type, default and help;
//! reading, `-help` and `Debug` all go through the row, so an option is
//! spelled once.

use std::time::Duration;

use super::duration;
use crate::access::Cidr;
use crate::address::AddressPolicy;
use super::Level;

/// The kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Free text.
    Text,
    /// A Go duration (`300s`, `1m30s`); an integer in a file is milliseconds.
    Duration,
    /// `debug`, `info`, `warn`, `error` or `fatal`.
    Level,
    /// A positive integer.
    Count,
    /// `true` or `false` (a bare flag is `true`).
    Bool,
    /// CIDR networks, comma-separated or a list.
    Networks,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// Items, comma-separated or a list.
    List,
}

impl Kind {
    /// The word Go's `-help` shows for a flag of this kind.
    pub fn flag_type(self) -> &'static str {
        match self {
            Kind::Duration => "duration",
            Kind::Level => "value",
            Kind::Count => "int",
            Kind::Bool => "",
            Kind::Text | Kind::Networks | Kind::Choice(_) | Kind::List => "string",
        }
    }
}

/// One option of an options struct `O`: its name, kind and help, and how
/// it is set and shown.
pub struct Spec<O: 'static> {
    /// The underscore name (TOML and JSON key); flags use dashes instead.
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// Help text.
    pub help: &'static str,
    /// Whether its value is a secret, never shown.
    pub secret: bool,
    pub(super) set: fn(&mut O, Value<'_>) -> Result<(), String>,
    pub(super) show: fn(&O) -> String,
}

impl<O> std::fmt::Debug for Spec<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}


/// A value as it arrives from a flag, a TOML file or JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A string (every flag value is one).
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    Items(&'a [String]),
    /// Anything else (array, table, null, date); named for the error.
    Other(&'static str),
}

/// A type an option can have: its kind, how a value is read, how it is
/// shown.
pub(super) trait Setting: Sized {
    const KIND: Kind;
    fn read(value: Value<'_>) -> Result<Self, String>;
    fn show(&self) -> String;
}

impl Setting for String {
    const KIND: Kind = Kind::Text;
    fn read(value: Value<'_>) -> Result<Self, String> {
        text(value).map(str::to_owned)
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl Setting for Duration {
    const KIND: Kind = Kind::Duration;
    fn read(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Text(s) => duration::parse(s),
            Value::Int(ms) => Ok(duration::from_config_int(ms)),
            other => Err(format!("expected a duration, got {}", type_name(other))),
        }
    }
    fn show(&self) -> String {
        duration::format(*self)
    }
}

impl Setting for Level {
    const KIND: Kind = Kind::Level;
    fn read(value: Value<'_>) -> Result<Self, String> {
        text(value).and_then(str::parse)
    }
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Setting for usize {
    const KIND: Kind = Kind::Count;
    fn read(value: Value<'_>) -> Result<Self, String> {
        let n = match value {
            Value::Int(i) => usize::try_from(i).map_err(|_| format!("{i} is negative"))?,
            Value::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a non-negative integer"))?,
            other => return Err(format!("expected an integer, got {}", type_name(other))),
        };
        if n == 0 {
            return Err("must be at least 1".into());
        }
        Ok(n)
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Setting for bool {
    const KIND: Kind = Kind::Bool;
    fn read(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::Text(t) => parse_bool(t).ok_or_else(|| format!("{t:?} is not a boolean")),
            other => Err(format!("expected a boolean, got {}", type_name(other))),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Setting for Vec<Cidr> {
    const KIND: Kind = Kind::Networks;
    fn read(value: Value<'_>) -> Result<Self, String> {
        items(value, "CIDR networks")?
            .into_iter()
            .map(str::parse)
            .collect()
    }
    fn show(&self) -> String {
        let all: Vec<String> = self.iter().map(Cidr::to_string).collect();
        all.join(",")
    }
}

impl Setting for Vec<String> {
    const KIND: Kind = Kind::List;
    fn read(value: Value<'_>) -> Result<Self, String> {
        Ok(items(value, "a list")?
            .into_iter()
            .map(|s| s.trim().to_owned())
            .collect())
    }
    fn show(&self) -> String {
        self.join(",")
    }
}

impl Setting for AddressPolicy {
    const KIND: Kind = Kind::Choice(&["broadcast", "remote", "auto"]);
    fn read(value: Value<'_>) -> Result<Self, String> {
        text(value).and_then(str::parse)
    }
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

/// A positive integer of at least `min`.
pub(super) fn at_least(min: usize) -> impl Fn(&usize) -> Result<(), String> {
    move |n| {
        if *n < min {
            Err(format!("must be at least {min}"))
        } else {
            Ok(())
        }
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn text(value: Value<'_>) -> Result<&str, String> {
    match value {
        Value::Text(s) => Ok(s),
        other => Err(format!("expected a string, got {}", type_name(other))),
    }
}

/// Items given comma-separated in one string, or as a list.
fn items<'a>(value: Value<'a>, what: &str) -> Result<Vec<&'a str>, String> {
    match value {
        Value::Text(t) => Ok(t.split(',').filter(|s| !s.trim().is_empty()).collect()),
        Value::Items(items) => Ok(items.iter().map(String::as_str).collect()),
        other => Err(format!("expected {what}, got {}", type_name(other))),
    }
}

pub(super) fn type_name(v: Value<'_>) -> &'static str {
    match v {
        Value::Text(_) => "a string",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Bool(_) => "a boolean",
        Value::Items(_) => "a list",
        Value::Other(name) => name,
    }
}
