//! Reading the Prometheus text format (0.0.4) that the admin servers' `/metrics` answer: each
//! sample line is `NAME{LABEL="VALUE",...} NUMBER [TIMESTAMP]`, and `#` lines are comments.
//!
//! The demo uses it to show serviceA's request counters, the end-to-end tests to sum the
//! series of one metric, all of them or those with given label values.

/// One sample line: a metric name, its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    /// The line as it was.
    pub line: &'a str,
    /// The metric name, e.g. `mesh_client_requests_total`.
    pub name: &'a str,
    /// The labels, in order, with their values unescaped.
    pub labels: Vec<(&'a str, String)>,
    /// The value.
    pub value: f64,
}

impl Sample<'_> {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| *label == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the sample has every (label, value) of `want`.
    pub fn has_labels(&self, want: &[(&str, &str)]) -> bool {
        want.iter()
            .all(|(name, value)| self.label(name) == Some(*value))
    }
}

/// The samples of metric `name` in `text`, in order; lines that are not samples are skipped.
pub fn samples<'a>(text: &'a str, name: &str) -> impl Iterator<Item = Sample<'a>> {
    text.lines()
        .filter_map(parse_line)
        .filter(move |sample| sample.name == name)
}

/// The sum of the samples of metric `name` that have every label value of `labels` (all its
/// series when `labels` is empty); 0 when there is none.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text, name)
        .filter(|sample| sample.has_labels(labels))
        .map(|sample| sample.value)
        .sum()
}

/// The sample on `line`; `None` for a comment, a blank line or a line that does not parse.
pub fn parse_line(line: &str) -> Option<Sample<'_>> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let name_end = trimmed
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(trimmed.len());
    let (name, mut rest) = trimmed.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            rest = rest.trim_start_matches(',').trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after_eq) = rest.split_once("=\"")?;
            let (value, after_value) = quoted(after_eq)?;
            labels.push((label.trim(), value));
            rest = after_value;
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        line,
        name,
        labels,
        value,
    })
}

/// A label value up to its closing quote, unescaped, and the text after the quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                escaped => value.push(escaped),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP mesh_x_total X\n# TYPE mesh_x_total counter\n\
        mesh_x_total{a=\"1\",b=\"p,q\"} 2\n\
        mesh_x_total{a=\"2\",b=\"say \\\"hi\\\"\"} 3\n\
        mesh_x_total_more 7\nmesh_x 5\nmesh_x_total 1 1700000000000\n\n";

    #[test]
    fn sums_every_series_of_one_metric_only() {
        assert_eq!(sum(TEXT, "mesh_x_total", &[]), 6.0);
        assert_eq!(sum(TEXT, "mesh_x", &[]), 5.0);
        assert_eq!(sum(TEXT, "mesh_y_total", &[]), 0.0);
    }

    #[test]
    fn sums_the_series_with_given_label_values() {
        assert_eq!(sum(TEXT, "mesh_x_total", &[("a", "2")]), 3.0);
        assert_eq!(sum(TEXT, "mesh_x_total", &[("b", "p,q"), ("a", "1")]), 2.0);
        assert_eq!(sum(TEXT, "mesh_x_total", &[("a", "3")]), 0.0);
    }

    #[test]
    fn reads_names_labels_and_escaped_values() {
        let sample = parse_line("mesh_x_total{a=\"2\",b=\"say \\\"hi\\\"\"} 3").unwrap();
        assert_eq!(sample.name, "mesh_x_total");
        assert_eq!(sample.label("b"), Some("say \"hi\""));
        assert_eq!(sample.label("c"), None);
        assert_eq!(sample.value, 3.0);
        assert_eq!(parse_line("# TYPE mesh_x counter"), None);
        assert_eq!(parse_line("mesh_x{a=\"unterminated} 1"), None);
        assert_eq!(parse_line("mesh_x not-a-number"), None);
    }
}
