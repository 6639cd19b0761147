//! The store's fault knobs, each shown to do exactly what it says, the
//! per-operation counters, and what `--resume` relies on: ListParts and
//! ListMultipartUploads as OSS documents them, and uploads that outlive
//! the client that started them.

mod common;
mod faults_raw;

use common::{bytes, client, credential, initiate, OssClient, Reply, BUCKET};
use ferry_testbed::crc64;
use ferry_testbed::faults::Faults;
use ferry_testbed::pattern;
use ferry_testbed::store::{
    Sink, StoreConfig, StoreCounts, StoreHistory, StoreServer, MIN_PART_SIZE,
};
use ferry_testbed::verify;
use hyper::{Method, StatusCode};

struct Bed {
    s: StoreServer,
    dir: Option<std::path::PathBuf>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn bed(disk: bool, tag: &str) -> Bed {
    let dir = disk.then(|| {
        let d =
            std::env::temp_dir().join(format!("ferry-testbed-faults-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    });
    let s = StoreServer::start(StoreConfig {
        region: "cn-hangzhou".into(),
        buckets: vec![BUCKET.into()],
        credentials: vec![credential("id", "secret", None)],
        sink: dir.clone().map_or(Sink::Null, Sink::Disk),
        md5_etags: true,
    })
    .unwrap();
    Bed { s, dir }
}

fn part(c: &OssClient, key: &str, id: &str, n: u32, data: Vec<u8>) -> Reply {
    c.send(
        Method::PUT,
        &format!("/{BUCKET}/{key}?partNumber={n}&uploadId={id}"),
        &[],
        data,
    )
}

fn complete(c: &OssClient, key: &str, id: &str, parts: &[(u32, String)]) -> Reply {
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

fn list_parts(c: &OssClient, key: &str, id: &str) -> Reply {
    c.get(&format!("/{BUCKET}/{key}?uploadId={id}"), &[])
}

fn abort(c: &OssClient, key: &str, id: &str) -> Reply {
    c.send(
        Method::DELETE,
        &format!("/{BUCKET}/{key}?uploadId={id}"),
        &[],
        "",
    )
}

fn status_code(r: &Reply) -> (StatusCode, String) {
    (r.status, r.code().unwrap_or_default())
}

#[test]
fn part_status_burst_reads_the_body_then_refuses() {
    let b = bed(false, "psb");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    // 20 MiB: more than the store drains of refused requests, so only a
    // whole read gives the client a clean answer.
    let data = bytes(1, 0, 20 << 20);
    b.s.set_faults(Faults {
        part_status_burst: Some((503, 2, Some(1))),
        ..Default::default()
    });
    for _ in 0..2 {
        let r = part(&c, "k", &id, 1, data.clone());
        assert_eq!(
            status_code(&r),
            (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable".into())
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(r.header("x-oss-request-id").is_some());
        assert!(r.element("RequestId").is_some());
        assert!(list_parts(&c, "k", &id).elements("PartNumber").is_empty());
    }
    let r = part(&c, "k", &id, 1, data.clone());
    assert_eq!(r.status, StatusCode::OK);
    let crc = pattern::range_crc64(1, 0, 20 << 20).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));

    for (status, code) in [
        (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        (StatusCode::TOO_MANY_REQUESTS, "QpsLimitExceeded"),
    ] {
        b.s.set_faults(Faults {
            part_status_burst: Some((status.as_u16(), 1, None)),
            ..Default::default()
        });
        let r = part(&c, "k", &id, 2, vec![7; 1000]);
        assert_eq!(status_code(&r), (status, code.into()));
        assert_eq!(r.header("retry-after"), None);
        assert_eq!(part(&c, "k", &id, 2, vec![7; 1000]).status, StatusCode::OK);
    }
    // Other operations are untouched by part faults.
    b.s.set_faults(Faults {
        part_status_burst: Some((500, 5, None)),
        ..Default::default()
    });
    assert_eq!(list_parts(&c, "k", &id).elements("PartNumber"), ["1", "2"]);
    let counts = b.s.counts();
    assert_eq!(
        (counts.upload_part, counts.list_parts, counts.initiate),
        (7, 3, 1)
    );
}

#[test]
fn wrong_part_crc_stores_a_corrupted_part_until_it_is_sent_again() {
    let b = bed(true, "wcrc");
    let c = client(&b.s);
    let seed = 21;
    let size = MIN_PART_SIZE + 5;
    let p1 = bytes(seed, 0, MIN_PART_SIZE as usize);
    let p2 = bytes(seed, MIN_PART_SIZE, 5);
    let good1 = crc64::checksum(&p1);

    // Not sent again: the object is wrong, and verify says so.
    let id = initiate(&c, "bad");
    b.s.set_faults(Faults {
        wrong_part_crc: 1,
        ..Default::default()
    });
    let r1 = part(&c, "bad", &id, 1, p1.clone());
    assert_eq!(r1.status, StatusCode::OK);
    let answered: u64 = r1.header("x-oss-hash-crc64ecma").unwrap().parse().unwrap();
    assert_ne!(answered, good1);
    assert_eq!(answered, good1 ^ crc64::last_bit_flip());
    let listed = list_parts(&c, "bad", &id);
    assert_eq!(listed.elements("HashCrc64ecma"), [answered.to_string()]);
    let r2 = part(&c, "bad", &id, 2, p2.clone());
    let good2 = crc64::checksum(&p2).to_string();
    assert_eq!(r2.header("x-oss-hash-crc64ecma"), Some(good2.as_str()));
    let tags = vec![
        (1, r1.header("etag").unwrap().to_string()),
        (2, r2.header("etag").unwrap().to_string()),
    ];
    let r = complete(&c, "bad", &id, &tags);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let info = b.s.object(BUCKET, "bad").unwrap();
    assert_ne!(info.crc64, pattern::crc64(seed, size));
    let stored = b.s.read_object(BUCKET, "bad").unwrap();
    assert_eq!(
        crc64::checksum(&stored),
        info.crc64,
        "CRC is that of the bytes"
    );
    let mut want = bytes(seed, 0, size as usize);
    want[MIN_PART_SIZE as usize - 1] ^= 1;
    assert_eq!(stored, want);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(verify::verify(&b.s.endpoint(), BUCKET, "bad", seed, size))
        .unwrap_err();
    assert!(matches!(err, verify::VerifyError::Crc { .. }), "{err}");

    // Sent again after the mismatch: a correct object.
    let id = initiate(&c, "good");
    b.s.set_faults(Faults {
        wrong_part_crc: 1,
        ..Default::default()
    });
    let r = part(&c, "good", &id, 1, p1.clone());
    assert_ne!(
        r.header("x-oss-hash-crc64ecma"),
        Some(good1.to_string().as_str())
    );
    let r1 = part(&c, "good", &id, 1, p1);
    assert_eq!(
        r1.header("x-oss-hash-crc64ecma"),
        Some(good1.to_string().as_str())
    );
    let r2 = part(&c, "good", &id, 2, p2);
    let tags = vec![
        (1, r1.header("etag").unwrap().to_string()),
        (2, r2.header("etag").unwrap().to_string()),
    ];
    assert_eq!(complete(&c, "good", &id, &tags).status, StatusCode::OK);
    rt.block_on(verify::verify(&b.s.endpoint(), BUCKET, "good", seed, size))
        .unwrap();
    assert_eq!(b.s.counts().upload_part, 5);
}

#[test]
fn wrong_part_crc_on_the_null_sink() {
    let b = bed(false, "wcrcnull");
    let c = client(&b.s);
    let id = initiate(&c, "n");
    b.s.set_faults(Faults {
        wrong_part_crc: 2,
        ..Default::default()
    });
    let data = bytes(3, 0, 5000);
    let good = crc64::checksum(&data).to_string();
    for _ in 0..2 {
        let r = part(&c, "n", &id, 1, data.clone());
        assert_ne!(r.header("x-oss-hash-crc64ecma"), Some(good.as_str()));
    }
    let r = part(&c, "n", &id, 1, data);
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(good.as_str()));
    assert_eq!(list_parts(&c, "n", &id).elements("HashCrc64ecma"), [good]);
}

#[test]
fn reset_part_after_closes_without_an_answer_and_stores_nothing() {
    let b = bed(true, "rpa");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    b.s.set_faults(Faults {
        reset_part_after: Some((64 << 10, 2)),
        ..Default::default()
    });
    let data = bytes(5, 0, 4 << 20);
    let path = format!("/{BUCKET}/k?partNumber=1&uploadId={id}");
    for _ in 0..2 {
        let r = faults_raw::signed(b.s.addr(), "PUT", &path, "id", "secret", &data);
        assert_eq!(r.status, None, "no response at all: {r:?}");
        assert!(list_parts(&c, "k", &id).elements("PartNumber").is_empty());
    }
    let r = faults_raw::signed(b.s.addr(), "PUT", &path, "id", "secret", &data);
    assert_eq!(r.status, Some(200));
    let crc = crc64::checksum(&data).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    assert_eq!(list_parts(&c, "k", &id).elements("PartNumber"), ["1"]);
    assert_eq!(b.s.counts().upload_part, 3);
    // Only the kept part's file is on disk.
    let blobs = std::fs::read_dir(b.dir.as_ref().unwrap().join("blobs"))
        .unwrap()
        .count();
    assert_eq!(blobs, 1);
}

#[test]
fn complete_status_burst_keeps_the_upload() {
    let b = bed(false, "csb");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    let r = part(&c, "k", &id, 1, vec![1; 10]);
    let tags = vec![(1, r.header("etag").unwrap().to_string())];
    b.s.set_faults(Faults {
        complete_status_burst: Some((500, 2)),
        ..Default::default()
    });
    for _ in 0..2 {
        let r = complete(&c, "k", &id, &tags);
        assert_eq!(
            status_code(&r),
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalError".into())
        );
        assert!(b.s.object(BUCKET, "k").is_none());
        assert_eq!(b.s.open_uploads(BUCKET), [("k".to_string(), id.clone())]);
        assert_eq!(list_parts(&c, "k", &id).elements("PartNumber"), ["1"]);
    }
    let r = complete(&c, "k", &id, &tags);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(b.s.object(BUCKET, "k").unwrap().size, 10);
    b.s.set_faults(Faults {
        complete_status_burst: Some((503, 1)),
        ..Default::default()
    });
    let id = initiate(&c, "k2");
    let r = complete(&c, "k2", &id, &tags);
    assert_eq!(
        status_code(&r),
        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable".into())
    );
    assert_eq!(b.s.counts().complete, 4);
}

#[test]
fn wrong_object_crc_completes_the_object_but_answers_another_crc() {
    let b = bed(false, "woc");
    let c = client(&b.s);
    b.s.set_faults(Faults {
        complete_status_burst: Some((500, 1)),
        wrong_object_crc: 1,
        ..Default::default()
    });
    let data = bytes(5, 0, 1000);
    let crc = crc64::checksum(&data);
    let mut answered = Vec::new();
    for key in ["k", "k2"] {
        let id = initiate(&c, key);
        let r = part(&c, key, &id, 1, data.clone());
        let tags = vec![(1, r.header("etag").unwrap().to_string())];
        if key == "k" {
            // complete_status_burst fires first; wrong_object_crc waits.
            assert_eq!(
                complete(&c, key, &id, &tags).status,
                StatusCode::INTERNAL_SERVER_ERROR
            );
        }
        let r = complete(&c, key, &id, &tags);
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        answered.push(r.header("x-oss-hash-crc64ecma").unwrap().to_string());
        // The object itself is intact.
        assert_eq!(b.s.object(BUCKET, key).unwrap().crc64, crc);
        let head = c.send(Method::HEAD, &format!("/{BUCKET}/{key}"), &[], "");
        assert_eq!(
            head.header("x-oss-hash-crc64ecma"),
            Some(&crc.to_string()[..])
        );
    }
    assert_eq!(answered, [(crc ^ 1).to_string(), crc.to_string()]);
}

/// The history counts what the store did, not what it was asked.
#[test]
fn history_counts_changes_not_requests() {
    let b = bed(false, "history");
    let c = client(&b.s);
    b.s.set_faults(Faults {
        deny_all: true,
        ..Default::default()
    });
    let r = c.send(Method::POST, &format!("/{BUCKET}/k?uploads"), &[], "");
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(b.s.history(), StoreHistory::default());
    b.s.set_faults(Faults::default());
    let id = initiate(&c, "k");
    let r = part(&c, "k", &id, 1, vec![1; 10]);
    complete(&c, "k", &id, &[(1, r.header("etag").unwrap().to_string())]);
    let id = initiate(&c, "k2");
    part(&c, "k2", &id, 1, vec![1; 10]);
    part(&c, "k2", &id, 1, vec![2; 10]);
    abort(&c, "k2", &id);
    c.send(Method::DELETE, &format!("/{BUCKET}/k"), &[], "");
    c.send(Method::DELETE, &format!("/{BUCKET}/none"), &[], "");
    assert_eq!(
        b.s.history(),
        StoreHistory {
            uploads_created: 2,
            parts_stored: 3,
            uploads_completed: 1,
            uploads_aborted: 1,
            objects_written: 1,
            objects_deleted: 1,
        }
    );
}

#[test]
fn abort_status_burst_keeps_the_upload_until_an_abort_succeeds() {
    let b = bed(false, "asb");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    part(&c, "k", &id, 1, vec![1; 10]);
    b.s.set_faults(Faults {
        abort_status_burst: Some((500, 2)),
        ..Default::default()
    });
    for _ in 0..2 {
        let r = abort(&c, "k", &id);
        assert_eq!(
            status_code(&r),
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalError".into())
        );
        let r = c.get(&format!("/{BUCKET}?uploads&prefix=k"), &[]);
        assert_eq!(r.elements("UploadId"), std::slice::from_ref(&id));
        assert_eq!(list_parts(&c, "k", &id).elements("PartNumber"), ["1"]);
    }
    assert_eq!(abort(&c, "k", &id).status, StatusCode::NO_CONTENT);
    let r = list_parts(&c, "k", &id);
    assert_eq!(
        status_code(&r),
        (StatusCode::NOT_FOUND, "NoSuchUpload".into())
    );
    let r = c.get(&format!("/{BUCKET}?uploads&prefix=k"), &[]);
    assert!(r.elements("UploadId").is_empty());
    let n = b.s.counts();
    assert_eq!((n.abort, n.list_uploads, n.list_parts), (3, 3, 3));
}

#[test]
fn deny_all_refuses_every_oss_request() {
    let b = bed(false, "deny");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    b.s.set_faults(Faults {
        deny_all: true,
        ..Default::default()
    });
    let replies = [
        c.send(Method::POST, &format!("/{BUCKET}/k?uploads"), &[], ""),
        part(&c, "k", &id, 1, vec![1; 100]),
        list_parts(&c, "k", &id),
        c.get(&format!("/{BUCKET}?uploads"), &[]),
        complete(&c, "k", &id, &[(1, "\"00\"".into())]),
        abort(&c, "k", &id),
        c.send(Method::PUT, &format!("/{BUCKET}/o"), &[], "x"),
        c.get(&format!("/{BUCKET}/o"), &[]),
        c.send(Method::DELETE, &format!("/{BUCKET}/o"), &[], ""),
    ];
    for r in &replies {
        assert_eq!(
            status_code(r),
            (StatusCode::FORBIDDEN, "AccessDenied".into())
        );
    }
    let r = c.send(Method::HEAD, &format!("/{BUCKET}/o"), &[], "");
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.header("x-oss-err"), Some("AccessDenied"));
    // Admin read-back still answers; the upload is untouched.
    let admin = OssClient::new(&b.s.endpoint(), None);
    let r = admin.get(&format!("/-/uploads/{BUCKET}"), &[]);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(b.s.open_uploads(BUCKET), [("k".to_string(), id.clone())]);
    b.s.set_faults(Faults::default());
    assert_eq!(abort(&c, "k", &id).status, StatusCode::NO_CONTENT);
    assert_eq!(
        b.s.counts(),
        StoreCounts {
            initiate: 2,
            upload_part: 1,
            upload_part_copy: 0,
            complete: 1,
            abort: 2,
            list_parts: 1,
            list_uploads: 1,
            put_object: 1,
            get_object: 1,
            head_object: 1,
            delete_object: 1,
            other: 0,
            admin: 1,
        }
    );
}

#[test]
fn knobs_on_the_same_operation_fire_one_after_the_other() {
    let b = bed(false, "seq");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    b.s.set_faults(Faults {
        reset_part_after: Some((0, 1)),
        part_status_burst: Some((503, 1, None)),
        wrong_part_crc: 1,
        ..Default::default()
    });
    let data = vec![9u8; 1000];
    let path = format!("/{BUCKET}/k?partNumber=1&uploadId={id}");
    let good = crc64::checksum(&data).to_string();
    let r = faults_raw::signed(b.s.addr(), "PUT", &path, "id", "secret", &data);
    assert_eq!(r.status, None);
    let r = faults_raw::signed(b.s.addr(), "PUT", &path, "id", "secret", &data);
    assert_eq!(r.status, Some(503));
    let r = faults_raw::signed(b.s.addr(), "PUT", &path, "id", "secret", &data);
    assert_eq!(r.status, Some(200));
    assert_ne!(r.header("x-oss-hash-crc64ecma"), Some(good.as_str()));
    let r = faults_raw::signed(b.s.addr(), "PUT", &path, "id", "secret", &data);
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(good.as_str()));
    assert_eq!(b.s.counts().upload_part, 4);
}

/// What `--resume` needs: a client killed mid-part leaves the upload and
/// its finished parts; another client finds the upload by prefix, reads
/// every part's number, date, ETag, decimal CRC-64 and size from ListParts,
/// uploads the rest and completes.
#[test]
fn an_upload_outlives_its_client_and_completes_from_another() {
    let b = bed(true, "resume");
    let seed = 77;
    let psize = MIN_PART_SIZE as usize;
    let size = 3 * MIN_PART_SIZE + 17;
    let key = "big/file.bin";
    let id = {
        let first = client(&b.s);
        let id = initiate(&first, key);
        for n in 1..=2u32 {
            let data = bytes(seed, u64::from(n - 1) * MIN_PART_SIZE, psize);
            assert_eq!(part(&first, key, &id, n, data).status, StatusCode::OK);
        }
        id
        // `first` and its connections are gone here.
    };
    // Killed while sending part 3: half a body, then the socket closes.
    {
        use std::io::Write;
        let path = format!("/{BUCKET}/big%2Ffile.bin?partNumber=3&uploadId={id}");
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut map = hyper::header::HeaderMap::new();
        map.insert("date", date.parse().unwrap());
        let target = ferry_testbed::store::request::Target::parse(&path.parse().unwrap());
        let sts = ferry_testbed::store::sign_v1::string_to_sign("PUT", &target, &map, &date);
        let sig = ferry_testbed::store::sign_v1::signature("secret", &sts);
        let mut s = std::net::TcpStream::connect(b.s.addr()).unwrap();
        write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: x\r\nDate: {date}\r\nAuthorization: OSS id:{sig}\r\n\
             Content-Length: {psize}\r\n\r\n"
        )
        .unwrap();
        s.write_all(&bytes(seed, 2 * MIN_PART_SIZE, psize / 2))
            .unwrap();
    }
    // Another key under the same prefix: a resuming client must match the
    // key exactly.
    let second = client(&b.s);
    let other = initiate(&second, "big/file.bin.old");
    std::thread::sleep(std::time::Duration::from_millis(100));

    let r = second.get(&format!("/{BUCKET}?uploads&prefix=big%2Ffile.bin"), &[]);
    assert_eq!(r.elements("Key"), ["big/file.bin", "big/file.bin.old"]);
    assert_eq!(r.elements("UploadId"), [id.clone(), other]);
    for initiated in r.elements("Initiated") {
        assert!(is_iso8601(&initiated), "{initiated}");
    }
    let r = list_parts(&second, "big%2Ffile.bin", &id);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.element("Key").as_deref(), Some(key));
    assert_eq!(r.element("MaxParts").as_deref(), Some("1000"));
    assert_eq!(r.element("IsTruncated").as_deref(), Some("false"));
    assert_eq!(r.elements("PartNumber"), ["1", "2"]);
    assert_eq!(r.elements("Size"), [psize.to_string(), psize.to_string()]);
    let crcs: Vec<String> = (0..2)
        .map(|i| pattern::range_crc64(seed, i * MIN_PART_SIZE, MIN_PART_SIZE).to_string())
        .collect();
    assert_eq!(r.elements("HashCrc64ecma"), crcs);
    for date in r.elements("LastModified") {
        assert!(is_iso8601(&date), "{date}");
    }
    // Element order inside a Part, as OSS sends it.
    let text = r.text();
    let order: Vec<usize> = [
        "<PartNumber>",
        "<LastModified>",
        "<ETag>",
        "<HashCrc64ecma>",
        "<Size>",
    ]
    .iter()
    .map(|t| text.find(t).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    let mut tags: Vec<(u32, String)> = r
        .elements("PartNumber")
        .iter()
        .zip(r.elements("ETag"))
        .map(|(n, e)| (n.parse().unwrap(), e.replace("&quot;", "\"")))
        .collect();

    let tail = bytes(seed, 2 * MIN_PART_SIZE, psize + 17);
    let r = part(&second, "big%2Ffile.bin", &id, 3, tail);
    assert_eq!(r.status, StatusCode::OK);
    tags.push((3, r.header("etag").unwrap().to_string()));
    let r = complete(&second, "big%2Ffile.bin", &id, &tags);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let crc = pattern::crc64(seed, size).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    assert_eq!(
        b.s.read_object(BUCKET, key).unwrap(),
        bytes(seed, 0, size as usize)
    );
}

/// ListParts pages by max-parts and part-number-marker as OSS does.
#[test]
fn list_parts_pages_like_oss() {
    let b = bed(false, "lp");
    let c = client(&b.s);
    let id = initiate(&c, "k");
    for n in [1u32, 2, 3, 5, 8, 13] {
        part(&c, "k", &id, n, vec![n as u8; n as usize]);
    }
    let mut marker = 0;
    let mut seen = Vec::new();
    loop {
        let r = c.get(
            &format!("/{BUCKET}/k?uploadId={id}&max-parts=4&part-number-marker={marker}"),
            &[],
        );
        assert_eq!(r.element("PartNumberMarker").unwrap(), marker.to_string());
        assert_eq!(r.element("MaxParts").as_deref(), Some("4"));
        seen.extend(r.elements("PartNumber"));
        if r.element("IsTruncated").as_deref() == Some("false") {
            break;
        }
        marker = r.element("NextPartNumberMarker").unwrap().parse().unwrap();
    }
    assert_eq!(seen, ["1", "2", "3", "5", "8", "13"]);
    let r = c.get(&format!("/{BUCKET}/k?uploadId={id}&max-parts=4"), &[]);
    assert_eq!(r.element("NextPartNumberMarker").as_deref(), Some("5"));
    assert_eq!(r.elements("Size"), ["1", "2", "3", "5"]);
}

fn is_iso8601(s: &str) -> bool {
    // 2024-01-01T00:00:00.000Z
    s.len() == 24 && s.as_bytes()[10] == b'T' && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}
