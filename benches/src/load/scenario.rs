//! The scenarios of the comparison and what each one turns on.

/// Which features of the mesh a mesh scenario keeps on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeshFeatures {
    /// mTLS between client and server (TLSPolicy STRICT, else DISABLE).
    pub mtls: bool,
    /// The route's timeout and retry policy (and the retry budget).
    pub policy: bool,
    /// Outlier detection of the backend.
    pub outlier: bool,
    /// Prometheus metrics in client and server.
    pub metrics: bool,
    /// The share of calls traced, in percent, their spans exported over OTLP to a collector;
    /// 0 turns tracing off. The full mesh traces 1 %, Istio's default sampling rate: tracing
    /// every call is a debugging setting, costed by its own variant.
    pub trace_percent: u8,
}

impl MeshFeatures {
    /// Everything on.
    pub const FULL: MeshFeatures = MeshFeatures {
        mtls: true,
        policy: true,
        outlier: true,
        metrics: true,
        trace_percent: 1,
    };
}

/// How a scenario serves and calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Plain tonic client and server, over mTLS or not.
    Tonic {
        /// Whether they speak rustls mTLS with the mesh's certificates.
        tls: bool,
    },
    /// MeshChannel and MeshServer with a mesh-control process.
    Mesh(MeshFeatures),
    /// Plain tonic h2c through an HAProxy sidecar on each side, mTLS between them.
    Sidecars,
}

/// One row of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its short name, e.g. `S2-no-mtls`.
    pub name: &'static str,
    /// What it runs.
    pub description: &'static str,
    /// How.
    pub kind: Kind,
}

/// Every scenario, in the order of the table.
pub fn all() -> Vec<Scenario> {
    let full = MeshFeatures::FULL;
    let mesh = |name, description, features| Scenario {
        name,
        description,
        kind: Kind::Mesh(features),
    };
    vec![
        Scenario {
            name: "S0",
            description: "tonic, plaintext h2c",
            kind: Kind::Tonic { tls: false },
        },
        Scenario {
            name: "S1",
            description: "tonic + rustls mTLS",
            kind: Kind::Tonic { tls: true },
        },
        mesh(
            "S2",
            "the full mesh, live mesh-control, 1 % of calls traced",
            full,
        ),
        mesh(
            "S2-no-mtls",
            "S2 without mTLS",
            MeshFeatures {
                mtls: false,
                ..full
            },
        ),
        mesh(
            "S2-no-policy",
            "S2 without retry/timeout policy",
            MeshFeatures {
                policy: false,
                ..full
            },
        ),
        mesh(
            "S2-no-outlier",
            "S2 without outlier detection",
            MeshFeatures {
                outlier: false,
                ..full
            },
        ),
        mesh(
            "S2-no-metrics",
            "S2 without metrics",
            MeshFeatures {
                metrics: false,
                ..full
            },
        ),
        mesh(
            "S2-no-tracing",
            "S2 without tracing (no OTLP)",
            MeshFeatures {
                trace_percent: 0,
                ..full
            },
        ),
        mesh(
            "S2-trace-all",
            "S2 with every call traced",
            MeshFeatures {
                trace_percent: 100,
                ..full
            },
        ),
        Scenario {
            name: "S3",
            description: "tonic h2c via 2 HAProxy sidecars, mTLS between",
            kind: Kind::Sidecars,
        },
    ]
}

/// The scenarios whose names are in `names` (all when empty); an unknown name is an error.
pub fn select(names: &[String]) -> Result<Vec<Scenario>, String> {
    let all = all();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            all.iter().find(|s| s.name == name).copied().ok_or_else(|| {
                let known: Vec<_> = all.iter().map(|s| s.name).collect();
                format!(
                    "no scenario {name:?}; the scenarios are {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_turns_exactly_one_feature_off() {
        let full = MeshFeatures::FULL;
        let off = |f: MeshFeatures| {
            [
                f.mtls != full.mtls,
                f.policy != full.policy,
                f.outlier != full.outlier,
                f.metrics != full.metrics,
                f.trace_percent != full.trace_percent,
            ]
            .iter()
            .filter(|x| **x)
            .count()
        };
        for scenario in all() {
            if let Kind::Mesh(features) = scenario.kind {
                let expected = usize::from(scenario.name != "S2");
                assert_eq!(off(features), expected, "{}", scenario.name);
            }
        }
    }

    #[test]
    fn selects_by_name() {
        let picked = select(&["S3".into(), "S0".into()]).unwrap();
        assert_eq!(
            picked.iter().map(|s| s.name).collect::<Vec<_>>(),
            ["S3", "S0"]
        );
        assert_eq!(select(&[]).unwrap().len(), all().len());
        assert!(select(&["S9".into()]).unwrap_err().contains("S2-no-mtls"));
    }
}
