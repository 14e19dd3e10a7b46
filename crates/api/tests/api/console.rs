//! The web console on the API's port: its files and headers, the browser's redirect from
//! `GET /`, and the cross-site refusal of API requests (AWS's error document, 403).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{authorization, Harness};

async fn raw(h: &Harness, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = h.app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, body.to_vec())
}

fn get(path: &str) -> axum::http::request::Builder {
    Request::get(path)
}

fn describe(extra: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "127.0.0.1:4566")
        .header("authorization", authorization("us-east-1"));
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from(
            "Action=DescribeCacheClusters&Version=2015-02-02",
        ))
        .expect("request")
}

// Goal: a browser opening `/` lands on the console; tools' requests on `/` are unchanged.
// Method: `GET /` with and without `Accept: text/html` and with a query string.
#[tokio::test]
async fn a_browser_is_sent_to_the_console() {
    let h = Harness::new();
    let (status, headers, _) = raw(
        &h,
        get("/")
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/console/");
    let (status, headers, _) = raw(&h, get("/console").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/console/");
    // Without text/html, or with a query string, `/` is the API as before.
    let reply = h.send(get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.error_code(), "MissingAction");
    let reply = h
        .send(
            get("/?Action=DescribeCacheClusters&Version=2015-02-02")
                .header("accept", "text/html")
                .header("authorization", authorization("us-east-1"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    reply.result("DescribeCacheClusters");
}

// Goal: the console's files carry their type, caching, entity tag and security policy;
// unknown paths and other methods are 4xx. Method: GET each file, revalidate one, try junk.
#[tokio::test]
async fn console_files_and_headers() {
    let h = Harness::new();
    for (path, kind) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let (status, headers, body) = raw(&h, get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers["content-type"], kind, "{path}");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(
            headers["content-security-policy"],
            ferrocache_console::headers::CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!body.is_empty());
        let etag = headers["etag"].to_str().unwrap().to_string();
        let (status, _, body) = raw(
            &h,
            get(path)
                .header("if-none-match", etag.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(body.is_empty());
    }
    for path in [
        "/console/nope",
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/app.js/x",
        "/console//app.js",
    ] {
        let (status, _, _) = raw(&h, get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _, _) = raw(
        &h,
        Request::post("/console/").body(Body::from("x=1")).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

// Goal: API requests a browser sends from another origin are refused before they run, in the
// API's error document; same-origin browser requests and tools (neither header) pass.
// Method: one signed DescribeCacheClusters with each header combination.
#[tokio::test]
async fn cross_site_requests_are_refused() {
    let h = Harness::new();
    for extra in [
        &[("origin", "http://evil.example")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")][..],
        &[("origin", "http://127.0.0.1:4567")][..],
        &[("origin", "null")][..],
    ] {
        let message = h.send(describe(extra)).await.error("AccessDenied", 403);
        assert!(
            message.contains("Cross-site requests are refused"),
            "{message}"
        );
    }
    // Header values that are not text are refused too, never a 5xx.
    for name in ["origin", "sec-fetch-site"] {
        let mut request = describe(&[]);
        request.headers_mut().insert(
            name,
            axum::http::HeaderValue::from_bytes(b"\xff\xfe").expect("obs-text is allowed"),
        );
        h.send(request).await.error("AccessDenied", 403);
    }
    h.send(describe(&[])).await.result("DescribeCacheClusters");
    h.send(describe(&[
        ("origin", "http://127.0.0.1:4566"),
        ("sec-fetch-site", "same-origin"),
    ]))
    .await
    .result("DescribeCacheClusters");
}
