//! The HTTP source protocol: a source URL as it is sent (credentials as
//! Basic authentication, the path as typed), the probe that learns the
//! source's size, validators, range support and CRC, where its redirects
//! lead ([`locate`]), and the source's answers and transport errors read as
//! ferry's errors.

use crate::crc;
use crate::error::{Error, Result};
use crate::http::{self, HttpError, Response, Timeouts};
use crate::target::redact;
use crate::{Job, ObjectProperties, SourceInfo};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use std::cell::RefCell;
use url::Url;

/// Redirects followed at most from the URL given to the final one. curl
/// follows 50 by default and browsers 20; the links people copy (release
/// downloads, CDN and mirror links, a short link in front of a presigned
/// URL) take one to three hops, so 10 leaves room for a mirror chooser
/// behind a short link while a loop stops within a few requests.
pub const MAX_REDIRECTS: u32 = 10;

/// The source as the probe found it: where it finally answered, and what.
#[derive(Debug, Clone)]
pub struct Located {
    /// The final URL, to read the parts from: the URL given when it did
    /// not redirect; its `user:pass@` kept only while on the given URL's
    /// own scheme, host and port.
    pub url: String,
    /// Redirects followed to get there.
    pub hops: u32,
    pub info: SourceInfo,
    /// What the source says of its content: Content-Type,
    /// Content-Disposition, Content-Encoding and Cache-Control.
    pub props: ObjectProperties,
}

thread_local! {
    /// The job's own source headers (`--header`), for the probes of
    /// [`locate`] and [`probe`]: set by [`use_headers`].
    static HEADERS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    /// A final URL that redirects led off the given URL's origin: the
    /// job's headers do not go there.
    static OFF_ORIGIN: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The last [`locate`]: its final URL and what the probe learned
    /// there, so that the planner's probe of that URL costs no second
    /// request.
    static LOCATED: RefCell<Option<(String, SourceInfo)>> = const { RefCell::new(None) };
}

/// Sends `job`'s source headers with the probes that follow (the parts
/// carry theirs in their tasks).
pub fn use_headers(job: &Job) {
    HEADERS.with(|h| *h.borrow_mut() = job.source_headers.clone().unwrap_or_default());
}

/// The source headers to send to `url` (a job's source URL, perhaps where
/// its redirects led): `headers`, unless redirects led `url` off the
/// given URL's origin.
pub fn headers_for(
    url: &str,
    headers: &Option<Vec<(String, String)>>,
) -> Option<Vec<(String, String)>> {
    let off = OFF_ORIGIN.with(|o| o.borrow().as_deref() == Some(url));
    headers.clone().filter(|h| !off && !h.is_empty())
}

/// Whether `a` and `b` have the same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Learns the source's size, validators, range support and CRC: HEAD, or a
/// one-byte ranged GET where HEAD is refused, following redirects. Right
/// after [`locate`] of this URL, what it learned.
pub async fn probe(source_url: &str) -> Result<SourceInfo> {
    let known = LOCATED.with(|l| {
        let mut l = l.borrow_mut();
        match l.as_ref() {
            Some((url, _)) if url == source_url => l.take().map(|(_, info)| info),
            _ => None,
        }
    });
    match known {
        Some(info) => Ok(info),
        None => Ok(locate(source_url).await?.info),
    }
}

/// Probes the source, following redirects (301, 302, 303, 307 and 308, at
/// most [`MAX_REDIRECTS`]): each hop is a new request, which the host holds
/// to its egress list (a hop is allowed because an allowed host redirected
/// to it) and its address policy. A relative `Location` is resolved
/// against the URL that answered; credentials and the job's headers
/// ([`use_headers`]) go only to the given URL's own scheme, host and port.
pub async fn locate(source_url: &str) -> Result<Located> {
    let given = Url::parse(source_url).ok();
    let mut current = source_url.to_string();
    let mut hops = 0;
    loop {
        let on_origin = match (&given, Url::parse(&current)) {
            (Some(given), Ok(now)) => same_origin(given, &now),
            _ => true,
        };
        let mut url = parse_source_url(&current)?;
        if on_origin {
            url.extra = HEADERS.with(|h| h.borrow().clone());
        }
        let shown = redact(&current);
        match probe_once(&url, &shown).await? {
            Probed::Info(info, props) => {
                LOCATED.with(|l| *l.borrow_mut() = Some((current.clone(), info.clone())));
                OFF_ORIGIN.with(|o| *o.borrow_mut() = (!on_origin).then(|| current.clone()));
                return Ok(Located {
                    url: current,
                    hops,
                    info,
                    props: *props,
                });
            }
            Probed::Redirect(status, location) => {
                let next = next_hop(&current, given.as_ref(), &location).ok_or_else(|| {
                    Error::source(format!(
                        "the source {shown} answered {status}, a redirect to {}, which is not \
                         an http(s) URL; pass a URL ferry can read",
                        redact(&location)
                    ))
                })?;
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(Error::source(format!(
                        "the source {} redirected more than {MAX_REDIRECTS} times (the last \
                         to {}); it may loop: check the URL in a browser, or pass the final one",
                        redact(source_url),
                        redact(&next)
                    )));
                }
                current = next;
            }
        }
    }
}

/// Where a redirect from `current` to `location` leads: the `Location`
/// resolved against `current`, with the given URL's credentials when it is
/// on the given URL's scheme, host and port and names none of its own;
/// `None` unless http(s).
fn next_hop(current: &str, given: Option<&Url>, location: &str) -> Option<String> {
    let mut next = Url::parse(current).ok()?.join(location.trim()).ok()?;
    if !matches!(next.scheme(), "http" | "https") || next.host().is_none() {
        return None;
    }
    next.set_fragment(None);
    let (mut user, mut pass) = (
        next.username().to_string(),
        next.password().map(str::to_string),
    );
    if let Some(given) = given {
        if same_origin(given, &next) && user.is_empty() && pass.is_none() {
            user = given.username().to_string();
            pass = given.password().map(str::to_string);
        }
    }
    if user.is_empty() && pass.is_none() {
        return Some(next.to_string());
    }
    let _ = next.set_username(&user);
    let _ = next.set_password(pass.as_deref());
    Some(next.to_string())
}

/// What one URL answered the probe.
enum Probed {
    Info(SourceInfo, Box<ObjectProperties>),
    /// A redirect: its status and `Location`.
    Redirect(u16, String),
}

/// The status of a redirect ferry follows, and its `Location`.
fn redirect(r: &Response) -> Option<Probed> {
    match r.status {
        301 | 302 | 303 | 307 | 308 => r
            .header("location")
            .filter(|l| !l.trim().is_empty())
            .map(|l| Probed::Redirect(r.status, l.to_string())),
        _ => None,
    }
}

async fn probe_once(url: &SourceUrl, shown: &str) -> Result<Probed> {
    let head = http::send(
        "HEAD",
        &url.url,
        &url.headers(&[]),
        None,
        Timeouts::default(),
    )
    .await
    .map_err(|e| source_transport(e, shown))?;
    if let Some(hop) = redirect(&head) {
        let _ = head.bytes(64 * 1024).await;
        return Ok(hop);
    }
    if (200..300).contains(&head.status) {
        let info = info_from(&head, head_size(&head));
        let props = Box::new(props_from(&head));
        let advertised = head
            .header("accept-ranges")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes"));
        let _ = head.bytes(0).await;
        if advertised || !info.ranges || info.size.is_none_or(|s| s == 0) {
            return Ok(Probed::Info(info, props));
        }
        // Silent about ranges: ask for one byte to find out.
        return Ok(match range_probe(url, shown).await? {
            Probed::Info(ranged, _) => Probed::Info(
                SourceInfo {
                    ranges: ranged.ranges,
                    ..info
                },
                props,
            ),
            hop => hop,
        });
    }
    if !matches!(head.status, 403 | 405 | 501) {
        return Err(source_status(&head, shown));
    }
    let _ = head.bytes(64 * 1024).await;
    // Some servers (presigned GET URLs among them) refuse HEAD.
    range_probe(url, shown).await
}

/// Probes with `Range: bytes=0-0`: a 206 tells the size and that ranges
/// work; a 200 that they do not.
async fn range_probe(url: &SourceUrl, shown: &str) -> Result<Probed> {
    let headers = url.headers(&[("range", "bytes=0-0".into())]);
    let get = http::send("GET", &url.url, &headers, None, Timeouts::default())
        .await
        .map_err(|e| source_transport(e, shown))?;
    if let Some(hop) = redirect(&get) {
        return Ok(hop);
    }
    let props = Box::new(props_from(&get));
    let info = match get.status {
        206 => {
            let size = get
                .header("content-range")
                .and_then(|v| parse_content_range(v).map(|r| r.2));
            let mut info = info_from(&get, size);
            info.ranges = true;
            info
        }
        200 => {
            let mut info = info_from(&get, head_size(&get));
            info.ranges = false;
            info
        }
        416 => {
            // An empty object has no byte 0.
            let mut info = info_from(&get, Some(0));
            info.size = Some(0);
            info
        }
        _ => return Err(source_status(&get, shown)),
    };
    drop(get); // Not reading the rest: dropping the body closes the request.
    Ok(Probed::Info(info, props))
}

/// A source URL ready to request: the URL as sent, without its
/// `user:pass@`, and those credentials as Basic authentication. Its path is
/// sent as given, not normalised (`curl --path-as-is`): object stores take
/// `a/../b` as a key, and a file server resolves dot segments itself.
pub struct SourceUrl {
    /// `scheme://host[:port]/path?query`, as sent.
    pub url: String,
    /// `Basic …` from the URL's user and password. Never shown.
    authorization: Option<String>,
    /// The job's source headers (`--header`), sent on every request.
    /// Their values are never shown.
    extra: Vec<(String, String)>,
}

impl SourceUrl {
    /// This URL with the job's source headers (`--header`) to send.
    pub fn with_headers(mut self, headers: &Option<Vec<(String, String)>>) -> SourceUrl {
        self.extra = headers.clone().unwrap_or_default();
        self
    }

    /// The headers of a request to the source: `extra`, the job's source
    /// headers and the URL's credentials.
    pub fn headers(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        headers.extend(self.extra.iter().cloned());
        if let Some(auth) = &self.authorization {
            headers.push(("authorization".into(), auth.clone()));
        }
        headers
    }
}

/// Characters a request target may not carry as they are: controls,
/// space, non-ASCII (encoded by `utf8_percent_encode` anyway) and the
/// delimiters RFC 3986 excludes. `%` stays: what the user encoded stays
/// encoded.
const NOT_IN_TARGET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

pub fn parse_source_url(source_url: &str) -> Result<SourceUrl> {
    let bad = || {
        Error::invalid(format!(
            "source {:?} is not an http(s) URL; write it as https://HOST/PATH",
            redact(source_url)
        ))
    };
    let parsed = Url::parse(source_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(bad)?;
    let authorization = (!parsed.username().is_empty() || parsed.password().is_some()).then(|| {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let pair = format!(
            "{}:{}",
            decode(parsed.username()),
            decode(parsed.password().unwrap_or(""))
        );
        format!("Basic {}", BASE64.encode(pair))
    });
    // The scheme and authority as `Url` normalises them (lower case, no
    // default port, no credentials); the path and query as typed.
    let after_scheme = &source_url[source_url.find("://").ok_or_else(bad)? + 3..];
    let target = after_scheme
        .find(['/', '?', '#'])
        .map_or("", |i| &after_scheme[i..]);
    let target = target.split('#').next().unwrap_or_default();
    let target = utf8_percent_encode(target, NOT_IN_TARGET).to_string();
    let path = if target.starts_with('/') {
        target
    } else {
        format!("/{target}")
    };
    let authority = crate::target::authority(&parsed).ok_or_else(bad)?;
    let url = format!("{}://{authority}{path}", parsed.scheme());
    url.parse::<::http::Uri>().map_err(|_| bad())?;
    Ok(SourceUrl {
        url,
        authorization,
        extra: Vec::new(),
    })
}

fn head_size(r: &Response) -> Option<u64> {
    r.header("content-length")
        .and_then(|v| v.trim().parse().ok())
}

fn info_from(r: &Response, size: Option<u64>) -> SourceInfo {
    // Without Accept-Ranges a server may still serve ranges; only an explicit
    // `none` rules them out here (the first ranged GET checks the rest).
    // Weak ETags cannot be used with If-Match (strong comparison).
    let etag = r
        .header("etag")
        .filter(|e| !e.starts_with("W/"))
        .map(str::to_string);
    SourceInfo {
        size,
        etag,
        last_modified: r.header("last-modified").map(str::to_string),
        crc64: r.header("x-oss-hash-crc64ecma").and_then(crc::parse_header),
        ranges: !r
            .header("accept-ranges")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("none")),
    }
}

/// What a source's answer says of its content, for the object to carry.
fn props_from(r: &Response) -> ObjectProperties {
    let header = |name: &str| {
        r.header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    ObjectProperties {
        content_type: header("content-type"),
        content_disposition: header("content-disposition"),
        content_encoding: header("content-encoding"),
        cache_control: header("cache-control"),
        ..ObjectProperties::default()
    }
}

/// Parses `bytes FIRST-LAST/TOTAL` into (first, last, total).
pub fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    // Digits only: u64's parser alone would also take a leading '+'.
    if !rest
        .bytes()
        .all(|b| b.is_ascii_digit() || b"-/".contains(&b))
    {
        return None;
    }
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, total) = (first.parse().ok()?, last.parse().ok()?, total.parse().ok()?);
    (first <= last && last < total).then_some((first, last, total))
}

pub fn source_transport(e: HttpError, shown: &str) -> Error {
    let transient = e.is_transient();
    let hint = match e {
        HttpError::Unreachable(_) => "; check the host and port of the source URL",
        _ => "",
    };
    let err = Error::source(format!("cannot read the source {shown}: {e}{hint}"));
    if transient {
        err.transient()
    } else {
        err
    }
}

pub fn source_status(r: &Response, shown: &str) -> Error {
    let (what, transient) = match r.status {
        404 => ("404 Not Found: check the URL".to_string(), false),
        403 | 401 => (
            format!(
                "{} (access refused): the URL may need signing or may have expired",
                r.status
            ),
            false,
        ),
        412 => (
            "412 Precondition Failed: the source changed since it was planned; run the copy again"
                .to_string(),
            false,
        ),
        301 | 302 | 303 | 307 | 308 => (
            format!(
                "{} (a redirect to {}) where the probe found the object: the source moves \
                 it while it is read; run the copy again, or pass the final URL",
                r.status,
                r.header("location")
                    .map_or_else(|| "an unnamed place".to_string(), redact)
            ),
            false,
        ),
        s if s >= 500 || s == 429 || s == 408 => (format!("HTTP {s} (temporary)"), true),
        s => (format!("unexpected HTTP {s}"), false),
    };
    let err = Error::source(format!("the source {shown} answered {what}"))
        .retry_after(r.header("retry-after"))
        .with_status(r.status);
    if transient {
        err.transient()
    } else {
        err
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls_are_sent_as_typed_with_credentials_as_basic_auth() {
        let u = parse_source_url("HTTP://Alice:p%40ss@Example.COM:80/a/../b c.iso?x=1#f").unwrap();
        assert_eq!(u.url, "http://example.com/a/../b%20c.iso?x=1");
        // base64("Alice:p@ss")
        assert_eq!(
            u.headers(&[("range", "bytes=0-0".into())]),
            [
                ("range".to_string(), "bytes=0-0".to_string()),
                (
                    "authorization".to_string(),
                    "Basic QWxpY2U6cEBzcw==".to_string()
                )
            ]
        );
        let plain = parse_source_url("https://h.example").unwrap();
        assert_eq!(plain.url, "https://h.example/");
        assert!(plain.headers(&[]).is_empty());
        let e = parse_source_url("./big.iso").err().unwrap();
        assert!(e.message.contains("\"./big.iso\""), "{}", e.message);
    }

    #[test]
    fn redirects_resolve_relative_locations_and_keep_credentials_on_the_given_origin() {
        let given = Url::parse("http://u:p@a.example/dl/x").unwrap();
        let hop = |current: &str, location: &str| next_hop(current, Some(&given), location);
        assert_eq!(
            hop("http://u:p@a.example/dl/x", "y?z=1").as_deref(),
            Some("http://u:p@a.example/dl/y?z=1")
        );
        assert_eq!(
            hop("http://a.example/dl/x", "/top#frag").as_deref(),
            Some("http://u:p@a.example/top")
        );
        // Another host, scheme or port: no credentials.
        assert_eq!(
            hop("http://a.example/dl/x", "https://a.example/x").as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(
            hop("http://a.example/x", "//cdn.example/o").as_deref(),
            Some("http://cdn.example/o")
        );
        assert_eq!(
            hop("http://cdn.example/o", "http://a.example:8080/x").as_deref(),
            Some("http://a.example:8080/x")
        );
        // Back on the given origin from elsewhere, they are sent again, as
        // the Location's own are.
        assert_eq!(
            hop("http://cdn.example/o", "http://a.example/back").as_deref(),
            Some("http://u:p@a.example/back")
        );
        assert_eq!(
            hop("http://a.example/x", "http://v:q@cdn.example/o").as_deref(),
            Some("http://v:q@cdn.example/o")
        );
        assert_eq!(hop("http://a.example/x", "ftp://a.example/x"), None);
        assert_eq!(hop("http://a.example/x", "mailto:x@a.example"), None);
    }

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-0/100"), Some((0, 0, 100)));
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, 9, 10)));
        assert_eq!(parse_content_range("bytes 5-10/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }
}
