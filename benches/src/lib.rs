//! Benchmarks of the proxyless mesh.
//!
//! `cargo bench -p benches` runs the criterion micro-benchmarks in `benches/`: today the xDS
//! edge (EDS decode and validation in the client, snapshot build in mesh-control) for 1k and
//! 10k endpoints. The load comparison against plain tonic and against sidecar proxies is the
//! benchmark issue's work.
