//! What a web page in someone's browser may not do to a server on the user's machine.
//!
//! A page of any site can send a "simple" cross-origin POST (text/plain, a form) to
//! `http://127.0.0.1:7860` without asking first, and with DNS rebinding (its own host name
//! resolved to 127.0.0.1) it can even read the answers. So a request body must be declared JSON
//! (a page can only send that cross-origin after a CORS preflight, which this server never
//! grants), and a TCP listener without a token answers only requests addressed to a loopback
//! host name. A listener with a token needs neither: a page cannot know the token.
use axum::http::{header, HeaderMap};

use crate::api::ApiError;

/// A body is read only when it is declared JSON, or not declared at all (as the release's
/// FastAPI server and clients such as `requests.post(data=...)` have it), and never from a page
/// of another site: a browser can still send an undeclared body (a Blob, sendBeacon) unasked,
/// but it says where the page is from (`Sec-Fetch-Site`, `Origin`), which programs do not.
pub fn check_json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let cross_site = header("sec-fetch-site").is_some_and(|v| v != "same-origin" && v != "none");
    let foreign_origin = header(header::ORIGIN.as_str()).is_some_and(|origin| {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        Some(origin_host) != header(header::HOST.as_str())
    });
    if cross_site || foreign_origin {
        return Err(ApiError::new(403, "forbidden", "requests from a page of another site are refused"));
    }
    check_declared_json(headers)
}

fn check_declared_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let essence = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::new(415, "invalid_parameter", "the body must be JSON: send Content-Type: application/json"))
    }
}

/// Whether a Host header names this machine's loopback: localhost, 127.x.y.z or [::1], with or
/// without a port.
pub fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        for ok in [
            "localhost",
            "localhost:7860",
            "127.0.0.1:7860",
            "127.1.2.3",
            "[::1]:7860",
            "[::1]",
            "LOCALHOST:1",
            "x.localhost:1",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for no in [
            "",
            "evil.example:7860",
            "10.0.0.1:7860",
            "localhost.evil.example",
            "127.0.0.1.evil.example:1",
            "[::2]:1",
            "0.0.0.0:7860",
        ] {
            assert!(!loopback_host(no), "{no}");
        }
    }

    #[test]
    fn json_bodies_only() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            check_json_body(&h).is_ok()
        };
        assert!(check_json_body(&HeaderMap::new()).is_ok());
        let from = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            check_json_body(&h).is_ok()
        };
        assert!(from(&[
            ("host", "127.0.0.1:7860"),
            ("origin", "http://127.0.0.1:7860"),
            ("sec-fetch-site", "same-origin")
        ]));
        assert!(!from(&[("host", "127.0.0.1:7860"), ("origin", "https://evil.example")]));
        assert!(!from(&[("host", "127.0.0.1:7860"), ("sec-fetch-site", "cross-site")]));
        assert!(!from(&[("host", "127.0.0.1:7860"), ("origin", "null")]));
        assert!(
            with("application/json") && with("Application/JSON; charset=utf-8") && with("application/problem+json")
        );
        assert!(
            !with("text/plain")
                && !with("application/x-www-form-urlencoded")
                && !with("multipart/form-data; boundary=x")
        );
    }
}
