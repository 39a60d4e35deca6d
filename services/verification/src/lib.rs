//! verification (being built).
