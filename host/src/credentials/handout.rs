//! How a long copy's coordinating instance gets fresh credentials: before it
//! presigns a part it asks `http://ferry-credentials.invalid/` (the URL is
//! in its `FERRY_CREDENTIALS_URL`), which only this host answers, from a
//! [`Refreshing`] chain. The instance reads no file and no metadata
//! service itself; nothing reaches the network unless the chain must
//! fetch anew. Under stock `wasmtime run` there is no such URL and the
//! instance keeps what its variables hold.

use super::Refreshing;
use bytes::Bytes;
use serde::Serialize;
use wasmtime_wasi_http::WasiBody;

/// The reserved authority (`.invalid` never resolves, RFC 2606).
pub const CREDENTIALS_HOST: &str = "ferry-credentials.invalid";

/// The variable that hands the URL to the coordinating instance.
pub const CREDENTIALS_URL_VAR: &str = "FERRY_CREDENTIALS_URL";

/// The URL the coordinating instance asks.
pub fn credentials_url() -> String {
    format!("http://{CREDENTIALS_HOST}/")
}

/// The answer: what the component's `Credentials` hold.
#[derive(Serialize)]
struct Answer<'a> {
    access_key_id: &'a str,
    access_key_secret: &'a str,
    security_token: Option<&'a str>,
}

impl Refreshing {
    /// Answers the coordinating instance: 200 with the credentials to sign
    /// with now, or 503 with why the chain has none (one line, no secret).
    pub async fn answer(&self) -> http::Response<WasiBody> {
        let (status, body) = match self.current().await {
            Ok(found) => {
                let c = &found.credentials;
                let answer = Answer {
                    access_key_id: &c.access_key_id,
                    access_key_secret: &c.access_key_secret,
                    security_token: c.security_token.as_deref(),
                };
                (200, serde_json::to_vec(&answer).unwrap_or_default())
            }
            Err(e) => {
                tracing::warn!("the store's credentials could not be refreshed: {e}");
                (503, e.into_bytes())
            }
        };
        crate::parts::fanout::respond(status, None, Bytes::from(body))
            .expect("a static response always builds")
    }
}
