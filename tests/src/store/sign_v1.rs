//! OSS signature version 1: HMAC-SHA1 over a string to sign, base64.
//!
//! String to sign, as Alibaba documents it and oss2's `ProviderAuth` builds it:
//! `VERB \n Content-MD5 \n Content-Type \n Date \n` + canonicalized `x-oss-*`
//! headers (`name:value\n`, lowercase, sorted) + canonicalized resource
//! (`/bucket/key` and the sorted sub-resources of the query).

use base64::Engine;
use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use sha1::Sha1;

use super::request::Target;

/// Query parameters that are part of the V1 canonicalized resource (oss2's
/// `_subresource_key_set`); all other parameters are not signed.
pub const SUBRESOURCES: &[&str] = &[
    "response-content-type",
    "response-content-language",
    "response-cache-control",
    "logging",
    "response-content-encoding",
    "acl",
    "uploadId",
    "uploads",
    "partNumber",
    "group",
    "link",
    "delete",
    "website",
    "location",
    "objectInfo",
    "objectMeta",
    "response-expires",
    "response-content-disposition",
    "cors",
    "lifecycle",
    "restore",
    "qos",
    "referer",
    "stat",
    "bucketInfo",
    "append",
    "position",
    "security-token",
    "live",
    "comp",
    "status",
    "vod",
    "startTime",
    "endTime",
    "x-oss-process",
    "symlink",
    "callback",
    "callback-var",
    "tagging",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "policy",
    "requestPayment",
    "x-oss-traffic-limit",
    "qosInfo",
    "asyncFetch",
    "x-oss-request-payer",
    "sequential",
    "inventory",
    "inventoryId",
    "continuation-token",
    "worm",
    "wormId",
    "wormExtend",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "transferAcceleration",
    "cname",
    "metaQuery",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow",
    "resourceGroup",
    "style",
    "styleName",
    "x-oss-async-process",
    "regionList",
    "x-oss-write-get-object-response",
    "bucketArchiveDirectRead",
    "httpsConfig",
    "redundancyTransition",
    "x-oss-target-redundancy-type",
    "x-oss-redundancy-transition-taskid",
    "accessPoint",
    "accessPointPolicy",
    "publicAccessBlock",
    "x-oss-access-point-name",
    "requesterQosInfo",
    "qosRequester",
    "resourcePoolInfo",
    "resourcePool",
    "resourcePoolBuckets",
];

/// The V1 string to sign. `date` is the `Date` (or `x-oss-date`) header for
/// header signatures and the `Expires` parameter for presigned URLs.
pub fn string_to_sign(method: &str, target: &Target, headers: &HeaderMap, date: &str) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let mut out = format!(
        "{method}\n{}\n{}\n{date}\n",
        header("content-md5"),
        header("content-type")
    );
    let mut oss_headers: Vec<(&str, String)> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-oss-"))
        .map(|k| (k, header(k)))
        .collect();
    oss_headers.sort();
    for (k, v) in oss_headers {
        out.push_str(k);
        out.push(':');
        out.push_str(&v);
        out.push('\n');
    }
    out.push_str(&canonicalized_resource(target));
    out
}

/// `/bucket/key` (or `/` without a bucket) plus `?sub&sub=value`, sorted.
pub fn canonicalized_resource(target: &Target) -> String {
    let mut out = match &target.bucket {
        Some(bucket) => format!("/{bucket}/{}", target.key),
        None => "/".to_string(),
    };
    let mut subs: Vec<&(String, String)> = target
        .query
        .iter()
        .filter(|(k, _)| SUBRESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// base64(HMAC-SHA1(secret, string_to_sign)).
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_keeps_only_subresources_sorted() {
        let t = Target::parse(&"/b/k?partNumber=2&max-parts=5&uploadId=U".parse().unwrap());
        assert_eq!(canonicalized_resource(&t), "/b/k?partNumber=2&uploadId=U");
        let t = Target::parse(&"/b?uploads&prefix=a".parse().unwrap());
        assert_eq!(canonicalized_resource(&t), "/b/?uploads");
    }

    #[test]
    fn documented_example() {
        // The example of Alibaba's "Include signatures in the Authorization
        // header" page (V1): PUT /nelson with Content-MD5, Content-Type,
        // Date and x-oss-meta-author.
        let mut headers = HeaderMap::new();
        headers.insert("content-md5", "eB5eJF1ptWaXm4bijSPyxw==".parse().unwrap());
        headers.insert("content-type", "text/html".parse().unwrap());
        headers.insert("x-oss-meta-author", "alice".parse().unwrap());
        headers.insert("x-oss-meta-magic", "abracadabra".parse().unwrap());
        let t = Target::parse(&"/oss-example/nelson".parse().unwrap());
        let sts = string_to_sign("PUT", &t, &headers, "Wed, 28 Dec 2022 10:27:41 GMT");
        assert_eq!(
            sts,
            "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\n\
             x-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/oss-example/nelson"
        );
    }
}
