"""A stand-in for Function Compute 3.0's InvokeFunction, on loopback.

It accepts `POST /2023-03-30/functions/{name}/invocations` only when the
request's ACS3-HMAC-SHA256 signature equals what Alibaba's own signer
computes for the key it was given (`alibabacloud_openapi_util`'s
`get_authorization`, the signer the `alibabacloud-fc20230330` SDK calls), the
STS token is that key's, the payload hash is the body's, and the date and
nonce are fresh. It then delivers the body as FC delivers an event to a
custom container: `POST /invoke` to the function's HTTP server, with FC's
common request headers, and answers with FC's response shape (x-fc-request-id
and friends; a function error, x-fc-status 404 or a non-2xx, as
`x-fc-error-type: UnhandledInvocationError` with the function's body). A
refused call is answered as FC answers it: 403 (or 400, 404) with a
`{"Code", "Message", "RequestId"}` body.

Usage (the key comes from the environment, never the command line):

    FC_STANDIN_KEY_ID=... FC_STANDIN_KEY_SECRET=... FC_STANDIN_SECURITY_TOKEN=... \\
      python3 fc_standin.py --function ferry --deliver http://127.0.0.1:PORT \\
      [--account-id 1234567890 --region cn-hangzhou]

The first line of stdout is `fc http://127.0.0.1:PORT`; closing stdin stops
it. `GET /_standin/stats` answers what it saw: invocations delivered, those
whose body was a part task, the most delivered at once, refusals by code, and
how many bodies carried the key's secret (there must be none). Nothing it
prints holds the secret, the token or a signature.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from Tea.request import TeaRequest

API_VERSION = "2023-03-30"
ALGORITHM = "ACS3-HMAC-SHA256"
PATH = re.compile(r"^/2023-03-30/functions/([^/?]+)/invocations$")
# What the V3 signature must cover (the SDK signs every header it sends,
# these included): a request that leaves one out is refused.
MUST_SIGN = ["host", "x-acs-action", "x-acs-version", "x-acs-date",
             "x-acs-signature-nonce", "x-acs-content-sha256"]
MAX_SKEW = 15 * 60


class Refused(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Stand:
    def __init__(self, args):
        self.function = args.function
        self.deliver = urllib.parse.urlsplit(args.deliver)
        self.account = args.account_id
        self.region = args.region
        self.key_id = os.environ["FC_STANDIN_KEY_ID"]
        self.secret = os.environ["FC_STANDIN_KEY_SECRET"]
        self.token = os.environ.get("FC_STANDIN_SECURITY_TOKEN") or None
        self.lock = threading.Lock()
        self.nonces = set()
        self.stats = {"invocations": 0, "part_tasks": 0, "in_flight": 0,
                      "max_in_flight": 0, "function_errors": 0, "refused": {},
                      "secret_in_body": 0}

    def count(self, name, by=1):
        with self.lock:
            self.stats[name] += by
            if name == "in_flight":
                self.stats["max_in_flight"] = max(self.stats["max_in_flight"],
                                                  self.stats["in_flight"])

    def refused(self, code):
        with self.lock:
            self.stats["refused"][code] = self.stats["refused"].get(code, 0) + 1

    def check(self, method, target, headers, body):
        """Raises Refused unless the call is a well-signed InvokeFunction."""
        url = urllib.parse.urlsplit(target)
        m = PATH.match(url.path)
        if method != "POST" or not m:
            raise Refused(400, "PathNotSupported",
                          f"'{method}' against '{url.path}' is not supported")
        auth = headers.get("authorization", "")
        parts = re.fullmatch(
            r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})",
            auth)
        if not parts:
            raise Refused(400, "MissingRequiredHeader",
                          "required HTTP header Authorization (ACS3-HMAC-SHA256) was not specified")
        key_id, signed, signature = parts.groups()
        signed = signed.split(";")
        if key_id != self.key_id:
            raise Refused(403, "InvalidAccessKeyID", "invalid access key ID")
        for name in MUST_SIGN + ["content-type", "x-acs-security-token"]:
            if name in headers and name not in signed:
                raise Refused(403, "SignatureNotMatch",
                              f"the signature must cover the {name} header")
            if name in MUST_SIGN and name not in headers:
                raise Refused(400, "MissingRequiredHeader",
                              f"required HTTP header {name} was not specified")
        if any(n.startswith("x-acs-") and n not in signed for n in headers):
            raise Refused(403, "SignatureNotMatch", "every x-acs-* header must be signed")
        if signed != sorted(signed) or any(n not in headers for n in signed):
            raise Refused(403, "SignatureNotMatch", "SignedHeaders names headers not sent, or unsorted")
        if self.token is not None and headers.get("x-acs-security-token") != self.token:
            raise Refused(403, "InvalidSecurityToken",
                          "the security token is missing or not the one issued with this key")
        if headers.get("x-acs-action") != "InvokeFunction" or headers.get("x-acs-version") != API_VERSION:
            raise Refused(400, "InvalidArgument", "x-acs-action must be InvokeFunction, x-acs-version 2023-03-30")
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            raise Refused(400, "InvalidArgument", "x-acs-content-sha256 is not the body's SHA-256")
        try:
            at = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
            skew = abs(time.time() - at.replace(tzinfo=timezone.utc).timestamp())
        except ValueError:
            skew = None
        if skew is None or skew > MAX_SKEW:
            raise Refused(403, "SignatureNotMatch", "x-acs-date is malformed or not within 15 minutes")
        # Alibaba's signer over exactly what was sent: the path as it
        # travelled (the SDK signs the encoded pathname), the decoded query,
        # the signed headers, the payload hash.
        request = TeaRequest()
        request.method = method
        request.pathname = url.path
        request.query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        request.headers = {n: headers[n] for n in signed}
        expected = OpenApiUtil.get_authorization(request, ALGORITHM, payload_hash,
                                                 self.key_id, self.secret)
        if not hmac.compare_digest(expected.encode(), auth.encode()):
            raise Refused(403, "SignatureNotMatch",
                          "The request signature we calculated does not match the signature "
                          "you provided. Check your access key and signing method")
        with self.lock:
            nonce = headers["x-acs-signature-nonce"]
            if nonce in self.nonces:
                raise Refused(403, "SignatureNonceUsed", "the signature nonce was used before")
            self.nonces.add(nonce)
        if m.group(1) != self.function:
            raise Refused(404, "FunctionNotFound", f"function '{m.group(1)}' does not exist")
        if headers.get("x-fc-invocation-type", "Sync") != "Sync":
            raise Refused(400, "InvalidArgument", "this stand-in serves synchronous invocations only")
        return request.query.get("qualifier") or "LATEST"

    def invoke(self, body, request_id, qualifier):
        """FC's delivery of an event to a custom container."""
        headers = {
            "content-type": "application/octet-stream",
            "x-fc-request-id": request_id,
            "x-fc-function-name": self.function,
            "x-fc-qualifier": qualifier,
            "x-fc-function-memory": "2048",
            "x-fc-function-timeout": "21600",
            "x-fc-region": self.region,
            "x-fc-account-id": self.account,
        }
        conn = http.client.HTTPConnection(self.deliver.hostname, self.deliver.port, timeout=600)
        try:
            conn.request("POST", "/invoke", body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheader("x-fc-status"), r.read()
        finally:
            conn.close()


def handler(stand):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass  # quiet: nothing of a request is printed

        def answer(self, status, body, headers):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/_standin/stats":
                with stand.lock:
                    body = json.dumps(stand.stats).encode()
                self.answer(200, body, {"content-type": "application/json"})
            else:
                self.answer(404, b"", {})

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            request_id = str(uuid.uuid4())
            headers = {k.lower(): v for k, v in self.headers.items()}
            fc = {"x-fc-request-id": request_id, "x-fc-invocation-service-version": "LATEST"}
            try:
                qualifier = stand.check("POST", self.path, headers, body)
            except Refused as r:
                stand.refused(r.code)
                err = {"Code": r.code, "Message": r.message, "RequestId": request_id}
                self.answer(r.status, json.dumps(err).encode(),
                            dict(fc, **{"content-type": "application/json"}))
                return
            stand.count("invocations")
            if stand.secret.encode() in body:
                stand.count("secret_in_body")
            try:
                task = json.loads(body)
                if isinstance(task, dict) and "part_number" in task:
                    stand.count("part_tasks")
            except ValueError:
                pass
            stand.count("in_flight")
            try:
                status, fc_status, out = stand.invoke(body, request_id, qualifier)
            except OSError as e:
                err = {"Code": "FunctionNotStarted",
                       "Message": f"the function's HTTP server did not answer: {e}",
                       "RequestId": request_id}
                self.answer(502, json.dumps(err).encode(),
                            dict(fc, **{"content-type": "application/json"}))
                return
            finally:
                stand.count("in_flight", -1)
            if status // 100 != 2 or fc_status == "404":
                # A function error: FC answers 200 and says so in a header.
                stand.count("function_errors")
                fc["x-fc-error-type"] = "UnhandledInvocationError"
            self.answer(200, out, dict(fc, **{"content-type": "application/octet-stream"}))

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--function", required=True)
    p.add_argument("--deliver", required=True, help="the function's HTTP server, http://HOST:PORT")
    p.add_argument("--account-id", default="1234567890")
    p.add_argument("--region", default="cn-hangzhou")
    args = p.parse_args()
    stand = Stand(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(stand))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"fc http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the test closes stdin (or goes away)
    server.shutdown()


if __name__ == "__main__":
    main()
