//! The contract's size caps (PROTOCOL §4), in one leaf module: the Message channel checks
//! them, and the Redis bus sizes its payload cap from them so that everything the channel may
//! carry also crosses replicas.

/// Largest text frame the Message channel reads; larger ones get an `error` reply.
pub const MAX_TEXT_FRAME: usize = 2 * 1024 * 1024;
/// Largest clipboard text accepted or forwarded, in UTF-8 bytes.
pub const MAX_CLIPBOARD: usize = 1024 * 1024;
/// Largest screenshot sent, in PNG bytes (before base64).
pub const MAX_SCREENSHOT: usize = 5 * 1024 * 1024;

/// Largest JSON form of a string of `len` UTF-8 bytes: a control character is escaped as
/// `\u00XX`, six bytes for one.
pub const fn max_json_string(len: usize) -> usize {
    6 * len + 2
}
