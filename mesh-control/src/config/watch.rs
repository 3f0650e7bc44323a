//! Hot reload: watch a config directory and publish each new valid config.
//!
//! The directory is watched with `notify` (not its files, so that editors that save by writing
//! a new file and renaming it over the old one, files being added or removed, and Kubernetes
//! ConfigMap volumes that swap a symlink are all seen). Changes are debounced: after a change
//! the directory is reloaded once it has been quiet for [`DEBOUNCE`], or at the latest
//! [`MAX_DELAY`] after the first change. The whole directory is then loaded again; a valid config
//! that differs from the current one is sent, an invalid one is logged and the last good config
//! stays (fail static). Every reload, the one when the watch starts included, is recorded in
//! [`Reloads`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinError;
use tokio::time::{Instant, timeout};

use super::{ConfigErrors, MeshConfig, Reloads, load_dir};

/// How long the directory must be quiet before it is reloaded.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// The longest a reload waits after the first change, however busy the directory is.
const MAX_DELAY: Duration = Duration::from_millis(500);

/// The config directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the config directory {}: {source}; check that it exists and is readable", dir.display())]
pub struct WatchError {
    dir: PathBuf,
    #[source]
    source: notify::Error,
}

/// Watches `dir` and sends every new valid config to `tx`, until `tx` has no receivers left.
///
/// `tx` holds the config loaded so far (usually from [`load_dir`]); a reload that gives the same
/// config sends nothing. Each error of an invalid config is logged with `tracing::warn!` (once,
/// until the errors change) and the last good config stays. Outcomes go to `reloads`.
pub async fn watch_dir(
    dir: PathBuf,
    tx: watch::Sender<Arc<MeshConfig>>,
    reloads: Reloads,
) -> Result<(), WatchError> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let handler = move |event: notify::Result<notify::Event>| {
        if event.as_ref().map_or(true, is_change) {
            let _ = events_tx.send(());
        }
    };
    let failed = |source| WatchError {
        dir: dir.clone(),
        source,
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(failed)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(failed)?;

    let mut last_errors = None;
    // A change made before the watch started would otherwise go unseen.
    reload(&dir, &tx, &reloads, &mut last_errors).await;
    loop {
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            event = events.recv() => if event.is_none() { return Ok(()) },
        }
        let deadline = Instant::now() + MAX_DELAY;
        while let Ok(Some(())) = timeout(DEBOUNCE, events.recv()).await {
            if Instant::now() >= deadline {
                break;
            }
        }
        reload(&dir, &tx, &reloads, &mut last_errors).await;
    }
}

/// Whether a watch event may change the config (reading files, ours included, does not).
fn is_change(event: &notify::Event) -> bool {
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Loads `dir` (off the async threads) and applies the outcome.
async fn reload(
    dir: &Path,
    tx: &watch::Sender<Arc<MeshConfig>>,
    reloads: &Reloads,
    last_errors: &mut Option<ConfigErrors>,
) {
    let owned = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || load_dir(&owned)).await;
    apply(dir, loaded, tx, reloads, last_errors);
}

/// Records the outcome of one load of `dir` and sends its config if it is valid and new. A
/// load that did not finish (it panicked) is a failed reload too.
fn apply(
    dir: &Path,
    loaded: Result<Result<MeshConfig, ConfigErrors>, JoinError>,
    tx: &watch::Sender<Arc<MeshConfig>>,
    reloads: &Reloads,
    last_errors: &mut Option<ConfigErrors>,
) {
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let message = format!(
                "{}: the reload did not finish ({e}); the last good config stays, \
                 save a file in the directory to try again",
                dir.display()
            );
            tracing::error!("{message}");
            return reloads.failed(message);
        }
    };
    match &loaded {
        Ok(_) => reloads.succeeded(),
        Err(errors) => reloads.failed(errors.to_string()),
    }
    match loaded {
        Ok(config) => {
            *last_errors = None;
            // Whoever serves the config logs the reload.
            tx.send_if_modified(|current| {
                let changed = **current != config;
                if changed {
                    *current = Arc::new(config);
                }
                changed
            });
        }
        Err(errors) if last_errors.as_ref() != Some(&errors) => {
            for error in errors.errors() {
                tracing::warn!(dir = %dir.display(), "invalid config, keeping the last good one: {error}");
            }
            *last_errors = Some(errors);
        }
        Err(_) => {} // the same errors as last time, already logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServiceRef;

    const WAIT: Duration = Duration::from_secs(10);

    fn service(name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{port: 80}}]}}\n"
        )
    }

    fn has(config: &MeshConfig, name: &str) -> bool {
        config
            .services
            .contains_key(&ServiceRef::new("default", name))
    }

    #[tokio::test]
    async fn edits_reach_the_channel_and_bad_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.yaml");
        std::fs::write(&file, service("a")).unwrap();
        let (tx, mut rx) = watch::channel(Arc::new(load_dir(dir.path()).unwrap()));
        let metrics = mesh_core::telemetry::Metrics::new();
        let reloads = Reloads::new(&metrics);
        let task = tokio::spawn(watch_dir(dir.path().to_path_buf(), tx, reloads.clone()));

        // A valid edit arrives.
        std::fs::write(&file, format!("{}---\n{}", service("a"), service("b"))).unwrap();
        timeout(WAIT, rx.wait_for(|c| has(c, "b")))
            .await
            .unwrap()
            .unwrap();

        // An invalid edit does not replace the config.
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 0}]}\n",
        )
        .unwrap();
        assert!(
            timeout(DEBOUNCE + MAX_DELAY * 2, rx.changed())
                .await
                .is_err()
        );
        assert!(has(&rx.borrow(), "b"));
        let failure = reloads.last_failure().expect("the failed reload is kept");
        assert!(failure.errors.contains("services.yaml"), "{failure:?}");
        let text = metrics.render_text();
        let errors = text.lines().find_map(|line| {
            line.strip_prefix("mesh_control_config_reloads_total{result=\"error\"} ")?
                .parse::<u64>()
                .ok()
        });
        assert!(errors.is_some_and(|n| n >= 1), "{text}");

        // A fix saved the way editors do (write elsewhere, rename over) arrives.
        let temp = dir.path().join(".services.yaml.tmp");
        std::fs::write(&temp, service("c")).unwrap();
        std::fs::rename(&temp, &file).unwrap();
        timeout(WAIT, rx.wait_for(|c| has(c, "c") && !has(c, "b")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reloads.last_failure(), None);

        // Added and removed files count too.
        std::fs::write(dir.path().join("more.yml"), service("d")).unwrap();
        timeout(WAIT, rx.wait_for(|c| has(c, "d")))
            .await
            .unwrap()
            .unwrap();
        std::fs::remove_file(dir.path().join("more.yml")).unwrap();
        timeout(WAIT, rx.wait_for(|c| !has(c, "d")))
            .await
            .unwrap()
            .unwrap();

        // The watch ends when nobody listens.
        drop(rx);
        timeout(WAIT, task).await.unwrap().unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_load_that_did_not_finish_is_a_failed_reload() {
        let (tx, rx) = watch::channel(Arc::new(MeshConfig::default()));
        let metrics = mesh_core::telemetry::Metrics::new();
        let reloads = Reloads::new(&metrics);
        let load = tokio::spawn(std::future::pending::<Result<MeshConfig, ConfigErrors>>());
        load.abort();
        let cancelled = load.await;
        assert!(cancelled.is_err());
        apply(Path::new("/etc/mesh"), cancelled, &tx, &reloads, &mut None);
        let failure = reloads.last_failure().expect("a failed reload");
        assert!(
            failure
                .errors
                .starts_with("/etc/mesh: the reload did not finish"),
            "{failure:?}"
        );
        let text = metrics.render_text();
        assert!(
            text.contains("mesh_control_config_reloads_total{result=\"error\"} 1\n"),
            "{text}"
        );
        assert!(!rx.has_changed().unwrap());
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_error() {
        let (tx, _rx) = watch::channel(Arc::new(MeshConfig::default()));
        let reloads = Reloads::new(&mesh_core::telemetry::Metrics::new());
        let err = watch_dir(PathBuf::from("/nonexistent/mesh-config"), tx, reloads)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/mesh-config"),
            "{err}"
        );
    }
}
