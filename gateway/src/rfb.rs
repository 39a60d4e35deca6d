//! Pure RFB framing (being built).
