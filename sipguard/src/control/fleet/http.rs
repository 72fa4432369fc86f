//! The feeds' HTTP: one small blocking client (ureq), bounded in time and size, that answers
//! every status as data (a 400 or 429 means something to a feed) and never follows
//! redirects (a key must not be carried to another host).
use std::time::Duration;

use super::FeedError;

/// A whole request, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer: its status, its body (at most the limit asked for), and its `Retry-After` in
/// seconds when it had one.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<u64>,
}

/// The client.
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("sipguard/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent }
    }

    /// `GET url` with `headers`; a body longer than `limit` is an error.
    pub fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> Result<Answer, FeedError> {
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.call(), limit)
    }

    /// `POST url` with a JSON `body` and `headers`.
    pub fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        limit: u64,
    ) -> Result<Answer, FeedError> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send(body), limit)
    }
}

fn read(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> Result<Answer, FeedError> {
    let mut resp = result.map_err(|e| FeedError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => FeedError::TooLarge { limit },
            e => FeedError::Unreachable(format!("reading the answer: {e}")),
        })?;
    Ok(Answer {
        status,
        body,
        retry_after,
    })
}
