//! Test kit: node (being built).
