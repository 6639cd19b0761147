//! Property-based fuzzing of every parser of outside input in the engine.
//!
//! cargo-fuzz needs a nightly toolchain, which this project does not use, so
//! the parsers are fuzzed with proptest on stable: random and mutated inputs
//! (seeded with real OSS documents and nasty cases), checked for panics,
//! round-trips and invariants. `make test` runs each target with proptest's
//! default 256 cases; `make fuzz` runs each with `PROPTEST_CASES` set high,
//! bounded by `FUZZ_SECONDS` per target, and prints the executions.
//!
//! A failing case is shrunk, reported, and its seed saved in
//! `guest/proptest-regressions/<target>.txt`, which is replayed first on
//! every later run: commit those files.

use ferry_guest::sign::{self, Credentials, RequestParts, Scheme, Signer};
use ferry_guest::{
    crc, plan, size, source, target, xml, EndpointKind, Failure, FailureKind, Job, PartResult,
    PartTask, SignatureVersion, StoreKind,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant, UNIX_EPOCH};

// ---------------------------------------------------------------- harness

/// Runs `test` on values of `strategy`: `PROPTEST_CASES` cases (256 when
/// unset), stopping early once `FUZZ_SECONDS` (60 when unset) have passed,
/// and prints how many ran.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = env("PROPTEST_CASES").unwrap_or(256).max(1);
    let budget = Duration::from_secs(env("FUZZ_SECONDS").unwrap_or(60));
    let regressions: &'static str = Box::leak(
        format!(
            "{}/proptest-regressions/{name}.txt",
            env!("CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    let start = Instant::now();
    let mut done = 0u64;
    while done < cases && start.elapsed() < budget {
        let chunk = (cases - done).min(2_000);
        let mut runner = TestRunner::new(Config {
            cases: chunk as u32,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("fuzz target {name} failed: {e}");
        }
        done += chunk;
    }
    println!(
        "fuzz {name}: {done} executions in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Random edits of a seed: byte flips, insertions, deletions, truncation,
/// duplication and spliced-in nasty tokens. Yields bytes, possibly not UTF-8.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&str] = &[
        "<",
        ">",
        "&",
        "&amp;",
        "&lt;",
        "&#0;",
        "&#x110000;",
        "&#xD800;",
        "&bogus;",
        "]]>",
        "<![CDATA[",
        "<!--",
        "-->",
        "<?xml version=\"1.0\"?>",
        "<!DOCTYPE a [<!ENTITY x \"y\">]>",
        "&x;",
        "\u{0}",
        "\u{feff}",
        "\u{fffd}",
        "\"",
        "\\",
        "\\u0000",
        "\\ud800",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "null",
        "true",
        "1e999",
        "-1",
        "18446744073709551616",
        "\r\n",
        "%",
        "%zz",
        "é",
        "🦀",
        " ",
        "</",
    ];
    (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..6, any::<u8>()), 0..8),
    )
        .prop_map(|(seed, edits)| {
            let mut b = seed.as_bytes().to_vec();
            for (at, op, byte) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] ^= 1 << (byte % 8),
                    1 => b.insert(i, byte),
                    2 if i < b.len() => {
                        b.remove(i);
                    }
                    3 => b.truncate(i),
                    4 => {
                        let j = (i + byte as usize).min(b.len());
                        let dup = b[i.min(j)..j].to_vec();
                        b.splice(i..i, dup);
                    }
                    _ => {
                        let t = TOKENS[byte as usize % TOKENS.len()].as_bytes();
                        b.splice(i..i, t.iter().copied());
                    }
                }
            }
            b
        })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Arbitrary text: any Unicode, ASCII-heavy text, or mutated seeds.
fn text(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~\t\r\n]{0,64}",
        mutated(seeds).prop_map(|b| lossy(&b)),
    ]
}

// ------------------------------------------------------------------ seeds

/// OSS responses in the shapes the OSS API reference documents.
const XML_SEEDS: &[&str] = &[
    // InitiateMultipartUpload
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\n    <Bucket>oss-example</Bucket>\n    <Key>multipart.data</Key>\n    <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>\n</InitiateMultipartUploadResult>",
    // InitiateMultipartUpload with encoding-type=url
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>\n  <Bucket>oss-example</Bucket>\n  <Key>dir%2Fa%20b.bin</Key>\n  <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>\n  <EncodingType>url</EncodingType>\n</InitiateMultipartUploadResult>",
    // CompleteMultipartUpload
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\n    <EncodingType>url</EncodingType>\n    <Location>http://oss-example.oss-cn-hangzhou.aliyuncs.com/multipart.data</Location>\n    <Bucket>oss-example</Bucket>\n    <Key>multipart.data</Key>\n    <ETag>\"B864DB6A936D376F9F8D3ED3BBE540****\"</ETag>\n</CompleteMultipartUploadResult>",
    // An ETag escaped as entities, as some servers write it.
    "<CompleteMultipartUploadResult><Location>http://b.oss-cn-hangzhou.aliyuncs.com/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>&quot;3C2A8E5F0F1D4B7E9A6C5D4E3F2A1B0C-3&quot;</ETag></CompleteMultipartUploadResult>",
    // Error documents, one with the curly-quoted namespace the Chinese docs show.
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>MissingArgument</Code>\n  <Message>Missing Some Required Arguments.</Message>\n  <RequestId>57ABD896CCB80C366955****</RequestId>\n  <HostId>oss-example.oss-cn-hangzhou.aliyuncs.com</HostId>\n  <EC>0016-00000502</EC>\n  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0016-00000502</RecommendDoc>\n</Error>",
    "<?xml version=\"1.0\" ?>\n<Error xmlns=\u{201d}http://doc.oss-cn-hangzhou.aliyuncs.com\u{201d}>\n<Code>MalformedXML</Code>\n<Message>The XML you provided was not well-formed or did not validate against our published schema.</Message>\n<RequestId>57ABD896CCB80C366955****</RequestId>\n<HostId>oss-cn-hangzhou.aliyuncs.com</HostId>\n<EC>0031-00000001</EC>\n</Error>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>SignatureDoesNotMatch</Code>\n  <Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>\n  <RequestId>5C3D9175B6FC201293AD****</RequestId>\n  <HostId>oss-example.oss-cn-hangzhou.aliyuncs.com</HostId>\n  <OSSAccessKeyId>LTAI****</OSSAccessKeyId>\n  <SignatureProvided>ZmFrZQ==</SignatureProvided>\n  <StringToSign>PUT\n\napplication/octet-stream\nTue, 25 Nov 2025 10:00:00 GMT\n/oss-example/k?partNumber=1&amp;uploadId=U</StringToSign>\n  <EC>0002-00000040</EC>\n</Error>",
    "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message><RequestId>5C3D8D2A0ACA54D87B43****</RequestId><HostId>oss-example.oss-cn-hangzhou.aliyuncs.com</HostId><UploadId>0004B999EF5A239BB9138C6227D6****</UploadId></Error>",
    // ListParts, for the parsers to come.
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\n    <Bucket>multipart_upload</Bucket>\n    <Key>multipart.data</Key>\n    <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>\n    <NextPartNumberMarker>5</NextPartNumberMarker>\n    <MaxParts>1000</MaxParts>\n    <IsTruncated>false</IsTruncated>\n    <Part>\n        <PartNumber>1</PartNumber>\n        <LastModified>2012-02-23T07:01:34.000Z</LastModified>\n        <ETag>\"3349DC700140D7F86A0784842780****\"</ETag>\n        <HashCrc64ecma>11051210869376104954</HashCrc64ecma>\n        <Size>6291456</Size>\n    </Part>\n    <Part>\n        <PartNumber>2</PartNumber>\n        <LastModified>2012-02-23T07:01:12.000Z</LastModified>\n        <ETag>\"3349DC700140D7F86A0784842780****\"</ETag>\n        <Size>6291456</Size>\n    </Part>\n</ListPartsResult>",
    // ListMultipartUploads
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\n    <Bucket>oss-example</Bucket>\n    <KeyMarker></KeyMarker>\n    <UploadIdMarker></UploadIdMarker>\n    <NextKeyMarker>oss.avi</NextKeyMarker>\n    <NextUploadIdMarker>0004B99B8E707874FC2D692FA5D7****</NextUploadIdMarker>\n    <Delimiter></Delimiter>\n    <Prefix></Prefix>\n    <MaxUploads>1000</MaxUploads>\n    <IsTruncated>false</IsTruncated>\n    <Upload>\n        <Key>multipart.data</Key>\n        <UploadId>0004B999EF518A1FE585B0C9360D****</UploadId>\n        <Initiated>2012-02-23T04:18:23.000Z</Initiated>\n    </Upload>\n    <Upload>\n        <Key>oss.avi</Key>\n        <UploadId>0004B99B8E707874FC2D692FA5D7****</UploadId>\n        <Initiated>2012-02-23T06:14:27.000Z</Initiated>\n    </Upload>\n</ListMultipartUploadsResult>",
    // Nasty: empty, BOM, CDATA, comments, entity definitions, bad references.
    "",
    "\u{feff}<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>",
    "<InitiateMultipartUploadResult><UploadId><![CDATA[a<b>&c]]></UploadId></InitiateMultipartUploadResult>",
    "<InitiateMultipartUploadResult><!-- x --><UploadId>a<!-- y -->b</UploadId><UploadId>second</UploadId></InitiateMultipartUploadResult>",
    "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><Error><Code>&lol2;</Code></Error>",
    "<Error><Code>&#0;&#xFFFFFFFF;&#99999999999;&unknown;</Code></Error>",
    "<ETag attr='x' ETag=\"y\"/>",
    "<CompleteMultipartUploadResult><ETag><ETag>nested</ETag></ETag></CompleteMultipartUploadResult>",
    "<a:Error xmlns:a=\"urn:x\"><a:Code>C</a:Code></a:Error>",
];

const JSON_SEEDS: &[&str] = &[
    r#"{"source_url":"https://mirror.example.com/images/big.iso","target_bucket_name":"my-bucket","target_object_name":"images/big.iso","target_region":"cn-hangzhou"}"#,
    r#"{"source_url":"http://127.0.0.1:8080/f","target_bucket_name":"bkt","target_object_name":"k","target_region":"cn-hangzhou","endpoint":"http://127.0.0.1:9000","part_size":6291456,"parallel":16,"signature_version":"v4","fanout_url":"http://127.0.0.1:7000"}"#,
    r#"{"source_url":"s","target_bucket_name":"b","target_object_name":"k","target_region":"r","signature_version":"v1","part_size":null,"parallel":null}"#,
    r#"{"part_number":3,"offset":12582912,"length":6291456,"source_url":"http://127.0.0.1:8080/f","if_match":"\"abc\"","if_unmodified_since":null,"upload_url":"http://127.0.0.1:9000/bkt/k?partNumber=3&uploadId=U&x-oss-signature=00"}"#,
    r#"{"part_number":1,"length":6291456,"etag":"\"3349DC700140D7F86A0784842780\"","crc64":11051210869376104954}"#,
    r#"{"kind":"invalid-input","message":"bucket name \"B\" is not valid","part_number":null}"#,
    r#"{"kind":"exhausted","message":"part 7 failed 5 times","part_number":7}"#,
    "",
    "null",
    "[]",
    r#"{"part_number":4294967296,"offset":-1,"length":1.5,"crc64":18446744073709551616}"#,
    r#"{"source_url":"\ud800","target_bucket_name":"\u0000"}"#,
    r#"{"kind":"Invalid-Input","message":1}"#,
];

// ---------------------------------------------------------------- XML

#[test]
fn fuzz_xml_responses() {
    fuzz("xml_responses", text(XML_SEEDS), |body| {
        // Whatever the body, each document type parses or errs; no panic.
        let _ = xml::parse::<xml::InitiateMultipartUploadResult>(&body);
        let _ = xml::parse::<xml::CompleteMultipartUploadResult>(&body);
        let _ = xml::parse::<xml::ErrorResponse>(&body);
        let _ = xml::parse::<xml::ListPartsResult>(&body);
        let _ = xml::parse::<xml::ListMultipartUploadsResult>(&body);
        Ok(())
    });
}

/// XML text content for `s`, escaped as a server would.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Characters XML 1.0 allows in text, without leading or trailing
/// whitespace (which the deserializer trims).
fn xml_value() -> impl Strategy<Value = String> {
    prop_oneof!["[!-~]([ -~]{0,40}[!-~])?", "\\PC{1,20}"].prop_filter("XML text", |s| {
        !s.is_empty()
            && s.trim() == s
            // quick-xml reads U+2028 as a line end (XML 1.1 style): "\n".
            && !s.contains('\u{2028}')
            && s.chars().all(
                |c| matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..),
            )
    })
}

#[test]
fn fuzz_xml_fields_read_back() {
    fuzz(
        "xml_fields_read_back",
        (xml_value(), xml_value(), xml_value(), any::<bool>()),
        |(a, b, c, decl)| {
            let head = if decl {
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            } else {
                ""
            };
            let (ea, eb, ec) = (xml_escape(&a), xml_escape(&b), xml_escape(&c));
            let init: xml::InitiateMultipartUploadResult = xml::parse(&format!(
                "{head}<InitiateMultipartUploadResult><Bucket>{eb}</Bucket><Key>{ec}</Key>\
                 <UploadId>{ea}</UploadId></InitiateMultipartUploadResult>"
            ))
            .map_err(TestCaseError::fail)?;
            prop_assert_eq!(&init.upload_id, &a);
            let done: xml::CompleteMultipartUploadResult = xml::parse(&format!(
                "{head}<CompleteMultipartUploadResult><Location>{eb}</Location><Bucket>b</Bucket>\
                 <Key>{ec}</Key><ETag>{ea}</ETag></CompleteMultipartUploadResult>"
            ))
            .map_err(TestCaseError::fail)?;
            prop_assert_eq!(&done.etag, &a);
            let err: xml::ErrorResponse = xml::parse(&format!(
                "{head}<Error><Code>{ea}</Code><Message>{eb}</Message><RequestId>{ec}</RequestId>\
                 <HostId>h</HostId><EC>0016-00000502</EC></Error>"
            ))
            .map_err(TestCaseError::fail)?;
            prop_assert_eq!((&err.code, &err.message, &err.request_id), (&a, &b, &c));
            Ok(())
        },
    );
}

#[test]
fn fuzz_xml_lists_read_back() {
    let part = (
        any::<u32>(),
        xml_value(),
        any::<u64>(),
        prop::option::of(any::<u64>()),
    );
    let upload = (xml_value(), xml_value(), xml_value());
    fuzz(
        "xml_lists_read_back",
        (
            (any::<bool>(), prop::option::of(any::<u32>())),
            prop::collection::vec(part, 0..6),
            (
                any::<bool>(),
                prop::option::of(xml_value()),
                prop::option::of(xml_value()),
            ),
            prop::collection::vec(upload, 0..6),
        ),
        |((truncated, marker), parts, (more, next_key, next_id), uploads)| {
            let mut doc = String::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"http://doc.oss-cn-hangzhou.aliyuncs.com\">\
                 <Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId><PartNumberMarker>0</PartNumberMarker>"
            );
            if let Some(m) = marker {
                doc += &format!("<NextPartNumberMarker>{m}</NextPartNumberMarker>");
            }
            doc += &format!("<MaxParts>1000</MaxParts><IsTruncated>{truncated}</IsTruncated>");
            for (n, etag, size, crc) in &parts {
                doc += &format!(
                    "<Part><PartNumber>{n}</PartNumber><LastModified>2012-02-23T07:01:34.000Z</LastModified>\
                     <ETag>{}</ETag>",
                    xml_escape(etag)
                );
                if let Some(c) = crc {
                    doc += &format!("<HashCrc64ecma>{c}</HashCrc64ecma>");
                }
                doc += &format!("<Size>{size}</Size></Part>");
            }
            doc += "</ListPartsResult>";
            let r: xml::ListPartsResult = xml::parse(&doc).map_err(TestCaseError::fail)?;
            prop_assert_eq!(r.is_truncated, truncated);
            prop_assert_eq!(r.next_part_number_marker, marker);
            let got: Vec<_> = r
                .parts
                .iter()
                .map(|p| {
                    (
                        p.part_number,
                        p.etag.clone(),
                        p.size,
                        p.hash_crc64ecma.clone(),
                    )
                })
                .collect();
            let want: Vec<_> = parts
                .iter()
                .map(|(n, e, s, c)| (*n, e.clone(), *s, c.map(|c| c.to_string())))
                .collect();
            prop_assert_eq!(got, want);

            let mut doc = String::from(
                "<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker></KeyMarker>\
                 <UploadIdMarker></UploadIdMarker>",
            );
            if let Some(k) = &next_key {
                doc += &format!("<NextKeyMarker>{}</NextKeyMarker>", xml_escape(k));
            }
            if let Some(u) = &next_id {
                doc += &format!("<NextUploadIdMarker>{}</NextUploadIdMarker>", xml_escape(u));
            }
            doc += &format!("<MaxUploads>1000</MaxUploads><IsTruncated>{more}</IsTruncated>");
            for (key, id, at) in &uploads {
                doc += &format!(
                    "<Upload><Key>{}</Key><UploadId>{}</UploadId><Initiated>{}</Initiated></Upload>",
                    xml_escape(key),
                    xml_escape(id),
                    xml_escape(at)
                );
            }
            doc += "</ListMultipartUploadsResult>";
            let r: xml::ListMultipartUploadsResult =
                xml::parse(&doc).map_err(TestCaseError::fail)?;
            prop_assert_eq!(r.is_truncated, more);
            prop_assert_eq!(&r.next_key_marker, &next_key);
            prop_assert_eq!(&r.next_upload_id_marker, &next_id);
            let got: Vec<_> = r
                .uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone(), u.initiated.clone()))
                .collect();
            prop_assert_eq!(got, uploads);
            Ok(())
        },
    );
}

/// The CompleteMultipartUpload body, read back as OSS would read it.
#[derive(Deserialize)]
struct CompleteBody {
    #[serde(rename = "Part", default)]
    parts: Vec<CompleteBodyPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompleteBodyPart {
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

#[test]
fn fuzz_complete_body_round_trip() {
    fuzz(
        "complete_body_round_trip",
        prop::collection::vec((any::<u32>(), xml_value()), 0..20),
        |parts| {
            let body = xml::complete_body(&parts);
            prop_assert!(body.starts_with("<CompleteMultipartUpload"));
            let back: CompleteBody = quick_xml::de::from_str(&body)
                .map_err(|e| TestCaseError::fail(format!("{e}: the body written was {body:?}")))?;
            let back: Vec<(u32, String)> = back
                .parts
                .into_iter()
                .map(|p| (p.part_number, p.etag))
                .collect();
            prop_assert_eq!(back, parts);
            Ok(())
        },
    );
}

/// Found by fuzzing: quick-xml 0.38.4 reached an `unreachable!()` on text, a
/// DOCTYPE, then more text inside one element (in the component, a trap).
/// Fixed by moving to quick-xml 0.42; kept as a regression test.
#[test]
fn quick_xml_doctype_between_text() {
    let body = "<InitiateMultipartUploadResult><UploadId>a<!DOCTYPE x>b</UploadId>\
                </InitiateMultipartUploadResult>";
    let _ = xml::parse::<xml::InitiateMultipartUploadResult>(body);
    let _ = xml::parse::<xml::CompleteMultipartUploadResult>("<R><ETag>a<!DOCTYPE x>b</ETag></R>");
    let _ = xml::parse::<xml::ErrorResponse>("<Error><Code>a<!DOCTYPE x>b</Code></Error>");
    let _ = xml::parse::<xml::ListPartsResult>(
        "<ListPartsResult><Part><ETag>a<!DOCTYPE x>b</ETag></Part></ListPartsResult>",
    );
}

#[test]
fn xml_nasty_cases() {
    // Deep nesting as large as the bodies ferry reads (4 MiB): no stack overflow.
    let depth = (4 << 20) / 7;
    let deep = format!(
        "<InitiateMultipartUploadResult>{}{}<UploadId>u</UploadId></InitiateMultipartUploadResult>",
        "<x>".repeat(depth),
        "</x>".repeat(depth)
    );
    let _ = xml::parse::<xml::InitiateMultipartUploadResult>(&deep);
    let _ = xml::parse::<xml::ErrorResponse>(&"<Error>".repeat(depth));
    // Entity definitions are not expanded (no billion laughs).
    let lol = XML_SEEDS
        .iter()
        .find(|s| s.contains("lolz"))
        .expect("seed present");
    if let Ok(e) = xml::parse::<xml::ErrorResponse>(lol) {
        assert!(e.code.len() < 100, "entities expanded: {}", e.code.len());
    }
    // The documented samples parse.
    let init: xml::InitiateMultipartUploadResult = xml::parse(XML_SEEDS[0]).unwrap();
    assert_eq!(init.upload_id, "0004B9894A22E5B1888A1E29F823****");
    let done: xml::CompleteMultipartUploadResult = xml::parse(XML_SEEDS[2]).unwrap();
    assert_eq!(done.etag, "\"B864DB6A936D376F9F8D3ED3BBE540****\"");
    let done: xml::CompleteMultipartUploadResult = xml::parse(XML_SEEDS[3]).unwrap();
    assert_eq!(done.etag, "\"3C2A8E5F0F1D4B7E9A6C5D4E3F2A1B0C-3\"");
    let parts: xml::ListPartsResult = xml::parse(XML_SEEDS[8]).unwrap();
    assert_eq!(parts.next_part_number_marker, Some(5));
    assert_eq!(parts.parts.len(), 2);
    assert_eq!(
        parts.parts[0].hash_crc64ecma.as_deref(),
        Some("11051210869376104954")
    );
    let uploads: xml::ListMultipartUploadsResult = xml::parse(XML_SEEDS[9]).unwrap();
    assert_eq!(uploads.uploads.len(), 2);
    assert_eq!(uploads.uploads[1].key, "oss.avi");
    let err: xml::ErrorResponse = xml::parse(XML_SEEDS[4]).unwrap();
    assert_eq!(
        (err.code.as_str(), err.request_id.as_str()),
        ("MissingArgument", "57ABD896CCB80C366955****")
    );
}

// --------------------------------------------------------------- JSON

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

/// A JSON object with the given fields; `None` leaves a field out.
fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect(),
    )
}

/// Jobs as JSON: every field of the record (built as JSON, so fields added
/// to the record later, all optional, do not break this file).
fn job() -> impl Strategy<Value = Value> {
    (
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            any::<String>(),
        ),
        (opt(any::<String>()), opt(any::<u64>()), opt(any::<u32>())),
        (
            opt(prop_oneof![Just("v1"), Just("v4")]),
            opt(any::<String>()),
        ),
        (
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(any::<bool>()),
            opt(any::<String>()),
        ),
    )
        .prop_map(
            |(
                (src, bucket, object_name, region),
                (endpoint, part_size, parallel),
                (sig, fanout),
                (retries, timeout, keep, resume),
            )| {
                object(vec![
                    ("source_url", Some(json!(src))),
                    ("target_bucket_name", Some(json!(bucket))),
                    ("target_object_name", Some(json!(object_name))),
                    ("target_region", Some(json!(region))),
                    ("endpoint", endpoint.map(Value::from)),
                    ("part_size", part_size.map(Value::from)),
                    ("parallel", parallel.map(Value::from)),
                    ("signature_version", sig.map(Value::from)),
                    ("fanout_url", fanout.map(Value::from)),
                    // Fields newer than the first record: kept when the record has them.
                    ("retries", retries.map(Value::from)),
                    ("part_timeout", timeout.map(Value::from)),
                    ("keep_partial", keep.map(Value::from)),
                    ("resume", resume.map(Value::from)),
                ])
            },
        )
}

fn part_task() -> impl Strategy<Value = Value> {
    (
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<String>()),
        (opt(any::<String>()), opt(any::<String>()), any::<String>()),
    )
        .prop_map(|((n, offset, length, src), (if_match, since, upload))| {
            object(vec![
                ("part_number", Some(json!(n))),
                ("offset", Some(json!(offset))),
                ("length", Some(json!(length))),
                ("source_url", Some(json!(src))),
                ("if_match", Some(json!(if_match))),
                ("if_unmodified_since", Some(json!(since))),
                ("upload_url", Some(json!(upload))),
            ])
        })
}

fn part_result() -> impl Strategy<Value = Value> {
    (any::<u32>(), any::<u64>(), any::<String>(), any::<u64>()).prop_map(|(n, length, etag, crc)| {
        json!({"part_number": n, "length": length, "etag": etag, "crc64": crc})
    })
}

fn failure() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(
        &[
            "invalid-input",
            "source",
            "store",
            "integrity",
            "exhausted",
            "internal",
        ][..],
    );
    (
        kind,
        any::<String>(),
        opt(any::<u32>()),
        opt(any::<String>()),
    )
        .prop_map(|(kind, message, part, upload)| {
            object(vec![
                ("kind", Some(json!(kind))),
                ("message", Some(json!(message))),
                ("part_number", Some(json!(part))),
                ("upload_id", upload.map(Value::from)),
            ])
        })
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![Just(Scheme::OssV1), Just(Scheme::OssV4), Just(Scheme::S3V4)]
}

/// Fields that every version of the records has: these must survive.
const CORE_FIELDS: &[&str] = &[
    "source_url",
    "target_bucket_name",
    "target_object_name",
    "target_region",
    "endpoint",
    "part_size",
    "parallel",
    "signature_version",
    "fanout_url",
    "part_number",
    "offset",
    "length",
    "if_match",
    "if_unmodified_since",
    "upload_url",
    "etag",
    "crc64",
    "kind",
    "message",
];

/// Reads `doc` as a `T`, writes it, reads that back: what was read is what
/// was given (for the fields `T` has) and the written form reads back as the
/// same value.
fn round_trip<T>(doc: &Value) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_vec(doc).unwrap();
    let first: T =
        serde_json::from_slice(&text).map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;
    let written = serde_json::to_vec(&first).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let second: T = serde_json::from_slice(&written)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&written))))?;
    let (v1, v2) = (
        serde_json::to_value(&first).unwrap(),
        serde_json::to_value(&second).unwrap(),
    );
    prop_assert_eq!(&v1, &v2);
    for (k, given) in doc.as_object().unwrap() {
        let kept = v1.get(k).unwrap_or(&Value::Null);
        if CORE_FIELDS.contains(&k.as_str()) || !kept.is_null() {
            prop_assert_eq!(kept, given, "field {}", k);
        }
    }
    Ok(())
}

#[test]
fn fuzz_json_round_trip() {
    fuzz(
        "json_round_trip",
        (job(), part_task(), part_result(), failure()),
        |(job, task, result, failure)| {
            round_trip::<Job>(&job)?;
            round_trip::<PartTask>(&task)?;
            round_trip::<PartResult>(&result)?;
            round_trip::<Failure>(&failure)?;
            Ok(())
        },
    );
}

#[test]
fn fuzz_json_documents() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        mutated(JSON_SEEDS),
    ];
    fuzz("json_documents", bytes, |bytes| {
        // As service.rs reads a job or a task and schedule.rs a result or a failure.
        let _ = serde_json::from_slice::<Job>(&bytes);
        let _ = serde_json::from_slice::<PartTask>(&bytes);
        let _ = serde_json::from_slice::<PartResult>(&bytes);
        if let Ok(f) = serde_json::from_slice::<Failure>(&bytes) {
            // What was read is written back and reads back the same.
            round_trip::<Failure>(&serde_json::to_value(&f).unwrap())?;
        }
        Ok(())
    });
}

#[test]
fn json_seeds_read() {
    let job: Job = serde_json::from_str(JSON_SEEDS[1]).unwrap();
    assert_eq!(job.part_size, Some(6 << 20));
    assert!(matches!(job.signature_version, Some(SignatureVersion::V4)));
    let task: PartTask = serde_json::from_str(JSON_SEEDS[3]).unwrap();
    assert_eq!((task.part_number, task.offset), (3, 12582912));
    let result: PartResult = serde_json::from_str(JSON_SEEDS[4]).unwrap();
    assert_eq!(result.crc64, 11051210869376104954);
    let failure: Failure = serde_json::from_str(JSON_SEEDS[6]).unwrap();
    assert!(matches!(failure.kind, FailureKind::Exhausted));
    // Out-of-range numbers and wrong-case kinds are refused, not wrapped.
    assert!(serde_json::from_str::<PartResult>(JSON_SEEDS[10]).is_err());
    assert!(serde_json::from_str::<Failure>(JSON_SEEDS[12]).is_err());
    // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
    let deep = "[".repeat(1 << 20);
    assert!(serde_json::from_str::<Job>(&deep).is_err());
}

// ------------------------------------------------- URLs and oss:// targets

const URL_SEEDS: &[&str] = &[
    "oss://my-bucket/images/big.iso",
    "oss://bkt/dir/a b.bin",
    "oss://bkt//k",
    "oss://Bkt/k",
    "oss://-bk/k",
    "oss://bkt",
    "oss://bkt/\\k",
    "oss:///k",
    "https://oss-cn-hangzhou.aliyuncs.com",
    "http://oss-cn-beijing-internal.aliyuncs.com/",
    "https://bkt.oss-cn-hangzhou.aliyuncs.com/k?x=1",
    "https://oss-accelerate.aliyuncs.com",
    "https://aliyuncs.com",
    "https://.aliyuncs.com",
    "https://oss-.aliyuncs.com",
    "https://u:p@h.example:8443/x/y?Signature=abc&x-oss-security-token=T#frag",
    "http://[::1]:9000/b/k",
    "http://127.0.0.1:8080/f?sig=1",
    "http://\u{212a}.example/",
    "file:///etc/passwd",
    "data:text/plain,hi",
    "javascript:alert(1)",
    "http:///x",
    "https://xn--n3h.example/",
    "HTTP://EXAMPLE.COM:80/%2e%2e/",
];

fn bucket() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"
}

fn key() -> impl Strategy<Value = String> {
    "[^/\\\\]\\PC{0,80}".prop_filter("at most 1023 bytes", |k| k.len() <= 1023)
}

#[test]
fn fuzz_target_parse() {
    fuzz("target_parse", text(URL_SEEDS), |s| {
        if let Ok(t) = target::parse(&s) {
            // Only what it was given, split at the first '/'.
            prop_assert_eq!(format!("oss://{}/{}", t.bucket, t.key), s.clone());
            prop_assert!((3..=63).contains(&t.bucket.len()));
            prop_assert!(t
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            prop_assert!(!t.bucket.starts_with('-') && !t.bucket.ends_with('-'));
            prop_assert!((1..=1023).contains(&t.key.len()));
            prop_assert!(!t.key.starts_with('/') && !t.key.starts_with('\\'));
        }
        Ok(())
    });
}

#[test]
fn fuzz_target_accepts_valid() {
    fuzz("target_accepts_valid", (bucket(), key()), |(b, k)| {
        let t =
            target::parse(&format!("oss://{b}/{k}")).map_err(|e| TestCaseError::fail(e.message))?;
        prop_assert_eq!((t.bucket, t.key), (b, k));
        Ok(())
    });
}

fn url_text() -> impl Strategy<Value = String> {
    prop_oneof![
        text(URL_SEEDS),
        (
            "(https?|oss|ftp|HTTP)",
            "([a-zA-Z0-9_.~%!$&'()*+,;=:-]{0,12}@)?",
            "[a-zA-Z0-9.-]{0,30}|\\[[0-9a-f:]{2,20}\\]|\\PC{1,8}",
            "(:[0-9]{0,6})?",
            "(/[\\PC]{0,16}){0,3}",
            "(\\?\\PC{0,20})?",
            "(#\\PC{0,10})?",
        )
            .prop_map(|(s, u, h, p, path, q, f)| format!("{s}://{u}{h}{p}{path}{q}{f}")),
    ]
}

#[test]
fn fuzz_urls() {
    fuzz("urls", url_text(), |s| {
        // The source URL: only http(s) with a host.
        // What is sent: an http(s) URL with a host and no credentials,
        // which the request layer can take as it is.
        if let Ok(u) = source::parse_source_url(&s) {
            let sent: http::Uri = u.url.parse().expect("a source URL is sent as parsed");
            prop_assert!(matches!(sent.scheme_str(), Some("http" | "https")));
            let authority = sent.authority().map(|a| a.as_str()).unwrap_or_default();
            prop_assert!(
                !authority.is_empty() && !authority.contains('@'),
                "{}",
                u.url
            );
        }
        // Redaction: no user, password or query in what is shown.
        let shown = target::redact(&s);
        if let Ok(u) = url::Url::parse(&s) {
            if let Ok(r) = url::Url::parse(&shown) {
                prop_assert_eq!(r.username(), "", "user shown: {:?}", shown);
                prop_assert!(r.password().is_none(), "password shown: {:?}", shown);
                let q = r.query().unwrap_or("%E2%80%A6");
                prop_assert_eq!(q, "%E2%80%A6", "query shown: {:?}", shown);
            }
            // The region of any endpoint: a label of its host, or none.
            if let Some(region) = target::region_of_endpoint(&u) {
                let host = u.host_str().unwrap_or_default();
                let (suffix, label) = if host.ends_with(".aliyuncs.com") {
                    (".aliyuncs.com", format!("oss-{region}"))
                } else {
                    (".amazonaws.com", region.clone())
                };
                prop_assert!(host.ends_with(suffix), "{} from {}", region, host);
                prop_assert!(host.contains(&label), "{} from {}", region, host);
                prop_assert!(!region.contains('.'));
            }
            let _ = target::addressing(&u, None);
        }
        Ok(())
    });
}

#[test]
fn fuzz_region_round_trip() {
    let region = "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}"
        .prop_filter("not -internal", |r| !r.ends_with("-internal"));
    fuzz(
        "region_round_trip",
        (region, any::<bool>(), prop::option::of("[a-z0-9]{3,20}")),
        |(region, internal, bucket)| {
            let mut host = format!("oss-{region}");
            if internal {
                host.push_str("-internal");
            }
            let url = match &bucket {
                Some(b) => format!("https://{b}.{host}.aliyuncs.com/k?x=1"),
                None => format!("https://{host}.aliyuncs.com"),
            };
            let parsed = url::Url::parse(&url).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(target::region_of_endpoint(&parsed), Some(region.clone()));
            if bucket.is_none() {
                let kind = if internal {
                    EndpointKind::Internal
                } else {
                    EndpointKind::Public
                };
                let endpoint = target::default_endpoint(StoreKind::Oss, &region, kind)
                    .map_err(|e| TestCaseError::fail(e.message))?;
                prop_assert_eq!(endpoint, url);
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_redact_hides_secrets() {
    // A secret is hex behind a marker that the rest of the URL cannot contain.
    let secret = "[0-9a-f]{8}".prop_map(|h| format!("ZQ{h}"));
    fuzz(
        "redact_hides_secrets",
        (
            "https?",
            "[a-y0-9.-]{1,20}",
            "(/[a-y0-9._~-]{0,10}){0,3}",
            secret.clone(),
            secret,
            0u8..4,
        ),
        |(scheme, host, path, s1, s2, shape)| {
            let url = match shape {
                0 => format!("{scheme}://user:{s1}@{host}{path}?token={s2}"),
                1 => format!("{scheme}://{s1}@{host}{path}"),
                2 => format!("{scheme}://{host}{path}?{s1}&{s2}"),
                _ => format!("{scheme}://{host}{path}?Signature={s1}#{s2}"),
            };
            let shown = target::redact(&url);
            prop_assert!(!shown.contains(&s1), "{} shown as {}", url, shown);
            if shape != 3 {
                prop_assert!(!shown.contains(&s2), "{} shown as {}", url, shown);
            }
            // Nor in the error for a source URL that is refused.
            let refused = url.replacen(&scheme, "ftp", 1);
            match source::parse_source_url(&refused) {
                Err(e) => prop_assert!(!e.message.contains(&s1), "{}", e.message),
                Ok(u) => prop_assert!(false, "{} accepted as a source", u.url),
            }
            Ok(())
        },
    );
}

// ------------------------------------------------- Range and Content-Range

/// The reference: `bytes FIRST-LAST/TOTAL`, decimal digits only, first <=
/// last < total, with whitespace allowed around it.
fn content_range_oracle(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (first, rest) = rest.split_once('-')?;
    let (last, total) = rest.split_once('/')?;
    let num = |s: &str| -> Option<u64> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (a, b, n) = (num(first)?, num(last)?, num(total)?);
    (a <= b && b < n).then_some((a, b, n))
}

#[test]
fn fuzz_content_range() {
    let well_formed = (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        "[ \t]{0,2}",
        "[ \t]{0,2}",
    )
        .prop_map(|(a, b, n, pre, post)| format!("{pre}bytes {a}-{b}/{n}{post}"));
    let small = (0u64..20, 0u64..20, 0u64..20, "0{0,2}", "[+-]?")
        .prop_map(|(a, b, n, zeros, sign)| format!("bytes {sign}{zeros}{a}-{b}/{sign}{n}"));
    let input = prop_oneof![
        well_formed,
        small,
        text(&[
            "bytes 0-0/100",
            "bytes 5-9/10",
            "bytes */10",
            "bytes 0-18446744073709551615/18446744073709551615",
            "bytes 1-0/2",
            "bytes=0-0/1",
            "bytes 0-0/*",
            "bytes -0-0/1",
        ]),
    ];
    fuzz("content_range", input, |v| {
        prop_assert_eq!(
            source::parse_content_range(&v),
            content_range_oracle(&v),
            "{:?}",
            v
        );
        Ok(())
    });
}

#[test]
fn fuzz_content_range_exact() {
    fuzz(
        "content_range_exact",
        (any::<u64>(), any::<u64>(), 1u64..),
        |(a, len, n)| {
            let b = a.saturating_add(len % (1 << 40));
            let got = source::parse_content_range(&format!("bytes {a}-{b}/{n}"));
            if b < n {
                prop_assert_eq!(got, Some((a, b, n)));
            } else {
                prop_assert_eq!(got, None);
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------- sizes and CRCs

#[test]
fn fuzz_size_parse() {
    const UNITS: &[(&str, u32)] = &[
        ("", 0),
        ("B", 0),
        ("K", 10),
        ("KB", 10),
        ("KiB", 10),
        ("k", 10),
        ("M", 20),
        ("MB", 20),
        ("MiB", 20),
        ("G", 30),
        ("GB", 30),
        ("GiB", 30),
        ("T", 40),
        ("TiB", 40),
    ];
    let input = (
        any::<u64>().prop_map(|n| n >> (n % 64)),
        prop::sample::select(UNITS),
        "[ ]{0,1}",
        "[ \t]{0,2}",
    );
    fuzz("size_parse", input, |(n, (unit, shift), gap, pad)| {
        let s = format!("{pad}{n}{gap}{unit}{pad}");
        match n.checked_mul(1u64 << shift) {
            Some(v) => prop_assert_eq!(size::parse(&s), Ok(v), "{:?}", s),
            None => prop_assert!(size::parse(&s).is_err(), "{:?} wrapped", s),
        }
        Ok(())
    });
    fuzz(
        "size_parse_text",
        text(&[
            "6MiB",
            "64M",
            "1048576",
            "1.5GiB",
            "-1",
            "1e3",
            "5 GiB",
            "18446744073709551616",
            "16EiB",
            "0x10",
        ]),
        |s| {
            let _ = size::parse(&s);
            Ok(())
        },
    );
}

#[test]
fn fuzz_crc_header() {
    let input = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (any::<u64>(), "[ \t]{0,2}").prop_map(|(n, p)| format!("{p}{n}{p}")),
        text(&[
            "11051210869376104954",
            "18446744073709551616",
            "-1",
            "+1",
            "0x1",
            " 1 ",
            "1 2",
            ""
        ]),
    ];
    fuzz("crc_header", input, |v| {
        let got = crc::parse_header(&v);
        let t = v.trim();
        let oracle = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse::<u64>().ok()
        } else {
            None
        };
        // Leniency noted in the report: a leading '+' is accepted too.
        if t.starts_with('+') && got.is_some() {
            prop_assert_eq!(got, t[1..].parse::<u64>().ok());
        } else {
            prop_assert_eq!(got, oracle, "{:?}", v);
        }
        Ok(())
    });
}

// ------------------------------------------------------- the part size

#[test]
fn fuzz_choose_part_size() {
    use plan::{choose_part_size, DEFAULT_PART_SIZE, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
    let size = prop_oneof![
        any::<u64>(),
        0u64..(1 << 40),
        (0u64..=MAX_PARTS * MAX_PART_SIZE + (1 << 20)),
        (MAX_PARTS * MAX_PART_SIZE - 2..MAX_PARTS * MAX_PART_SIZE + 2),
    ];
    let requested = prop::option::of(prop_oneof![
        any::<u64>(),
        MIN_PART_SIZE - 2..MIN_PART_SIZE + 2,
        MAX_PART_SIZE - 2..MAX_PART_SIZE + 2,
        MIN_PART_SIZE..=MAX_PART_SIZE,
    ]);
    fuzz(
        "choose_part_size",
        (size, requested),
        |(size, requested)| {
            const MIB: u64 = 1 << 20;
            match choose_part_size(MIN_PART_SIZE, size, requested) {
                Ok(p) => {
                    prop_assert!((MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p));
                    prop_assert!(size.div_ceil(p) <= MAX_PARTS);
                    match requested {
                        Some(r) => prop_assert_eq!(p, r),
                        None => {
                            // Whole MiB, at least 6 MiB, and the smallest that fits.
                            prop_assert_eq!(p % MIB, 0);
                            prop_assert!(p >= DEFAULT_PART_SIZE);
                            prop_assert!(
                                p == DEFAULT_PART_SIZE || size.div_ceil(p - MIB) > MAX_PARTS
                            );
                        }
                    }
                }
                Err(e) => {
                    prop_assert!(matches!(e.kind, FailureKind::InvalidInput));
                    // An error only when no allowed size would do.
                    match requested {
                        Some(r) => prop_assert!(
                            !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&r)
                                || size.div_ceil(r) > MAX_PARTS
                        ),
                        None => prop_assert!(size.div_ceil(MAX_PART_SIZE) > MAX_PARTS),
                    }
                }
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------- signing

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Checks `s` is only unreserved characters and `%XX` (uppercase hex).
fn check_encoded(s: &str) -> Result<(), TestCaseError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
            prop_assert!(
                i + 2 < b.len() && hex(b[i + 1]) && hex(b[i + 2]),
                "bad escape in {:?}",
                s
            );
            i += 3;
        } else {
            prop_assert!(
                is_unreserved(b[i]),
                "{:?} left unencoded in {:?}",
                b[i] as char,
                s
            );
            i += 1;
        }
    }
    Ok(())
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .expect("decodes to UTF-8")
        .into_owned()
}

#[test]
fn fuzz_sign_encode() {
    fuzz(
        "sign_encode",
        text(&["a b", "/k?x=1&y", "~-._", "é🦀", "%41", "+"]),
        |s| {
            let e = sign::encode(&s);
            check_encoded(&e)?;
            prop_assert_eq!(decode(&e), s);
            Ok(())
        },
    );
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof!["[a-zA-Z-]{1,12}", any::<String>()],
            prop_oneof![Just(String::new()), "[ -~]{0,16}", any::<String>()],
        ),
        0..6,
    )
}

#[test]
fn fuzz_encoded_query() {
    fuzz("encoded_query", query(), |q| {
        let mut req = RequestParts::new("PUT", "bkt", "k");
        req.query = q.clone();
        let s = req.encoded_query();
        // Parse it back: '&' between pairs, '=' before a non-empty value.
        let mut back = Vec::new();
        if !s.is_empty() {
            for pair in s.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                check_encoded(k)?;
                check_encoded(v)?;
                back.push((decode(k), decode(v)));
            }
        }
        // An empty name with an empty value leaves nothing to read back.
        let expected: Vec<_> = q
            .iter()
            .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
            .cloned()
            .collect();
        let back: Vec<_> = back
            .into_iter()
            .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
            .collect();
        prop_assert_eq!(back, expected);
        Ok(())
    });
}

#[test]
fn fuzz_signers() {
    let credentials = (
        "[!-~]{1,30}",
        // A marker no other input holds and no signature encoding writes
        // ('!' is neither base64 nor hex nor left bare in a query).
        (any::<String>(), "[a-z]{8}"),
        prop::option::of(any::<String>()),
    )
        .prop_map(|(id, (any, mark), token)| Credentials {
            access_key_id: id,
            access_key_secret: format!("{any}~!~{mark}"),
            security_token: token,
        });
    let request = (
        prop_oneof!["GET|PUT|POST|DELETE|HEAD", any::<String>()],
        prop_oneof![bucket(), any::<String>()],
        any::<String>(),
        query(),
        prop::collection::vec(
            (
                prop_oneof!["x-oss-[a-z-]{1,10}", "content-[a-z]{1,8}", any::<String>()],
                any::<String>(),
            ),
            0..5,
        ),
    );
    fuzz(
        "signers",
        (
            credentials,
            scheme(),
            prop_oneof!["[a-z]{2}-[a-z]{2,10}", any::<String>()],
            request,
            0u64..253_402_300_799, // up to 9999-12-31
            0u64..=7 * 24 * 3600,
        ),
        |(credentials, scheme, region, (method, bucket, key, query, headers), secs, expires)| {
            let signer = Signer {
                scheme,
                credentials,
                region,
            };
            let now = UNIX_EPOCH + Duration::from_secs(secs);
            let mut req = RequestParts::new(&method, &bucket, &key);
            req.query = query.clone();
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            let mut signed = req.clone();
            signer.sign(&mut signed, now, Some(key.as_bytes()));
            prop_assert!(signed.headers.iter().any(|(k, _)| k == "authorization"));
            let mut presigned = req.clone();
            signer.presign(&mut presigned, now, expires);
            check_query_encodes(&presigned)?;
            // The secret never shows in what is sent.
            let secret = &signer.credentials.access_key_secret;
            let mark = &secret[secret.rfind("~!~").unwrap()..];
            let given = format!(
                "{method}{bucket}{key}{query:?}{headers:?}{:?}",
                signer.region
            );
            if !given.contains(mark) {
                let sent = format!("{:?}{:?}", signed.headers, presigned.query);
                prop_assert!(!sent.contains(mark), "the secret was sent");
            }
            Ok(())
        },
    );
}

fn check_query_encodes(req: &RequestParts) -> Result<(), TestCaseError> {
    for part in req.encoded_query().split('&') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        check_encoded(k)?;
        check_encoded(v)?;
    }
    Ok(())
}
