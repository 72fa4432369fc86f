//! [`FeedError`]: why one request of a feed brought nothing to apply. The feeds log it (once
//! per outage) and count it; nothing already applied is touched.

/// Why a request to a feed failed or its answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("no answer: {0}")]
    Unreachable(String),

    /// The answer was longer than the feed allows.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: u64 },

    /// The key or login was refused (401, 403).
    #[error("the key was refused (HTTP {status}): {body}")]
    Refused { status: u16, body: String },

    /// Too many requests (429): back off.
    #[error("rate limited (HTTP 429), retrying in {retry_s} s")]
    RateLimited { retry_s: u64 },

    /// An HTTP status the feed does not expect.
    #[error("unexpected HTTP {status}: {body}")]
    Status { status: u16, body: String },

    /// The answer is no answer of this feed: not JSON, the wrong shape, too many entries, or
    /// a value that is no address. Nothing of it is applied.
    #[error("refused the whole answer: {0}")]
    BadAnswer(String),

    /// The ban maps could not be written.
    #[error("writing the bans: {0}")]
    Maps(#[from] crate::dataplane::DataplaneError),
}

impl FeedError {
    /// The `why` label of the request-failure metrics.
    pub fn why(&self) -> &'static str {
        match self {
            FeedError::Unreachable(_) => "unreachable",
            FeedError::TooLarge { .. } => "too_large",
            FeedError::Refused { .. } => "refused",
            FeedError::RateLimited { .. } => "rate_limited",
            FeedError::Status { .. } => "status",
            FeedError::BadAnswer(_) => "bad_answer",
            FeedError::Maps(_) => "maps",
        }
    }
}

/// At most 200 characters of a hostile text, for a log line (escaped by the caller's `{:?}`).
/// The error of an answer whose status is neither 200 nor one its caller handles itself: a
/// refused key or login (401, 403), or any other status; both with an excerpt of the body.
pub fn unexpected_status(status: u16, body: &[u8]) -> FeedError {
    match status {
        401 | 403 => FeedError::Refused {
            status,
            body: excerpt(body),
        },
        _ => FeedError::Status {
            status,
            body: excerpt(body),
        },
    }
}

pub fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(200).collect()
}
