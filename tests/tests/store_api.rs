//! The store over real HTTP: multipart edge cases, paging, sinks, errors,
//! admin read-back and `verify`.

mod common;

use std::time::{Duration, SystemTime};

use common::{bytes, client, credential, initiate, OssClient, Reply, BUCKET};
use ferry_testbed::pattern;
use ferry_testbed::store::{Sink, StoreConfig, StoreServer, MIN_PART_SIZE};
use ferry_testbed::verify;
use hyper::{Method, StatusCode};

fn store(sink: Sink, md5_etags: bool) -> StoreServer {
    StoreServer::start(StoreConfig {
        region: "cn-hangzhou".into(),
        buckets: vec![BUCKET.into()],
        credentials: vec![credential("id", "secret", None)],
        sink,
        md5_etags,
    })
    .unwrap()
}

fn disk_store() -> (StoreServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ferry-testbed-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    (store(Sink::Disk(dir.clone()), true), dir)
}

fn upload_part(c: &OssClient, key: &str, id: &str, n: u32, data: Vec<u8>) -> Reply {
    let r = c.send(
        Method::PUT,
        &format!("/{BUCKET}/{key}?partNumber={n}&uploadId={id}"),
        &[],
        data,
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r
}

fn complete(c: &OssClient, key: &str, id: &str, parts: &[(u32, &str)]) -> Reply {
    let mut body = String::from("<CompleteMultipartUpload>");
    for (n, etag) in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    c.send(
        Method::POST,
        &format!("/{BUCKET}/{key}?uploadId={id}"),
        &[],
        body,
    )
}

#[test]
fn list_parts_pages_past_1000() {
    let s = store(Sink::Null, false);
    let c = client(&s);
    let id = initiate(&c, "many");
    for n in 1..=1003 {
        upload_part(&c, "many", &id, n, vec![n as u8]);
    }
    let r = c.get(&format!("/{BUCKET}/many?uploadId={id}"), &[]);
    assert_eq!(r.elements("PartNumber").len(), 1000);
    assert_eq!(r.element("MaxParts").as_deref(), Some("1000"));
    assert_eq!(r.element("IsTruncated").as_deref(), Some("true"));
    assert_eq!(r.element("NextPartNumberMarker").as_deref(), Some("1000"));
    let r = c.get(
        &format!("/{BUCKET}/many?uploadId={id}&part-number-marker=1000"),
        &[],
    );
    assert_eq!(r.elements("PartNumber"), ["1001", "1002", "1003"]);
    assert_eq!(r.element("IsTruncated").as_deref(), Some("false"));
    assert_eq!(r.element("PartNumberMarker").as_deref(), Some("1000"));
    let r = c.get(
        &format!("/{BUCKET}/many?uploadId={id}&part-number-marker=500&max-parts=2"),
        &[],
    );
    assert_eq!(r.elements("PartNumber"), ["501", "502"]);
    assert_eq!(r.element("NextPartNumberMarker").as_deref(), Some("502"));
    assert_eq!(r.elements("Size"), ["1", "1"]);
    let r = c.get(&format!("/{BUCKET}/many?uploadId={id}&max-parts=1001"), &[]);
    assert_eq!(r.code().as_deref(), Some("InvalidArgument"));
    let r = c.send(
        Method::PUT,
        &format!("/{BUCKET}/many?partNumber=10001&uploadId={id}"),
        &[],
        "x",
    );
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code().as_deref(), Some("InvalidArgument"));
    assert_eq!(r.element("ArgumentName").as_deref(), Some("PartNumber"));
}

#[test]
fn complete_validates_the_part_list() {
    let (s, dir) = disk_store();
    let c = client(&s);
    let key = "dir/obj.bin";
    let id = initiate(&c, key);
    let p1 = bytes(7, 0, MIN_PART_SIZE as usize);
    let p2 = bytes(7, MIN_PART_SIZE, 10);
    let e1 = upload_part(&c, key, &id, 1, p1.clone());
    let e2 = upload_part(&c, key, &id, 2, p2.clone());
    let (e1, e2) = (e1.header("etag").unwrap(), e2.header("etag").unwrap());
    let small = upload_part(&c, key, &id, 3, vec![1; 10]);
    let e3 = small.header("etag").unwrap();

    let code = |r: Reply| (r.status, r.code().unwrap_or_default());
    let bad = (StatusCode::BAD_REQUEST, "InvalidPartOrder".to_string());
    assert_eq!(code(complete(&c, key, &id, &[(2, e2), (1, e1)])), bad);
    assert_eq!(code(complete(&c, key, &id, &[(1, e1), (1, e1)])), bad);
    let bad = (StatusCode::BAD_REQUEST, "InvalidPart".to_string());
    assert_eq!(code(complete(&c, key, &id, &[(1, e2), (2, e2)])), bad);
    assert_eq!(code(complete(&c, key, &id, &[(1, e1), (4, e2)])), bad);
    let r = complete(&c, key, &id, &[(1, e1), (3, e3), (2, e2)]);
    assert_eq!(r.code().as_deref(), Some("InvalidPartOrder"));
    let r = complete(&c, key, &id, &[(2, e2), (3, e3)]);
    assert_eq!(
        (r.status, r.code().as_deref()),
        (StatusCode::BAD_REQUEST, Some("EntityTooSmall"))
    );
    assert_eq!(r.element("PartNumber").as_deref(), Some("2"));
    let r = c.send(
        Method::POST,
        &format!("/{BUCKET}/{key}?uploadId={id}"),
        &[],
        "<Complete",
    );
    assert_eq!(r.code().as_deref(), Some("MalformedXML"));
    let r = complete(&c, key, "NOSUCHID", &[(1, e1)]);
    assert_eq!(
        (r.status, r.code().as_deref()),
        (StatusCode::NOT_FOUND, Some("NoSuchUpload"))
    );
    // None of that completed or dropped the upload.
    assert!(s.object(BUCKET, key).is_none());
    assert_eq!(s.open_uploads(BUCKET), vec![(key.to_string(), id.clone())]);

    // Lower-case and unquoted ETags are accepted; part 3 is left out.
    let lower = e2.trim_matches('"').to_lowercase();
    let r = complete(&c, key, &id, &[(1, e1), (2, &lower)]);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let total = MIN_PART_SIZE + 10;
    let crc = pattern::crc64(7, total);
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(crc.to_string().as_str())
    );
    let info = s.object(BUCKET, key).unwrap();
    assert_eq!((info.size, info.crc64, info.parts), (total, crc, Some(2)));
    assert!(info.etag.ends_with("-2\""), "{}", info.etag);
    assert_eq!(r.element("ETag").unwrap(), info.etag);
    assert_eq!(
        s.read_object(BUCKET, key).unwrap(),
        bytes(7, 0, total as usize)
    );
    assert!(s.open_uploads(BUCKET).is_empty());

    // Ranged GET across the part boundary; whole-object CRC on it.
    let r = c.get(
        &format!("/{BUCKET}/dir%2Fobj.bin"),
        &[(
            "range",
            &format!("bytes={}-{}", MIN_PART_SIZE - 3, MIN_PART_SIZE + 2),
        )],
    );
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &bytes(7, MIN_PART_SIZE - 3, 6)[..]);
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(crc.to_string().as_str())
    );
    assert_eq!(r.header("x-oss-object-type"), Some("Multipart"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn null_sink_still_checks_crc() {
    let s = store(Sink::Null, false);
    let c = client(&s);
    let seed = 42;
    let sizes = [MIN_PART_SIZE + 1, 2 * MIN_PART_SIZE, 5];
    let id = initiate(&c, "null.bin");
    let mut offset = 0;
    let mut tags = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data = bytes(seed, offset, *size as usize);
        let r = upload_part(&c, "null.bin", &id, i as u32 + 1, data);
        let part_crc = pattern::range_crc64(seed, offset, *size);
        assert_eq!(
            r.header("x-oss-hash-crc64ecma"),
            Some(part_crc.to_string().as_str())
        );
        tags.push(r.header("etag").unwrap().to_string());
        offset += size;
    }
    let list: Vec<(u32, &str)> = tags
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32 + 1, t.as_str()))
        .collect();
    let r = complete(&c, "null.bin", &id, &list);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let crc = pattern::crc64(seed, offset);
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(crc.to_string().as_str())
    );
    let info = s.object(BUCKET, "null.bin").unwrap();
    assert_eq!((info.size, info.crc64, info.parts), (offset, crc, Some(3)));
    assert!(s.read_object(BUCKET, "null.bin").is_none());

    let r = c.get(&format!("/{BUCKET}/null.bin"), &[]);
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.code().as_deref(), Some("NotImplemented"));
    assert!(r.text().contains("null sink"));
    let r = c.send(Method::HEAD, &format!("/{BUCKET}/null.bin"), &[], "");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-length"),
        Some(offset.to_string().as_str())
    );
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(crc.to_string().as_str())
    );

    // Admin read-back.
    let admin = OssClient::new(&s.endpoint(), None);
    let r = admin.get(&format!("/-/object/{BUCKET}/null.bin"), &[]);
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["size"], offset);
    assert_eq!(json["crc64"], crc);
    assert_eq!(json["parts"], 3);
    assert_eq!(json["etag"], info.etag.as_str());
    assert_eq!(
        admin.get(&format!("/-/read/{BUCKET}/null.bin"), &[]).status,
        StatusCode::NOT_IMPLEMENTED
    );
    assert_eq!(
        admin.get(&format!("/-/object/{BUCKET}/absent"), &[]).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn object_operations_and_errors() {
    let (s, dir) = disk_store();
    let c = client(&s);
    let data = bytes(1, 0, 5000);
    let r = c.send(Method::PUT, &format!("/{BUCKET}/a"), &[], data.clone());
    assert_eq!(r.status, StatusCode::OK);
    let md5 = format!("\"{}\"", hex::encode_upper(md5_of(&data)));
    assert_eq!(r.header("etag"), Some(md5.as_str()));
    assert!(r.header("x-oss-request-id").is_some());

    // OSS serves the whole object for an unsatisfiable range, unless asked
    // for standard behaviour.
    let r = c.get(&format!("/{BUCKET}/a"), &[("range", "bytes=6000-")]);
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 5000));
    let r = c.get(
        &format!("/{BUCKET}/a"),
        &[
            ("range", "bytes=6000-"),
            ("x-oss-range-behavior", "standard"),
        ],
    );
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Content-MD5 is verified.
    let r = c.send(
        Method::PUT,
        &format!("/{BUCKET}/b"),
        &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
        "data",
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (StatusCode::BAD_REQUEST, Some("InvalidDigest"))
    );
    assert!(s.object(BUCKET, "b").is_none());

    // Refusals, each with a request id.
    let anonymous = OssClient::new(&s.endpoint(), None);
    let r = anonymous.get(&format!("/{BUCKET}/a"), &[]);
    assert_eq!(
        (r.status, r.code().as_deref()),
        (StatusCode::FORBIDDEN, Some("AccessDenied"))
    );
    assert!(r.header("x-oss-request-id").is_some());
    assert!(r.element("RequestId").is_some() && r.element("HostId").is_some());
    let r = c.get("/nobucket/a", &[]);
    assert_eq!(
        (r.status, r.code().as_deref()),
        (StatusCode::NOT_FOUND, Some("NoSuchBucket"))
    );
    let r = c.get(&format!("/{BUCKET}/missing"), &[]);
    assert_eq!(r.code().as_deref(), Some("NoSuchKey"));
    let late = SystemTime::now() - Duration::from_secs(20 * 60);
    let r = c.send_at(Method::GET, &format!("/{BUCKET}/a"), &[], "", late);
    assert_eq!(
        (r.status, r.code().as_deref()),
        (StatusCode::FORBIDDEN, Some("RequestTimeTooSkewed"))
    );
    let wrong = OssClient::new(&s.endpoint(), Some(credential("id", "nope", None)));
    let r = wrong.get(&format!("/{BUCKET}/a"), &[]);
    assert_eq!(r.code().as_deref(), Some("SignatureDoesNotMatch"));
    assert!(!r.text().contains("secret"));
    let r = c.send(
        Method::PUT,
        &format!("/{BUCKET}/a?partNumber=1&uploadId=NOPE"),
        &[],
        "x",
    );
    assert_eq!(r.code().as_deref(), Some("NoSuchUpload"));

    let r = c.send(Method::DELETE, &format!("/{BUCKET}/a"), &[], "");
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(s.object(BUCKET, "a").is_none());
    let admin = OssClient::new(&s.endpoint(), None);
    let id = initiate(&c, "open");
    let r = admin.get(&format!("/-/uploads/{BUCKET}"), &[]);
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json, serde_json::json!([{"key": "open", "upload_id": id}]));
    let r = c.send(
        Method::DELETE,
        &format!("/{BUCKET}/open?uploadId={id}"),
        &[],
        "",
    );
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(s.open_uploads(BUCKET).is_empty());
    assert!(s.requests() >= 14);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn list_multipart_uploads_pages() {
    let s = store(Sink::Null, false);
    let c = client(&s);
    let mut ids = Vec::new();
    for key in ["p/a", "p/b", "p/b", "p/c", "q/z"] {
        ids.push((key.to_string(), initiate(&c, key)));
    }
    let r = c.get(&format!("/{BUCKET}?uploads&prefix=p%2F&max-uploads=2"), &[]);
    assert_eq!(r.elements("Key"), ["p/a", "p/b"]);
    assert_eq!(r.element("IsTruncated").as_deref(), Some("true"));
    let (km, im) = (
        r.element("NextKeyMarker").unwrap(),
        r.element("NextUploadIdMarker").unwrap(),
    );
    assert_eq!((km.as_str(), im.as_str()), ("p/b", ids[1].1.as_str()));
    let r = c.get(
        &format!("/{BUCKET}?uploads&prefix=p%2F&key-marker={km}&upload-id-marker={im}"),
        &[],
    );
    assert_eq!(r.elements("Key"), ["p/b", "p/c"]);
    assert_eq!(r.elements("UploadId"), [ids[2].1.clone(), ids[3].1.clone()]);
    assert_eq!(r.element("IsTruncated").as_deref(), Some("false"));
    // A key-marker alone skips every upload of that key.
    let r = c.get(&format!("/{BUCKET}?uploads&key-marker=p%2Fb"), &[]);
    assert_eq!(r.elements("Key"), ["p/c", "q/z"]);
}

#[test]
fn verify_reads_back_and_judges() {
    let (s, dir) = disk_store();
    let c = client(&s);
    let data = bytes(9, 0, 300_000);
    c.send(Method::PUT, &format!("/{BUCKET}/v%20k"), &[], data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ep = s.endpoint();
    let ok = rt
        .block_on(verify::verify(&ep, BUCKET, "v k", 9, 300_000))
        .unwrap();
    assert!(ok.bytes_checked);
    assert_eq!(ok.crc64, pattern::crc64(9, 300_000));
    let err = rt
        .block_on(verify::verify(&ep, BUCKET, "v k", 8, 300_000))
        .unwrap_err();
    assert!(matches!(err, verify::VerifyError::Crc { .. }), "{err}");
    let err = rt
        .block_on(verify::verify(&ep, BUCKET, "v k", 9, 299_999))
        .unwrap_err();
    assert!(matches!(err, verify::VerifyError::Size { .. }), "{err}");
    let err = rt
        .block_on(verify::verify(&ep, BUCKET, "absent", 9, 1))
        .unwrap_err();
    assert!(matches!(err, verify::VerifyError::Missing(_)), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}
