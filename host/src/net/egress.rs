//! Egress policy: an instance may reach only the job's source host, the
//! store's endpoint and the fan-out authority. Anything else is refused
//! before a connection is made, and the guest sees `HttpRequestDenied`.

use std::collections::BTreeSet;
use url::Url;

/// The authorities (`host:port`) instances may connect to.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    allowed: BTreeSet<String>,
    /// Also allow any `<bucket>.<host>` under an allowed store host
    /// (virtual-hosted OSS addressing).
    suffixes: BTreeSet<String>,
}

fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

impl Egress {
    /// Allows the host of `url` (with its port).
    pub fn allow_url(&mut self, url: &str) -> &mut Self {
        if let Some(a) = Url::parse(url).ok().as_ref().and_then(authority) {
            self.allowed.insert(a);
        }
        self
    }

    /// Allows a store endpoint: its host and `<bucket>.<host>`.
    pub fn allow_store(&mut self, endpoint: &str) -> &mut Self {
        self.allow_url(endpoint);
        if let Some(a) = Url::parse(endpoint).ok().as_ref().and_then(authority) {
            self.suffixes.insert(format!(".{a}"));
        }
        self
    }

    /// Whether a request to `uri` may go out.
    pub fn permits(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let a = format!("{}:{port}", host.to_ascii_lowercase());
        self.allowed.contains(&a) || self.suffixes.iter().any(|s| a.ends_with(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_only_named_authorities() {
        let mut e = Egress::default();
        e.allow_url("http://127.0.0.1:8080/x?y")
            .allow_store("https://oss-cn-hangzhou.aliyuncs.com");
        let ok = |u: &str| e.permits(&u.parse().unwrap());
        assert!(ok("http://127.0.0.1:8080/other"));
        assert!(!ok("http://127.0.0.1:8081/"));
        assert!(ok("https://oss-cn-hangzhou.aliyuncs.com/b/k"));
        assert!(ok("https://bkt.oss-cn-hangzhou.aliyuncs.com/k"));
        assert!(!ok("http://bkt.oss-cn-hangzhou.aliyuncs.com/k"));
        assert!(!ok("http://169.254.169.254/latest/meta-data"));
    }
}
