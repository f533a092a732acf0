//! Blocking outbound HTTP through the standard `wasi:http` outgoing handler.
//!
//! The host allows only the hosts on the binding's allowlist, refuses private and
//! loopback addresses unless explicitly allowed, caps the number of requests per call,
//! and adds credentials (e.g. `Authorization`) itself — so do not put tokens in
//! plugin configs; ask the operator to set a tenant secret.

use crate::classifier::wasi::http::outgoing_handler;
use crate::classifier::wasi::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::classifier::wasi::io::streams::StreamError;

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL could not be used.
    InvalidUrl(String),
    /// The host refused the request (not on the allowlist, a private address, too
    /// many requests) or the network failed; the `wasi:http` error code's name.
    Refused(String),
    /// The response could not be read.
    Body(String),
}

fn code_name(e: &ErrorCode) -> String {
    match e {
        ErrorCode::HttpRequestDenied => "http-request-denied".into(),
        ErrorCode::DestinationIpProhibited => "destination-ip-prohibited".into(),
        ErrorCode::DestinationNotFound => "destination-not-found".into(),
        ErrorCode::ConnectionRefused => "connection-refused".into(),
        other => format!("{other:?}"),
    }
}

/// Sends `method` `url` with `headers` and `body`, and reads the whole response.
///
/// # Errors
/// [`HttpError`] saying what failed.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    request_within(method, url, headers, body, None)
}

/// As [`request`], giving up when the answer has not started within `timeout`
/// (the host's own limit, 30 s, applies otherwise): `Refused("ConnectionReadTimeout")`.
///
/// # Errors
/// [`HttpError`] saying what failed.
pub fn request_within(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Option<std::time::Duration>,
) -> Result<Response, HttpError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| HttpError::InvalidUrl(format!("{url}: no scheme")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => return Err(HttpError::InvalidUrl(format!("unsupported scheme {other}"))),
    };
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let fields =
        Fields::from_list(&fields).map_err(|e| HttpError::InvalidUrl(format!("headers: {e:?}")))?;
    let req = OutgoingRequest::new(fields);
    let bad = |what: &str| HttpError::InvalidUrl(format!("{url}: invalid {what}"));
    req.set_method(&method).map_err(|()| bad("method"))?;
    req.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
    req.set_authority(Some(authority))
        .map_err(|()| bad("authority"))?;
    req.set_path_with_query(Some(path))
        .map_err(|()| bad("path"))?;
    let out = req.body().map_err(|()| bad("body"))?;
    if let Some(bytes) = body {
        let stream = out.write().map_err(|()| bad("body stream"))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Body(format!("{e:?}")))?;
        }
    }
    OutgoingBody::finish(out, None).map_err(|e| HttpError::Refused(code_name(&e)))?;
    let options = match timeout {
        Some(t) => {
            let options = RequestOptions::new();
            let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            options
                .set_first_byte_timeout(Some(ns))
                .map_err(|()| bad("timeout"))?;
            Some(options)
        }
        None => None,
    };
    let pending =
        outgoing_handler::handle(req, options).map_err(|e| HttpError::Refused(code_name(&e)))?;
    let response = loop {
        match pending.get() {
            Some(r) => break r,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| HttpError::Body("response already taken".into()))?
        .map_err(|e| HttpError::Refused(code_name(&e)))?;
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response
        .consume()
        .map_err(|()| HttpError::Body("no body".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Body("no body stream".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(HttpError::Body(format!("{e:?}"))),
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `GET url`.
///
/// # Errors
/// As [`request`].
pub fn get(url: &str) -> Result<Response, HttpError> {
    request("GET", url, &[], None)
}

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `s` percent-encoded for a URL query value or path segment: everything but the
/// unreserved characters, so `'`, `,`, `&`, `=` and spaces survive any proxy.
pub fn encode_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}
