//! Workload identity: SPIFFE X.509 SVIDs issued in-process by mesh-control's CA.

pub mod proto;
