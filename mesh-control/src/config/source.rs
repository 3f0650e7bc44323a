//! Config files and the YAML documents inside them.
//!
//! A config directory holds `*.yaml` and `*.yml` files (not its subdirectories, and not hidden
//! files such as an editor's `.#routes.yaml` lock), read in name order. Each file holds any
//! number of YAML documents separated by `---` lines, one Kubernetes object per document.
//!
//! Files are cut into documents here, at their `---` and `...` lines, rather than by the YAML
//! parser: a document with a mistake then fails alone, the others still load, and one load can
//! report every mistake at once. Cutting at those lines is exact, since YAML forbids a `---` or
//! `...` at the start of a line inside a document.

use std::path::Path;

use super::error::ConfigError;

/// One YAML document of a config file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Document<'a> {
    /// The file name, for errors.
    pub(crate) file: &'a str,
    /// The line of the file where `text` starts (1-based).
    pub(crate) first_line: usize,
    /// The document's text, including its leading `---` line if any.
    pub(crate) text: &'a str,
}

impl Document<'_> {
    /// The file line of a 1-based `line` of the document text.
    pub(crate) fn file_line(&self, line: u64) -> usize {
        let line = usize::try_from(line).unwrap_or(usize::MAX);
        self.first_line + line.max(1) - 1
    }
}

/// Cuts a file's text into its documents.
pub(crate) fn split_documents<'a>(file: &'a str, text: &'a str) -> Vec<Document<'a>> {
    let mut documents = Vec::new();
    let mut start = 0; // byte offset where the current document starts
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        if is_marker(line, "---") && offset > start {
            documents.push(Document {
                file,
                first_line: start_line,
                text: &text[start..offset],
            });
            start = offset;
            start_line = number;
        }
        offset += line.len();
        if is_marker(line, "...") {
            documents.push(Document {
                file,
                first_line: start_line,
                text: &text[start..offset],
            });
            start = offset;
            start_line = number + 1;
        }
    }
    if offset > start {
        documents.push(Document {
            file,
            first_line: start_line,
            text: &text[start..offset],
        });
    }
    documents
}

/// Whether `line` is the document marker `marker`, alone or followed by a space or comment.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

/// Reads the config files of `dir`: `(file name, text)` in name order.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let unreadable = |e: std::io::Error| {
        ConfigError::new(
            dir.display().to_string(),
            0,
            format!("cannot read the config directory: {e}; check that it exists and is readable"),
        )
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8, so not a name we would pick
        };
        // `metadata` follows symlinks, as Kubernetes ConfigMap volumes need.
        if is_config_file(&name) && entry.path().metadata().is_ok_and(|m| m.is_file()) {
            names.push(name);
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| match std::fs::read_to_string(dir.join(&name)) {
            Ok(text) => Ok((name, text)),
            Err(e) => Err(ConfigError::new(
                name,
                0,
                format!("cannot read the file: {e}; check its permissions and that it is UTF-8"),
            )),
        })
        .collect()
}

/// Whether a directory entry named `name` is a config file.
fn is_config_file(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str) -> Vec<(usize, &str)> {
        split_documents("f.yaml", text)
            .iter()
            .map(|d| (d.first_line, d.text))
            .collect()
    }

    #[test]
    fn cuts_at_document_markers() {
        let text = "a: 1\n---\nb: 2\n--- # c\nc: 3\n";
        assert_eq!(
            cut(text),
            vec![(1, "a: 1\n"), (2, "---\nb: 2\n"), (4, "--- # c\nc: 3\n")]
        );
    }

    #[test]
    fn leading_marker_and_document_end() {
        let text = "---\na: 1\n...\nb: 2";
        assert_eq!(cut(text), vec![(1, "---\na: 1\n...\n"), (4, "b: 2")]);
        assert!(cut("").is_empty());
    }

    #[test]
    fn dashes_inside_a_value_are_not_markers() {
        assert_eq!(cut("a: ---\nb: '---x'\n---x: 1\n").len(), 1);
    }

    #[test]
    fn file_lines_count_from_the_document_start() {
        let docs = split_documents("f.yaml", "a: 1\n---\nb: 2\n");
        assert_eq!(docs[1].file_line(2), 3);
        assert_eq!(docs[1].file_line(0), 2);
    }

    #[test]
    fn reads_yaml_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yml", "a.yaml", ".#a.yaml", "notes.txt"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
        let files = read_dir(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a.yaml", "b.yml"]);
        assert_eq!(files[0].1, "a.yaml");
    }

    #[test]
    fn missing_dir_says_so() {
        let err = read_dir(Path::new("/nonexistent/mesh"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/nonexistent/mesh: cannot read the config directory"),
            "{err}"
        );
    }
}
