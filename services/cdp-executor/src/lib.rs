//! cdp-executor (being built).
