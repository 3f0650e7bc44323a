//! Config errors that point at the line to fix.
//!
//! Every problem found while loading a config directory becomes one [`ConfigError`] that says
//! where (file and line), which object (`HTTPRoute demo/split`), which field
//! (`spec.rules[0].backendRefs[1].weight`), what is wrong and what to do about it. A load reports
//! all of its problems at once, as [`ConfigErrors`], so a user fixes them in one go.

use std::fmt;

/// One problem in the config, with where it is and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    file: String,
    line: usize,
    object: Option<String>,
    field: Option<String>,
    message: String,
}

impl ConfigError {
    /// A problem at `line` (1-based; 0 when there is no line, such as an unreadable file).
    /// A message of several lines is joined into one, so that each error is one line.
    pub(crate) fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let lines: Vec<&str> = message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Self {
            file: file.into(),
            line,
            object: None,
            field: None,
            message: lines.join(" "),
        }
    }

    /// Names the object the problem is in, such as `HTTPRoute demo/split`.
    pub(crate) fn in_object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    /// Names the field the problem is in, such as `spec.ports[0].port`.
    pub(crate) fn at_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The file (or directory) the problem is in.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line of the problem, or 0 when it has none.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The object the problem is in, such as `HTTPRoute demo/split`.
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }

    /// The field path of the problem, such as `spec.rules[0].backendRefs[1].weight`.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong and what to do about it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(object) = &self.object {
            write!(f, ": {object}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem of one config load, in file and line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts `errors` by file and line; `None` when there are none.
    pub(crate) fn from_vec(mut errors: Vec<ConfigError>) -> Option<Self> {
        if errors.is_empty() {
            return None;
        }
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Some(Self(errors))
    }

    /// The problems, in file and line order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_object_and_field() {
        let err = ConfigError::new("routes.yaml", 14, "Service demo/nope does not exist")
            .in_object("HTTPRoute demo/split")
            .at_field("spec.rules[0].backendRefs[1].name");
        assert_eq!(
            err.to_string(),
            "routes.yaml:14: HTTPRoute demo/split: spec.rules[0].backendRefs[1].name: \
             Service demo/nope does not exist"
        );
        assert_eq!(
            ConfigError::new("/etc/mesh", 0, "unreadable\n  here").to_string(),
            "/etc/mesh: unreadable here"
        );
    }

    #[test]
    fn errors_come_sorted_one_per_line() {
        let errors = ConfigErrors::from_vec(vec![
            ConfigError::new("b.yaml", 1, "third"),
            ConfigError::new("a.yaml", 9, "second"),
            ConfigError::new("a.yaml", 2, "first"),
        ])
        .unwrap();
        assert_eq!(
            errors.to_string(),
            "a.yaml:2: first\na.yaml:9: second\nb.yaml:1: third"
        );
        assert!(ConfigErrors::from_vec(Vec::new()).is_none());
    }
}
