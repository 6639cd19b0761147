//! CRC-64s of the part bodies this host writes to the store, computed
//! natively (carry-less multiply: crc-fast, about 12 GB/s a core on the
//! bench machine, `make bench-hashes`) as the bytes pass.
//!
//! A component that splices a part from the source's body into the store's
//! never sees the bytes, so it cannot hash them; and hashing them inside
//! WebAssembly, which has no carry-less multiply, costs far more than
//! moving them. So it asks this host instead: an UploadPart carrying
//! [`ASK`] (`crc64`, `crc64nvme` or both, comma-separated) is sent without
//! that header, and its response gains the CRC of every byte the host
//! wrote as the body: [`XZ`] (CRC-64/XZ, OSS's) and [`NVME`] (CRC-64/NVME,
//! S3's), decimal, with [`BYTES`], the bytes hashed. The component checks
//! them against the store's answer exactly as it checks its own hashes.
//! Only ferry's host offers this (it says so to the component with
//! `FERRY_HOST_CRC=1`, [`ferry_rules::host`]); under any other runtime the
//! component hashes the bytes itself.

use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use wasmtime_wasi_http::WasiBody;

pub use ferry_rules::host::{ASK, BYTES, NVME, XZ};

#[derive(Default)]
struct State {
    xz: Option<crc_fast::Digest>,
    nvme: Option<crc_fast::Digest>,
    bytes: u64,
}

/// The CRCs of one request's body, as far as it has been written.
pub struct BodyCrc {
    state: Arc<Mutex<State>>,
}

impl BodyCrc {
    /// Takes [`ASK`] off `request`; when it was there, the body is hashed
    /// as it is written and the returned handle reads the CRCs.
    pub fn take(
        mut request: http::Request<WasiBody>,
    ) -> (http::Request<WasiBody>, Option<BodyCrc>) {
        let Some(asked) = request.headers_mut().remove(ASK) else {
            return (request, None);
        };
        let asked = asked.to_str().unwrap_or_default().to_ascii_lowercase();
        let wants = |name: &str| asked.split(',').any(|a| a.trim() == name);
        let state = Arc::new(Mutex::new(State {
            xz: wants("crc64").then(|| crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz)),
            nvme: wants("crc64nvme")
                .then(|| crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)),
            bytes: 0,
        }));
        let hashing = state.clone();
        let request = request.map(move |body| {
            body.map_frame(move |frame| {
                if let Some(data) = frame.data_ref() {
                    let mut s = hashing.lock().unwrap();
                    if let Some(d) = &mut s.xz {
                        d.update(data);
                    }
                    if let Some(d) = &mut s.nvme {
                        d.update(data);
                    }
                    s.bytes += data.len() as u64;
                }
                frame
            })
            .boxed_unsync()
        });
        (request, Some(BodyCrc { state }))
    }

    /// Adds the CRCs of the bytes written so far to `response` (the store
    /// answers once it has read the whole body, so that is all of it).
    pub fn annotate(&self, response: &mut http::Response<WasiBody>) {
        let s = self.state.lock().unwrap();
        let headers = response.headers_mut();
        let mut put = |name: &'static str, value: u64| {
            headers.insert(name, http::HeaderValue::from(value));
        };
        if let Some(d) = &s.xz {
            put(XZ, d.finalize());
        }
        if let Some(d) = &s.nvme {
            put(NVME, d.finalize());
        }
        put(BYTES, s.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn hashes_what_is_written_and_strips_the_ask() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let body: WasiBody = Full::new(bytes::Bytes::from(data.clone()))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::builder()
            .method("PUT")
            .header(ASK, "crc64, crc64nvme")
            .body(body)
            .unwrap();
        let (request, crc) = BodyCrc::take(request);
        assert!(request.headers().get(ASK).is_none(), "the ask is sent on");
        let crc = crc.expect("asked");
        let mut body = request.into_body();
        while body.frame().await.is_some() {}
        let mut response = http::Response::new(
            Full::new(bytes::Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        crc.annotate(&mut response);
        let h = |name: &str| response.headers()[name].to_str().unwrap().to_string();
        assert_eq!(
            h(XZ),
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, &data).to_string()
        );
        assert_eq!(
            h(NVME),
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &data).to_string()
        );
        assert_eq!(h(BYTES), "100000");
    }
}
