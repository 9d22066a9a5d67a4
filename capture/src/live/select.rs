//! Which interfaces a capture takes, as operators name them: exact names,
//! globs (`veth*`, `cali*`), or every interface, each with a sampling rate
//! of its own or the default one.

use glob::Pattern;

use crate::error::CaptureError;
use crate::options::Opt;

use super::IfaceSpec;

/// The interface selection of a capture.
#[derive(Debug)]
pub struct Selector {
    specs: Vec<(Match, Option<u32>)>,
    all: bool,
    default_rate: u32,
}

#[derive(Debug)]
enum Match {
    Name(String),
    Glob(Pattern),
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Selector {
    pub fn new(specs: &[IfaceSpec], all: bool, default_rate: u32) -> Result<Self, CaptureError> {
        let mut v = Vec::new();
        for s in specs {
            let m = if is_glob(&s.pattern) {
                Match::Glob(Pattern::new(&s.pattern).map_err(|e| CaptureError::Option {
                    opt: Opt::Interface,
                    detail: format!("'{}' is not a valid pattern: {e}", s.pattern),
                })?)
            } else {
                if v.iter()
                    .any(|(m, _)| matches!(m, Match::Name(n) if *n == s.pattern))
                {
                    return Err(CaptureError::Option {
                        opt: Opt::Interface,
                        detail: format!("interface '{}' given twice", s.pattern),
                    });
                }
                Match::Name(s.pattern.clone())
            };
            v.push((m, s.rate));
        }
        Ok(Selector {
            specs: v,
            all,
            default_rate,
        })
    }

    /// The rate for interface `name`, if the selection takes it: that of
    /// the first spec it matches, else the default.
    pub fn rate_for(&self, name: &str) -> Option<u32> {
        for (m, rate) in &self.specs {
            let hit = match m {
                Match::Name(n) => n == name,
                Match::Glob(p) => p.matches(name),
            };
            if hit {
                return Some(rate.unwrap_or(self.default_rate));
            }
        }
        self.all.then_some(self.default_rate)
    }

    /// Named exactly (not only through a glob or `--all-interfaces`): such
    /// an interface must exist at the start, and its disappearance ends
    /// the capture.
    pub fn is_named(&self, name: &str) -> bool {
        self.specs
            .iter()
            .any(|(m, _)| matches!(m, Match::Name(n) if n == name))
    }

    /// The exactly named interfaces.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.iter().filter_map(|(m, _)| match m {
            Match::Name(n) => Some(n.as_str()),
            Match::Glob(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: &str, rate: Option<u32>) -> IfaceSpec {
        IfaceSpec {
            pattern: p.into(),
            rate,
        }
    }

    #[test]
    fn first_matching_spec_gives_the_rate() {
        let s = Selector::new(
            &[
                spec("eth0", Some(1000)),
                spec("veth*", None),
                spec("wg*", Some(10)),
            ],
            false,
            100,
        )
        .unwrap();
        assert_eq!(s.rate_for("eth0"), Some(1000));
        assert_eq!(s.rate_for("veth12"), Some(100));
        assert_eq!(s.rate_for("wg0"), Some(10));
        assert_eq!(s.rate_for("lo"), None);
        assert!(s.is_named("eth0") && !s.is_named("veth12"));
        assert_eq!(s.names().collect::<Vec<_>>(), ["eth0"]);
        let all = Selector::new(&[spec("wg0", Some(10))], true, 7).unwrap();
        assert_eq!(all.rate_for("wg0"), Some(10));
        assert_eq!(all.rate_for("anything"), Some(7));
    }

    #[test]
    fn bad_selections_are_refused() {
        let e = Selector::new(&[spec("a", None), spec("a", None)], false, 1).unwrap_err();
        assert_eq!(e.to_string(), "-i: interface 'a' given twice");
        let e = Selector::new(&[spec("veth[", None)], false, 1).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("-i: 'veth[' is not a valid pattern"),
            "{e}"
        );
    }
}
