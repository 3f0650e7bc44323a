//! String matchers shared by route and header matching.

use std::fmt;

/// A compiled regular expression that compares equal by its source text.
///
/// xDS carries RE2 patterns (`safe_regex`); the `regex` crate accepts the same syntax for
/// everything RE2 does. A pattern always matches the *whole* input, as RE2's full match does in
/// gRPC and Envoy, so `a.c` matches `abc` but not `xabcx`.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    anchored: regex::Regex,
}

/// A pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {source_text:?}: {reason}")]
pub struct PatternError {
    source_text: String,
    reason: String,
}

impl Pattern {
    /// Compiles `source` as a full-match pattern.
    pub fn new(source: &str) -> Result<Self, PatternError> {
        let anchored = regex::Regex::new(&format!("^(?:{source})$")).map_err(|e| PatternError {
            source_text: source.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            source: source.to_string(),
            anchored,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `input` matches.
    pub fn is_match(&self, input: &str) -> bool {
        self.anchored.is_match(input)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// A pattern serializes as its source text.
impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// How a string value (a header value, say) is matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StringMatch {
    /// Equal to this string.
    Exact(String),
    /// Starts with this string.
    Prefix(String),
    /// Ends with this string.
    Suffix(String),
    /// Contains this string.
    Contains(String),
    /// The whole value matches this pattern.
    Regex(Pattern),
    /// Any value, as long as one is there.
    Present,
}

impl StringMatch {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(s) => value == s,
            StringMatch::Prefix(s) => value.starts_with(s.as_str()),
            StringMatch::Suffix(s) => value.ends_with(s.as_str()),
            StringMatch::Contains(s) => value.contains(s.as_str()),
            StringMatch::Regex(p) => p.is_match(value),
            StringMatch::Present => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_matches_the_whole_input() {
        let p = Pattern::new("a.c").unwrap();
        assert!(p.is_match("abc"));
        assert!(!p.is_match("xabcx"));
        assert_eq!(p, Pattern::new("a.c").unwrap());
    }

    #[test]
    fn bad_pattern_says_what() {
        let err = Pattern::new("a(").unwrap_err().to_string();
        assert!(err.contains("\"a(\""), "{err}");
    }

    #[test]
    fn string_matchers() {
        assert!(StringMatch::Exact("v1".into()).matches("v1"));
        assert!(!StringMatch::Exact("v1".into()).matches("v10"));
        assert!(StringMatch::Prefix("v".into()).matches("v10"));
        assert!(StringMatch::Suffix("10".into()).matches("v10"));
        assert!(StringMatch::Contains("1".into()).matches("v10"));
        assert!(StringMatch::Present.matches(""));
    }
}
