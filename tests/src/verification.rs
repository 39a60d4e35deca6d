//! Test kit: verification (being built).
