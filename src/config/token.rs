//! Shared secrets and markers of the admin API that more than the API itself needs: what makes
//! a token usable (the admin, read and cluster tokens are read from files) and the header that
//! marks a request as sent by a tool (the admin API requires it, cluster peers send it).

/// The custom header that marks a request as sent by a tool, not by a web page.
pub const REQUEST_HEADER: &str = "x-gslbd-request";

/// Why a token cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("is empty")]
    Empty,
    #[error("must be printable ASCII without spaces (it is sent in an HTTP header)")]
    NotPrintable,
}

/// Checks a token read from a file (surrounding whitespace already trimmed).
pub fn check_token(token: &str) -> Result<(), TokenError> {
    if token.is_empty() {
        Err(TokenError::Empty)
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        Err(TokenError::NotPrintable)
    } else {
        Ok(())
    }
}
