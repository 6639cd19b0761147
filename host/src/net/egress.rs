//! Egress policy: an instance may reach only the job's source host, the
//! store's endpoint, the fan-out authority, and the hosts an allowed
//! request was redirected to. Anything else is refused before a connection
//! is made, and the guest sees `HttpRequestDenied`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use url::Url;

/// The authorities (`host:port`) instances may connect to.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    allowed: BTreeSet<String>,
    /// Also allow any `<bucket>.<host>` under an allowed store host
    /// (virtual-hosted OSS addressing).
    suffixes: BTreeSet<String>,
    /// Where allowed requests were redirected (their `Location`), as the
    /// responses said: shared by every clone, so the hosts a coordinator's
    /// probe was sent to are open to the part instances of its job, which
    /// read the final URL. The address policy still judges each of them.
    redirected: Arc<Mutex<BTreeSet<String>>>,
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
        self.allowed.contains(&a)
            || self.suffixes.iter().any(|s| a.ends_with(s.as_str()))
            || self
                .redirected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&a)
    }

    /// A permitted request to `uri` was answered with a redirect to
    /// `location` (relative or absolute): its http(s) host is allowed from
    /// now on, for this list and its clones.
    pub fn redirected(&self, uri: &http::Uri, location: &str) {
        if !self.permits(uri) {
            return;
        }
        let next = Url::parse(&uri.to_string())
            .ok()
            .and_then(|base| base.join(location.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        if let Some(a) = next.as_ref().and_then(authority) {
            self.redirected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(a);
        }
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

    #[test]
    fn a_redirect_from_an_allowed_host_opens_its_target_to_every_clone() {
        let mut e = Egress::default();
        e.allow_url("http://127.0.0.1:8080/x");
        let parts = e.clone();
        let uri = |u: &str| u.parse::<http::Uri>().unwrap();
        assert!(!parts.permits(&uri("https://cdn.example:8443/obj")));
        e.redirected(
            &uri("http://127.0.0.1:8080/x"),
            "https://cdn.example:8443/obj?sig=1",
        );
        assert!(parts.permits(&uri("https://cdn.example:8443/obj")));
        assert!(
            !parts.permits(&uri("http://cdn.example/obj")),
            "another port"
        );
        // Relative to the URL that answered.
        e.redirected(&uri("https://cdn.example:8443/obj"), "//mirror.example/a");
        assert!(parts.permits(&uri("https://mirror.example/a")));
        // Only an allowed request's answer counts, and only http(s).
        e.redirected(&uri("http://elsewhere.example/"), "http://evil.example/");
        e.redirected(&uri("http://127.0.0.1:8080/x"), "ftp://files.example/a");
        assert!(!parts.permits(&uri("http://evil.example/")));
        assert!(!parts.permits(&uri("ftp://files.example/a")));
    }
}
