//! The web console on the API's port: its files under `/console/`, the browser's way in from
//! `GET /`, and the cross-site refusal that keeps other web pages from using a signed-in
//! browser (or an open instance) as a confused deputy.
//!
//! The console has no side door: its pages call the same API on `/`, signed with SigV4, as any
//! SDK does. What a browser adds is ambient reach: any page it has open could send requests to
//! `http://127.0.0.1:4566/`. Browsers label those requests (`Origin` on every cross-origin
//! `POST`, `Sec-Fetch-Site` on every request), while the aws CLI, boto3 and the SDKs send
//! neither header, so [`cross_site_refusal`] refuses exactly the requests that come from
//! another origin's page, with `AccessDenied` (403), before anything is read or run.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use ferrocache_console::{asset, headers, BASE_PATH};

use crate::error::ApiError;

/// `GET|HEAD /console` and `/console/…`: an embedded file with its headers, a redirect from
/// `/console` to `/console/`, `304` when the browser's copy is current, a plain 404 for an
/// unknown path and 405 for other methods.
pub async fn serve(request: Request) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "The console answers GET and HEAD only.\n",
        );
    }
    let path = request.uri().path();
    if path == "/console" {
        return redirect(BASE_PATH);
    }
    let Some(file) = asset::find(path) else {
        return plain(StatusCode::NOT_FOUND, "Not found.\n");
    };
    let etag = file.etag();
    let current = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let builder = with_headers(Response::builder())
        .header(header::ETAG, &etag)
        .header(header::CONTENT_TYPE, file.content_type);
    let built = if current {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        builder.status(StatusCode::OK).body(Body::from(file.body))
    };
    built.unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.\n"))
}

/// Whether a request on `/` is a person's browser opening the address: `GET` without a query
/// string (an awsQuery `GET` always has one), asking for HTML.
pub fn wants_console(request: &Request) -> bool {
    request.method() == Method::GET
        && request.uri().query().is_none_or(str::is_empty)
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// `303 See Other` to `location` (a path on this origin).
pub fn redirect(location: &'static str) -> Response {
    with_headers(Response::builder())
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, HeaderValue::from_static(location))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(format!("See {location}\n")))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.\n"))
}

/// `AccessDenied` (403) for an API request a browser sent from another origin's page:
/// `Sec-Fetch-Site` other than `same-origin` or `none` (typed address, bookmark), or an
/// `Origin` whose host and port are not the request's `Host`. `None` for everything else,
/// which includes every request from a tool (they send neither header).
///
/// `same-site` is refused too: another port on the same host is the same *site* but another
/// origin, and a page there must not drive this API.
pub fn cross_site_refusal(headers: &HeaderMap) -> Option<ApiError> {
    let fetch_site = headers.get("sec-fetch-site").map(|v| {
        // Only echoed back in the message: keep it short.
        let text: String = v.to_str().unwrap_or("?").trim().chars().take(32).collect();
        text.to_ascii_lowercase()
    });
    if let Some(site) = fetch_site {
        if site != "same-origin" && site != "none" {
            return Some(denied(&format!(
                "Cross-site requests are refused (Sec-Fetch-Site: {site}); use this endpoint's \
                 own console or an SDK."
            )));
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("?");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if same_authority(origin, host) {
        None
    } else {
        Some(denied(
            "Cross-site requests are refused: the request's Origin is not this endpoint; use \
             this endpoint's own console or an SDK.",
        ))
    }
}

fn denied(message: &str) -> ApiError {
    ApiError::new("AccessDenied", StatusCode::FORBIDDEN, message)
}

/// Whether `origin` (`scheme://host[:port]`) names the same host and port as the `Host`
/// header `host`, with the scheme's default port filled in where either leaves it out.
fn same_authority(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null" (sandboxed or file pages) and anything malformed
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    if authority.is_empty() || host.is_empty() || authority.contains(['/', '@']) {
        return false;
    }
    let normalize = |value: &str| -> String {
        let value = value.to_ascii_lowercase();
        // A port follows the last ':' unless that colon is inside an IPv6 literal's brackets.
        let has_port = match value.rfind(':') {
            Some(colon) => !value[colon..].contains(']'),
            None => false,
        };
        if has_port {
            value
        } else {
            format!("{value}:{default_port}")
        }
    };
    normalize(authority) == normalize(host)
}

/// The console's fixed headers on `builder`.
fn with_headers(builder: axum::http::response::Builder) -> axum::http::response::Builder {
    let mut builder = builder
        .header(
            header::CONTENT_SECURITY_POLICY,
            headers::CONTENT_SECURITY_POLICY,
        )
        .header(header::CACHE_CONTROL, headers::CACHE_CONTROL);
    for (name, value) in headers::FIXED {
        builder = builder.header(*name, *value);
    }
    builder
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(headers::CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn tools_and_same_origin_pages_pass() {
        assert!(cross_site_refusal(&headers(&[("host", "127.0.0.1:4566")])).is_none());
        assert!(cross_site_refusal(&headers(&[
            ("host", "127.0.0.1:4566"),
            ("origin", "http://127.0.0.1:4566"),
            ("sec-fetch-site", "same-origin"),
        ]))
        .is_none());
        assert!(cross_site_refusal(&headers(&[
            ("host", "LocalHost"),
            ("origin", "http://localhost:80"),
        ]))
        .is_none());
        assert!(cross_site_refusal(&headers(&[
            ("host", "[::1]:4566"),
            ("origin", "http://[::1]:4566"),
        ]))
        .is_none());
    }

    #[test]
    fn other_origins_are_refused() {
        for pairs in [
            &[("host", "127.0.0.1:4566"), ("sec-fetch-site", "cross-site")][..],
            &[("host", "127.0.0.1:4566"), ("sec-fetch-site", "same-site")][..],
            &[
                ("host", "127.0.0.1:4566"),
                ("origin", "http://127.0.0.1:8080"),
            ][..],
            &[
                ("host", "127.0.0.1:4566"),
                ("origin", "https://evil.example"),
            ][..],
            &[("host", "127.0.0.1:4566"), ("origin", "null")][..],
            &[("origin", "http://127.0.0.1:4566")][..],
            &[
                ("host", "127.0.0.1:4566"),
                ("origin", "http://user@127.0.0.1:4566"),
            ][..],
        ] {
            let refusal = cross_site_refusal(&headers(pairs)).expect("refused");
            assert_eq!(refusal.code(), "AccessDenied");
            assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
        }
    }
}
