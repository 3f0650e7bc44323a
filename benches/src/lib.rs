//! Benchmarks of the proxyless mesh.
//!
//! `cargo bench -p benches` runs the criterion micro-benchmarks in `benches/`: the xDS edge
//! (EDS decode and validation in the client, snapshot build in mesh-control) and the cost of
//! mTLS.
//!
//! [`load`] is the load comparison: plain tonic, tonic with mTLS, the full mesh fed by a live
//! mesh-control (and the mesh with one feature off at a time), and two HAProxy sidecars, each
//! in its own processes pinned to their own cores, driven by an open-loop load generator of
//! our own. `scripts/bench` runs it; the `bench-load` binary is its command line.

pub mod load;
