//! The embedded time-series store and key-value state store of alertd.
