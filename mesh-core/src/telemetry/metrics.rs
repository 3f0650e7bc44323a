//! The metrics registry of a process and its two text renderings.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render_text`]: the Prometheus text format, version 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of [`Metrics::render_openmetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A Prometheus registry and the metric families registered in it; cheap to clone.
///
/// Each part of the mesh keeps its families in a struct of its own and asks for it with
/// [`Metrics::part`]: the first caller registers the families, later callers (every
/// `MeshChannel` of the process, say) get clones of the same handles, so counts add up in one
/// series. Every name is prefixed with `mesh_`.
///
/// Builders use [`Metrics::global`] unless given another; tests that count exactly use their
/// own [`Metrics::new`].
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    parts: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A registry is plain data: a panic elsewhere leaves it usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::with_prefix("mesh")),
                parts: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The process's registry, the default of every builder.
    pub fn global() -> &'static Metrics {
        static GLOBAL: OnceLock<Metrics> = OnceLock::new();
        GLOBAL.get_or_init(Metrics::new)
    }

    /// The part of type `T`: registered by `register` on first use, shared afterwards.
    pub fn part<T>(&self, register: impl FnOnce(&mut Registry) -> T) -> T
    where
        T: Clone + Send + Sync + 'static,
    {
        let mut parts = lock(&self.inner.parts);
        if let Some(part) = parts.get(&TypeId::of::<T>()) {
            return part
                .downcast_ref::<T>()
                .expect("parts are keyed by their type")
                .clone();
        }
        let part = register(&mut lock(&self.inner.registry));
        parts.insert(TypeId::of::<T>(), Box::new(part.clone()));
        part
    }

    /// Every family in OpenMetrics text, as Prometheus asks for when scraping.
    pub fn render_openmetrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &lock(&self.inner.registry))
            .expect("writing to a String cannot fail");
        text
    }

    /// Every family in the Prometheus text format 0.0.4, for tools that read only that
    /// (`promtool check metrics`, `curl`).
    ///
    /// The two formats differ in what matters here only in counter metadata: OpenMetrics names
    /// a counter family without its `_total` suffix, the text format with it. The `# EOF`
    /// terminator is dropped; `# UNIT` lines read as comments.
    pub fn render_text(&self) -> String {
        to_text_format(&self.render_openmetrics())
    }
}

/// Rewrites OpenMetrics text (as prometheus-client writes it) into the Prometheus text format.
fn to_text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => text.push_str(&line),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    use super::*;

    #[derive(Clone)]
    struct Part {
        calls: Counter,
    }

    #[test]
    fn a_part_is_registered_once_and_shared() {
        let metrics = Metrics::new();
        let register = |registry: &mut Registry| {
            let calls = Counter::default();
            registry.register("calls", "Calls made", calls.clone());
            Part { calls }
        };
        metrics.part(register).calls.inc();
        metrics.part(register).calls.inc();
        let text = metrics.render_openmetrics();
        assert!(text.contains("mesh_calls_total 2"), "{text}");
        assert_eq!(
            text.matches("# TYPE mesh_calls counter").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn the_text_format_names_counter_metadata_with_total() {
        let metrics = Metrics::new();
        metrics.part(|registry| {
            let calls = Counter::<u64>::default();
            calls.inc();
            registry.register("calls", "Calls made", calls.clone());
            let open = Gauge::<i64>::default();
            registry.register("open", "Open things", open.clone());
            (calls, open)
        });
        let text = metrics.render_text();
        assert!(
            text.contains("# HELP mesh_calls_total Calls made.\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE mesh_calls_total counter\n"), "{text}");
        assert!(text.contains("# TYPE mesh_open gauge\n"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
}
