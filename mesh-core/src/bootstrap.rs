//! Placeholder: the gRPC xDS bootstrap.
