//! Test kit: executor (being built).
