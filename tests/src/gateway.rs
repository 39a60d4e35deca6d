//! Test kit: gateway (being built).
