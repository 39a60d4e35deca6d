//! The browser node (being built).
