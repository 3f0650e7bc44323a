//! Placeholder: the xDS edge.
