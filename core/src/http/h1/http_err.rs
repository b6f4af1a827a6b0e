//! Error responses as HAProxy sends them (`http_err_msgs[]` in `http.c`,
//! sent by `http_reply_and_close` / `http_server_error`): a status line with
//! HAProxy's status texts, `content-length`, `cache-control: no-cache`,
//! `connection: close`, `content-type: text/html`, and a short HTML body
//! titled like HAProxy's (`<html><body><h1>503 Service Unavailable</h1>`).
//! The sentences are Sluice's own. Each response is one static byte string:
//! answering an error allocates nothing.

/// Every status [`error_response`] knows, in increasing order.
pub const ERROR_STATUSES: [u16; 15] = [
    400, 403, 404, 405, 408, 410, 413, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// The complete response (head and body) for `status`, or `None` for a
/// status without a canned page.
pub fn error_response(status: u16) -> Option<&'static [u8]> {
    let r: &'static [u8] = match status {
        400 => b"HTTP/1.1 400 Bad request\r\ncontent-length: 97\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nThe proxy could not understand this request.\n</body></html>\n",
        403 => b"HTTP/1.1 403 Forbidden\r\ncontent-length: 106\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nAccess to this resource is denied by the proxy's rules.\n</body></html>\n",
        404 => b"HTTP/1.1 404 Not Found\r\ncontent-length: 90\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>404 Not Found</h1>\nNothing matches the requested location.\n</body></html>\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 106\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>405 Method Not Allowed</h1>\nThis resource does not accept the method used.\n</body></html>\n",
        408 => b"HTTP/1.1 408 Request Time-out\r\ncontent-length: 113\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nThe request did not arrive in full before the deadline.\n</body></html>\n",
        410 => b"HTTP/1.1 410 Gone\r\ncontent-length: 81\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>410 Gone</h1>\nThis resource was removed for good.\n</body></html>\n",
        413 => b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 99\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request body is larger than allowed.\n</body></html>\n",
        422 => b"HTTP/1.1 422 Unprocessable Content\r\ncontent-length: 125\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe request uses a transfer coding the proxy does not process.\n</body></html>\n",
        425 => b"HTTP/1.1 425 Too Early\r\ncontent-length: 113\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>425 Too Early</h1>\nThis request came in early data and cannot be replayed safely.\n</body></html>\n",
        429 => b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 107\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>429 Too Many Requests</h1>\nToo many requests were sent in too short a time.\n</body></html>\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 95\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nThe proxy hit an internal error.\n</body></html>\n",
        501 => b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 111\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>501 Not Implemented</h1>\nThe proxy does not support what this request asks for.\n</body></html>\n",
        502 => b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 100\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe upstream answer was malformed or cut short.\n</body></html>\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 110\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nEvery server is down or busy; please retry later.\n</body></html>\n",
        504 => b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 102\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe upstream server took too long to answer.\n</body></html>\n",
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::super::{parse_response, response_body, BodyLen, Method, ParseOptions, Status};
    use super::*;

    #[test]
    fn every_page_parses_and_has_the_right_length() {
        for status in ERROR_STATUSES {
            let raw = error_response(status).unwrap();
            let Ok(Status::Complete((h, n))) = parse_response(raw, &ParseOptions::default()) else {
                panic!("{status} does not parse")
            };
            assert_eq!(h.status, status);
            assert!(!h.keep_alive());
            let names: Vec<_> = h.headers.iter().map(|(n, _)| n).collect();
            assert_eq!(
                names,
                [
                    &b"content-length"[..],
                    b"cache-control",
                    b"connection",
                    b"content-type"
                ]
            );
            assert_eq!(h.headers.get("cache-control"), Some(&b"no-cache"[..]));
            assert_eq!(h.headers.get("content-type"), Some(&b"text/html"[..]));
            let body = &raw[n..];
            assert_eq!(
                response_body(&h, &Method::GET, false),
                BodyLen::Length(body.len() as u64)
            );
            let title = format!("<html><body><h1>{status} {}</h1>\n", h.reason);
            assert!(body.starts_with(title.as_bytes()), "{status}");
            assert!(body.ends_with(b"\n</body></html>\n"));
        }
    }

    #[test]
    fn haproxy_status_texts() {
        let text = |s| {
            let raw = error_response(s).unwrap();
            let line = raw.split(|&b| b == b'\r').next().unwrap();
            String::from_utf8(line.to_vec()).unwrap()
        };
        assert_eq!(text(400), "HTTP/1.1 400 Bad request");
        assert_eq!(text(408), "HTTP/1.1 408 Request Time-out");
        assert_eq!(text(503), "HTTP/1.1 503 Service Unavailable");
        assert_eq!(text(504), "HTTP/1.1 504 Gateway Time-out");
        assert_eq!(error_response(200), None);
        assert_eq!(error_response(599), None);
    }
}
