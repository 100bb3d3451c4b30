//! A small `--key value` / `--key=value` command-line parser that refuses
//! options nobody asked for.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// Parsed options and positional arguments of one subcommand.
pub struct Args {
    opts: BTreeMap<String, String>,
    /// Arguments that are not options, in order.
    pub positional: Vec<String>,
    used: RefCell<BTreeSet<String>>,
}

impl Args {
    /// Parses everything after the subcommand name.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut opts = BTreeMap::new();
        let mut positional = Vec::new();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            if let Some(key) = a.strip_prefix("--") {
                let (k, v) = match key.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => {
                        let v = it
                            .next()
                            .ok_or_else(|| format!("option --{key} needs a value"))?;
                        (key.to_string(), v.clone())
                    }
                };
                opts.insert(k, v);
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args {
            opts,
            positional,
            used: RefCell::new(BTreeSet::new()),
        })
    }

    /// The raw value of `--key`, if given.
    pub fn str(&self, key: &str) -> Option<String> {
        self.used.borrow_mut().insert(key.to_string());
        self.opts.get(key).cloned()
    }

    /// `--key` parsed, or `default` when absent.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: cannot parse {v:?}")),
        }
    }

    /// `--key` parsed; an error when absent.
    pub fn req<T: FromStr>(&self, key: &str) -> Result<T, String> {
        let v = self
            .str(key)
            .ok_or_else(|| format!("--{key} is required"))?;
        v.parse()
            .map_err(|_| format!("--{key}: cannot parse {v:?}"))
    }

    /// Errors on any option that was given but never asked for.
    pub fn finish(&self) -> Result<(), String> {
        let used = self.used.borrow();
        match self.opts.keys().find(|k| !used.contains(*k)) {
            Some(k) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}
