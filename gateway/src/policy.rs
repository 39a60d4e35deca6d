//! Pure input policy (being built).
