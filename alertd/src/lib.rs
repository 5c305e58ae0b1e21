//! The alertd daemon: configuration loading, wiring of the pipeline, the HTTP API (axum) and
//! signal handling. `main.rs` is a thin shell around this library.
