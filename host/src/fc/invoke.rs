//! Function Compute 3.0's InvokeFunction as a part runner: one synchronous
//! call (`POST /2023-03-30/functions/{name}/invocations`) per part task,
//! signed with ACS3 ([`crate::fc::acs3`]); FC gives every invocation its
//! instance. Only the task travels (presigned URLs, no secret); the calls
//! pass their own egress list, FC's endpoint.

use crate::fc::acs3::{self, AccessKey, Stamp};
use crate::net::client::{Client, ClientConfig};
use crate::net::egress::Egress;
use crate::parts::remote::{exchange, is_failure, is_part_result, retry_after, Answer};
use crate::parts::runner::{PartRunner, PartTask, RunError, RunFuture};
use bytes::Bytes;
use std::fmt;
use std::time::Duration;
use url::Url;

/// Where and how to invoke the function in Function Compute 3.0.
#[derive(Clone)]
pub struct FcConfig {
    /// The function's name.
    pub function: String,
    /// The FC endpoint, e.g. `https://<account-id>.cn-hangzhou.fc.aliyuncs.com`.
    pub endpoint: String,
    /// A version or alias (`qualifier`), if not `LATEST`.
    pub qualifier: Option<String>,
    /// The AccessKey allowed to `fc:InvokeFunction`.
    pub key: AccessKey,
}

impl fmt::Debug for FcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcConfig")
            .field("function", &self.function)
            .field("endpoint", &self.endpoint)
            .field("qualifier", &self.qualifier)
            .finish_non_exhaustive()
    }
}

impl FcConfig {
    /// An AccessKey from `ALIBABA_CLOUD_ACCESS_KEY_ID`,
    /// `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and `ALIBABA_CLOUD_SECURITY_TOKEN`,
    /// else from the OSS ones (`OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`,
    /// `OSS_SESSION_TOKEN`).
    pub fn key_from_env() -> Option<AccessKey> {
        let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let alibaba = || {
            Some(AccessKey {
                id: get("ALIBABA_CLOUD_ACCESS_KEY_ID")?,
                secret: get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")?,
                security_token: get("ALIBABA_CLOUD_SECURITY_TOKEN"),
            })
        };
        let oss = || {
            Some(AccessKey {
                id: get("OSS_ACCESS_KEY_ID")?,
                secret: get("OSS_ACCESS_KEY_SECRET")?,
                security_token: get("OSS_SESSION_TOKEN").or_else(|| get("OSS_SECURITY_TOKEN")),
            })
        };
        alibaba().or_else(oss)
    }
}

/// The InvokeFunction API version and path prefix.
pub const FC_API_VERSION: &str = "2023-03-30";

/// Invokes the function once per part task, synchronously.
pub struct FcInvoker {
    config: FcConfig,
    base: Url,
    client: Client,
    egress: Egress,
}

impl fmt::Debug for FcInvoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcInvoker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FcInvoker {
    pub fn new(config: FcConfig) -> Result<FcInvoker, String> {
        let base = Url::parse(&config.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                format!(
                    "--fc-endpoint {:?} is not an http(s) URL, e.g. \
                     https://<account-id>.cn-hangzhou.fc.aliyuncs.com",
                    config.endpoint
                )
            })?;
        if config.function.is_empty() {
            return Err("--fc-function names no function".into());
        }
        let mut egress = Egress::default();
        egress.allow_url(&config.endpoint);
        Ok(FcInvoker {
            config,
            base,
            client: Client::new(ClientConfig::default()),
            egress,
        })
    }

    /// The signed InvokeFunction request carrying `event`.
    pub fn request(&self, event: &Bytes, stamp: &Stamp) -> http::Request<Bytes> {
        let path = format!(
            "/{FC_API_VERSION}/functions/{}/invocations",
            self.config.function
        );
        let qualifier: Vec<(&str, &str)> = self
            .config
            .qualifier
            .as_deref()
            .map(|q| vec![("qualifier", q)])
            .unwrap_or_default();
        let host = match self.base.port() {
            Some(port) => format!("{}:{port}", self.base.host_str().unwrap_or_default()),
            None => self.base.host_str().unwrap_or_default().to_string(),
        };
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("content-type".into(), "application/octet-stream".into()),
            ("x-acs-action".into(), "InvokeFunction".into()),
            ("x-acs-version".into(), FC_API_VERSION.into()),
            ("x-fc-invocation-type".into(), "Sync".into()),
            ("x-fc-log-type".into(), "None".into()),
        ];
        acs3::sign(
            "POST",
            &path,
            &qualifier,
            &mut headers,
            event,
            &self.config.key,
            stamp,
        );
        let mut uri = format!(
            "{}://{}{}",
            self.base.scheme(),
            headers[0].1,
            acs3::canonical_uri(&path)
        );
        let query = acs3::canonical_query(&qualifier);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query);
        }
        let mut builder = http::Request::post(uri);
        for (name, value) in &headers {
            if name != "host" {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        builder
            .body(event.clone())
            .expect("the headers are valid: ASCII values")
    }

    /// Invokes the function with one part task.
    pub async fn dispatch(&self, task: Bytes, deadline: Duration) -> Result<Answer, RunError> {
        let request = self.request(&task, &Stamp::now());
        if !self.egress.permits(request.uri()) {
            return Err(RunError::Transient(
                "refused by the fan-out egress list".into(),
            ));
        }
        let (status, headers, body) = exchange(&self.client, request, deadline)
            .await
            .map_err(|e| RunError::Transient(format!("Function Compute: {e}")))?;
        fc_answer(status, &headers, body)
    }
}

/// Reads an InvokeFunction response. A function error (`x-fc-error-type`)
/// whose body is not the component's failure (a crash, a timeout) or a
/// 429/5xx from FC itself is transient; the component's own answer
/// goes back as it is; any other status is FC refusing the call, named by
/// the `Code` and `Message` of its error body.
pub fn fc_answer(status: u16, headers: &http::HeaderMap, body: Bytes) -> Result<Answer, RunError> {
    if let Some(kind) = headers.get("x-fc-error-type").and_then(|v| v.to_str().ok()) {
        // A container that answered its own failure (non-2xx, x-fc-status
        // 404) is reported by FC as a function error with that body: the
        // component's kind says whether to retry.
        if is_failure(&body) {
            return Ok(Answer {
                status: failure_status(&body),
                retry_after: retry_after(headers),
                body,
            });
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(RunError::Transient(format!(
            "the function failed ({kind}): {}",
            text.trim()
        )));
    }
    if status == 200 && is_part_result(&body) {
        return Ok(Answer {
            status,
            retry_after: retry_after(headers),
            body,
        });
    }
    if is_failure(&body) {
        // The component's failure, with its status; or, when FC answered it
        // with a 2xx, the status the component gives its kind (a transient
        // one for the coordinator to retry, a refusal it stops on).
        let status = if (200..300).contains(&status) {
            failure_status(&body)
        } else {
            status
        };
        return Ok(Answer {
            status,
            retry_after: retry_after(headers),
            body,
        });
    }
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let code = error["Code"]
        .as_str()
        .or(error["code"].as_str())
        .unwrap_or("");
    let message = error["Message"]
        .as_str()
        .or(error["message"].as_str())
        .unwrap_or("");
    let what = format!("Function Compute answered HTTP {status} {code}: {message}");
    if status == 429 {
        // FC asks for fewer calls: a transient failure whose status (429)
        // the coordinator's pacer reads as throttling.
        let mut failure = serde_json::json!({"kind": "internal", "message": what, "status": 429});
        if !code.is_empty() {
            failure["code"] = code.into();
        }
        return Ok(Answer {
            status: 503,
            retry_after: retry_after(headers),
            body: Bytes::from(failure.to_string()),
        });
    }
    if status >= 500 {
        Err(RunError::Transient(what))
    } else {
        Err(RunError::Refused(format!(
            "{what}; check the function and endpoint (--fc-function, --fc-endpoint) and \
             that the key may fc:InvokeFunction on that function (ferry copy: \
             ALIBABA_CLOUD_ACCESS_KEY_ID or OSS_ACCESS_KEY_ID; ferry serve on Function \
             Compute: the function's role)"
        )))
    }
}

/// The status the component gives a failure of this kind
/// ([`ferry_rules::http_status`]).
fn failure_status(body: &[u8]) -> u16 {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match v["kind"].as_str() {
        Some(kind) => ferry_rules::http_status(kind),
        // An answer that names no kind: try again.
        None => 503,
    }
}

impl PartRunner for FcInvoker {
    fn run(&self, task: PartTask) -> RunFuture<'_> {
        Box::pin(async move {
            task.fail_if_faulted()?;
            self.dispatch(task.request.into_body(), task.deadline)
                .await?
                .into_response()
        })
    }

    fn egress(&self) -> Option<&Egress> {
        Some(&self.egress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AccessKey {
        AccessKey {
            id: "YourAccessKeyId".into(),
            secret: "YourAccessKeySecret".into(),
            security_token: None,
        }
    }

    fn invoker(qualifier: Option<&str>) -> FcInvoker {
        FcInvoker::new(FcConfig {
            function: "ferry".into(),
            endpoint: "https://1234567890.cn-hangzhou.fc.aliyuncs.com".into(),
            qualifier: qualifier.map(str::to_string),
            key: key(),
        })
        .unwrap()
    }

    fn stamp() -> Stamp {
        Stamp {
            date: "2023-10-26T10:22:32Z".into(),
            nonce: "3156853299f313e23d1673dc12e1703d".into(),
        }
    }

    /// The documented shape of InvokeFunction (FC 3.0 API reference and
    /// the fc20230330 SDK): POST /2023-03-30/functions/{name}/invocations,
    /// `x-fc-invocation-type: Sync`, the event as the raw body, signed
    /// with ACS3 under action InvokeFunction and version 2023-03-30.
    #[test]
    fn invoke_function_request_shape() {
        let event = Bytes::from_static(br#"{"part_number":7}"#);
        let r = invoker(None).request(&event, &stamp());
        assert_eq!(r.method(), "POST");
        assert_eq!(
            r.uri().to_string(),
            "https://1234567890.cn-hangzhou.fc.aliyuncs.com/2023-03-30/functions/ferry/invocations"
        );
        let h = |n: &str| r.headers().get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(h("x-fc-invocation-type"), "Sync");
        assert_eq!(h("x-acs-action"), "InvokeFunction");
        assert_eq!(h("x-acs-version"), "2023-03-30");
        assert_eq!(h("x-acs-date"), "2023-10-26T10:22:32Z");
        assert_eq!(h("x-acs-content-sha256"), acs3::sha256_hex(&event));
        assert_eq!(r.body(), &event);
        // The signature is the ACS3 one over exactly these headers.
        let headers: Vec<(String, String)> = [
            ("host", "1234567890.cn-hangzhou.fc.aliyuncs.com".to_string()),
            ("content-type", h("content-type")),
            ("x-acs-action", h("x-acs-action")),
            ("x-acs-version", h("x-acs-version")),
            ("x-acs-content-sha256", h("x-acs-content-sha256")),
            ("x-acs-date", h("x-acs-date")),
            ("x-acs-signature-nonce", h("x-acs-signature-nonce")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let signed = acs3::Request {
            method: "POST",
            path: "/2023-03-30/functions/ferry/invocations",
            query: &[],
            headers: &headers,
            payload: &event,
        };
        assert_eq!(
            acs3::canonical_request(&signed),
            format!(
                "POST\n/2023-03-30/functions/ferry/invocations\n\n\
                 content-type:application/octet-stream\n\
                 host:1234567890.cn-hangzhou.fc.aliyuncs.com\n\
                 x-acs-action:InvokeFunction\n\
                 x-acs-content-sha256:{sha}\n\
                 x-acs-date:2023-10-26T10:22:32Z\n\
                 x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
                 x-acs-version:2023-03-30\n\n\
                 content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;\
                 x-acs-signature-nonce;x-acs-version\n{sha}",
                sha = acs3::sha256_hex(&event)
            )
        );
        assert_eq!(h("authorization"), acs3::authorization(&signed, &key()));
        assert!(h("authorization").starts_with(
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=content-type;host;"
        ));
    }

    #[test]
    fn a_qualifier_goes_in_the_signed_query() {
        let r = invoker(Some("prod")).request(&Bytes::new(), &stamp());
        assert_eq!(r.uri().query(), Some("qualifier=prod"));
    }

    #[test]
    fn the_secret_never_travels() {
        let k = AccessKey {
            security_token: Some("sts-token".into()),
            ..key()
        };
        let inv = FcInvoker::new(FcConfig {
            key: k,
            ..invoker(None).config
        })
        .unwrap();
        let r = inv.request(&Bytes::from_static(b"{}"), &stamp());
        for (_, v) in r.headers() {
            assert!(!v.to_str().unwrap().contains("YourAccessKeySecret"));
        }
        assert_eq!(r.headers()["x-acs-security-token"], "sts-token");
        assert!(!format!("{:?}", inv).contains("Secret"));
    }

    #[test]
    fn fc_answers_are_sorted_out() {
        let none = http::HeaderMap::new();
        let result = Bytes::from_static(br#"{"part_number":1,"length":5,"etag":"e","crc64":9}"#);
        assert_eq!(fc_answer(200, &none, result.clone()).unwrap().status, 200);
        // The component's failure passes through with its status, or gets
        // the status its kind has when FC flattened it to 200.
        let refused = Bytes::from_static(br#"{"kind":"source","message":"404"}"#);
        assert_eq!(fc_answer(502, &none, refused.clone()).unwrap().status, 502);
        assert_eq!(fc_answer(200, &none, refused).unwrap().status, 502);
        let transient = Bytes::from_static(br#"{"kind":"exhausted","message":"m"}"#);
        assert_eq!(fc_answer(200, &none, transient).unwrap().status, 503);
        // A crashed instance, FC throttling, FC refusing.
        let mut crashed = http::HeaderMap::new();
        crashed.insert(
            "x-fc-error-type",
            "UnhandledInvocationError".parse().unwrap(),
        );
        assert!(matches!(
            fc_answer(200, &crashed, Bytes::from_static(b"oom")),
            Err(RunError::Transient(_))
        ));
        let busy = Bytes::from_static(br#"{"Code":"ResourceThrottled","Message":"busy"}"#);
        let throttled = fc_answer(429, &none, busy).unwrap();
        assert_eq!(throttled.status, 503);
        let failure: serde_json::Value = serde_json::from_slice(&throttled.body).unwrap();
        assert_eq!(failure["status"], 429);
        assert_eq!(failure["code"], "ResourceThrottled");
        let denied = Bytes::from_static(br#"{"Code":"InvalidSignature","Message":"no"}"#);
        match fc_answer(403, &none, denied) {
            Err(RunError::Refused(m)) => assert!(m.contains("InvalidSignature"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    /// FC reports a container's non-2xx `/invoke` answer (x-fc-status 404)
    /// as a function error: HTTP 200, `x-fc-error-type`, the container's
    /// body. When that body is the component's own failure, its kind still
    /// decides: a store's refusal stops the transfer, it is not retried as a
    /// crash.
    #[test]
    fn a_function_error_carrying_the_components_failure_keeps_its_kind() {
        let mut error = http::HeaderMap::new();
        error.insert(
            "x-fc-error-type",
            "UnhandledInvocationError".parse().unwrap(),
        );
        let refused = Bytes::from_static(br#"{"ok":false,"kind":"store","message":"403"}"#);
        let answer = fc_answer(200, &error, refused.clone()).unwrap();
        assert_eq!(answer.status, 502);
        assert_eq!(answer.body, refused);
        let transient = Bytes::from_static(br#"{"kind":"exhausted","message":"m"}"#);
        assert_eq!(fc_answer(200, &error, transient).unwrap().status, 503);
    }
}
