//! mesh-control: the control service of the proxyless mesh.

pub mod config;
pub mod names;
