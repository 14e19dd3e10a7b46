//! The three protocols through the router, in process: how each is told apart from ElastiCache
//! and EC2, and each protocol's error form (status, headers, body) for an unknown operation,
//! a malformed body, a wrong method, a body over the limit and a bad signature.
//!
//! The edge here has no CloudWatch service (`ApiConfig::cloudwatch` is `None`), so a known
//! operation that decodes is answered as unknown: these tests are about the wire, which does
//! not depend on the service's answers (success bodies are checked per protocol in `json`,
//! `cbor` and `query`, and end to end by `tests/py/test_cloudwatch_wire.py`).

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials as KeyPair;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrocache_control::{Service, ServiceConfig};
use http_body_util::BodyExt;
use minicbor::Decoder;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::signature::Credentials;
use crate::ApiConfig;

const TARGET: &str = "GraniteServiceVersion20100801.";
const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";
const MONITORING: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/monitoring/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
const KEY: &str = "AKIDCLOUDWATCH01";
const SECRET: &str = "cloudwatch-secret";

/// The router over a fresh store, with `config`.
fn app(config: ApiConfig) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        Arc::new(ferrocache_store::RedbStore::open(&dir.path().join("store.redb")).expect("store"));
    let service = Service::new(
        store,
        ServiceConfig {
            account_id: "123456789012".into(),
            engine_version_running: "7.0.15".into(),
            nodes_dir: None,
        },
    );
    (crate::router(service, config), dir)
}

/// What came back.
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// `(__type, message)` of a CBOR error map.
    fn cbor_error(&self) -> (String, String) {
        let mut d = Decoder::new(&self.body);
        let n = d.map().expect("map").expect("definite");
        let (mut kind, mut message) = (String::new(), String::new());
        for _ in 0..n {
            match d.str().expect("key") {
                "__type" => kind = d.str().expect("type").to_string(),
                "message" => message = d.str().expect("message").to_string(),
                other => panic!("unexpected member {other}"),
            }
        }
        (kind, message)
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8")
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn json_request(operation: &str, body: &str) -> Request<Body> {
    Request::post("/")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("{TARGET}{operation}"))
        .header("x-amzn-query-mode", "true")
        .header("authorization", MONITORING)
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn cbor_request(operation: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(format!("{CBOR_PATH}{operation}"))
        .header("content-type", "application/cbor")
        .header("accept", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("authorization", MONITORING)
        .body(Body::from(body))
        .expect("request")
}

fn query_request(form: &str, authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/").header(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.body(Body::from(form.to_string())).expect("request")
}

/// Asserts the JSON error form: status, content type, `x-amzn-query-error`, `__type`.
fn assert_json_error(reply: &Reply, status: u16, code: &str, type_id: &str) -> String {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(
        reply.header("x-amzn-query-error"),
        Some(format!("{code};Sender").as_str())
    );
    assert!(reply.header("x-amzn-requestid").is_some());
    let body = reply.json();
    assert_eq!(body["__type"], json!(type_id), "{body}");
    body["message"].as_str().expect("message").to_string()
}

/// Asserts the CBOR error form, including the echoed `smithy-protocol`.
fn assert_cbor_error(reply: &Reply, status: u16, code: &str, type_id: &str) -> String {
    assert_eq!(reply.status.as_u16(), status);
    assert_eq!(reply.header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(reply.header("content-type"), Some("application/cbor"));
    assert_eq!(
        reply.header("x-amzn-query-error"),
        Some(format!("{code};Sender").as_str())
    );
    let (kind, message) = reply.cbor_error();
    assert_eq!(kind, type_id);
    message
}

/// Asserts the query error form: XML in CloudWatch's namespace.
fn assert_query_error(reply: &Reply, status: u16, code: &str) -> String {
    assert_eq!(reply.status.as_u16(), status);
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    assert!(reply.header("x-amzn-query-error").is_none());
    let text = reply.text();
    assert!(
        text.starts_with(
            "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error><Type>Sender</Type>"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
    text
}

// Goal: JSON requests are told apart by their target: an unknown operation, another service's
// target signed for monitoring, a malformed body and a wrong type are JSON errors with the
// query-compatible header; a known, well-formed operation reaches the (absent) service.
// Method: one request each through the router.
#[tokio::test]
async fn json_errors() {
    let (app, _dir) = app(ApiConfig::default());
    let reply = send(&app, json_request("PutDashboard", "{}")).await;
    let message = assert_json_error(
        &reply,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );
    assert!(message.contains("PutDashboard"), "{message}");

    let mut request = json_request("x", "{}");
    request.headers_mut().insert(
        "x-amz-target",
        "Logs_20140328.PutLogEvents".parse().unwrap(),
    );
    // A CloudWatch Logs target is CloudWatch Logs' (JSON 1.1), whatever the signature says;
    // this edge has no CloudWatch Logs.
    let reply = send(&app, request).await;
    assert_eq!(reply.status.as_u16(), 400);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(reply
        .text()
        .contains(r#""__type":"UnknownOperationException""#));

    for body in ["{", "[]", r#"{"Period": "300"}"#] {
        let reply = send(&app, json_request("GetMetricStatistics", body)).await;
        assert_json_error(
            &reply,
            400,
            "SerializationException",
            "com.amazon.coral.service#SerializationException",
        );
    }

    let body = r#"{"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization", "StartTime": 1796637600, "EndTime": 1796641200, "Period": 300, "Statistics": ["Average"]}"#;
    let reply = send(&app, json_request("GetMetricStatistics", body)).await;
    let message = assert_json_error(
        &reply,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );
    assert!(message.contains("GetMetricStatistics"), "{message}");

    let mut request = json_request("ListMetrics", "{}");
    *request.method_mut() = axum::http::Method::GET;
    let reply = send(&app, request).await;
    assert_json_error(
        &reply,
        405,
        "MethodNotAllowed",
        "com.amazon.coral.service#MethodNotAllowed",
    );
}

// Goal: CBOR requests are told apart by their path, with or without a prefix; every answer
// echoes smithy-protocol; unknown operations, other services, junk bodies, target headers and
// GET are CBOR errors. Method: one request each.
#[tokio::test]
async fn cbor_errors() {
    let (app, _dir) = app(ApiConfig::default());
    let reply = send(&app, cbor_request("PutDashboard", Vec::new())).await;
    assert_cbor_error(
        &reply,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );

    let mut request = cbor_request("ListMetrics", Vec::new());
    *request.uri_mut() = "/service/Logs_20140328/operation/ListMetrics"
        .parse()
        .unwrap();
    let reply = send(&app, request).await;
    assert_cbor_error(
        &reply,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );

    let reply = send(
        &app,
        cbor_request("GetMetricStatistics", b"{\"a\":1}".to_vec()),
    )
    .await;
    let message = assert_cbor_error(
        &reply,
        400,
        "SerializationException",
        "com.amazon.coral.service#SerializationException",
    );
    assert!(message.contains("CBOR"), "{message}");

    let mut request = cbor_request("ListMetrics", Vec::new());
    request.headers_mut().insert(
        "x-amz-target",
        "GraniteServiceVersion20100801.ListMetrics".parse().unwrap(),
    );
    let reply = send(&app, request).await;
    assert_cbor_error(
        &reply,
        400,
        "SerializationException",
        "com.amazon.coral.service#SerializationException",
    );

    let mut request = cbor_request("ListMetrics", Vec::new());
    *request.method_mut() = axum::http::Method::GET;
    let reply = send(&app, request).await;
    assert_cbor_error(
        &reply,
        405,
        "MethodNotAllowed",
        "com.amazon.coral.service#MethodNotAllowed",
    );

    // A prefix before the last four segments routes the same.
    let mut request = cbor_request("ListMetrics", vec![0xa0]);
    *request.uri_mut() = format!("/prefix{CBOR_PATH}Nope").parse().unwrap();
    let reply = send(&app, request).await;
    assert_cbor_error(
        &reply,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );

    // Other paths are still the plain 404.
    let reply = send(
        &app,
        Request::post("/service/x").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.header("smithy-protocol").is_none());
}

// Goal: a form signed for monitoring, or naming 2010-08-01, is CloudWatch's query protocol
// with its XML errors; ElastiCache and EC2 forms are unchanged. Method: forms with each
// signature and version.
#[tokio::test]
async fn query_errors_and_dialects() {
    let (app, _dir) = app(ApiConfig::default());
    let text = assert_query_error(
        &send(
            &app,
            query_request("Action=PutDashboard&Version=2010-08-01", Some(MONITORING)),
        )
        .await,
        400,
        "InvalidAction",
    );
    assert!(text.contains("The action PutDashboard is not valid for this web service."));

    // Unsigned: told apart by the version alone.
    assert_query_error(
        &send(
            &app,
            query_request(
                "Action=GetMetricStatistics&Version=2010-08-01&Period=five",
                None,
            ),
        )
        .await,
        400,
        "InvalidParameterValue",
    );
    assert_query_error(
        &send(&app, query_request("Version=2010-08-01", Some(MONITORING))).await,
        400,
        "MissingAction",
    );
    // Signed for monitoring with another version: CloudWatch's refusal.
    assert_query_error(
        &send(
            &app,
            query_request("Action=ListMetrics&Version=2015-02-02", Some(MONITORING)),
        )
        .await,
        400,
        "InvalidAction",
    );
    // A known operation: reaches the (absent) service.
    assert_query_error(
        &send(
            &app,
            query_request("Action=ListMetrics&Version=2010-08-01", Some(MONITORING)),
        )
        .await,
        400,
        "InvalidAction",
    );

    // ElastiCache's own form is answered by ElastiCache, in its namespace.
    let reply = send(
        &app,
        query_request(
            "Action=DescribeCacheClusters&Version=2015-02-02",
            Some(&MONITORING.replace("monitoring", "elasticache")),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply
        .text()
        .starts_with("<DescribeCacheClustersResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"));
    // A JSON body signed for elasticache without a target stays ElastiCache's (MissingAction).
    let reply = send(
        &app,
        Request::post("/")
            .header("content-type", "application/json")
            .header(
                "authorization",
                MONITORING.replace("monitoring", "elasticache"),
            )
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.text().contains("elasticache.amazonaws.com"),
        "{}",
        reply.text()
    );
    // The same body signed for monitoring is CloudWatch's JSON.
    let reply = send(
        &app,
        Request::post("/")
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", MONITORING)
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_json_error(
        &reply,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );
}

// Goal: the body limit holds for CloudWatch too, answered in the caller's protocol. Method:
// a JSON and a CBOR body one byte over a small limit.
#[tokio::test]
async fn body_limit() {
    let (app, _dir) = app(ApiConfig {
        body_bytes_max: 64,
        ..ApiConfig::default()
    });
    let big = format!("{{\"Namespace\": \"{}\"}}", "x".repeat(64));
    let reply = send(&app, json_request("ListMetrics", &big)).await;
    assert_json_error(
        &reply,
        413,
        "RequestEntityTooLarge",
        "com.amazon.coral.service#RequestEntityTooLarge",
    );
    let reply = send(&app, cbor_request("ListMetrics", vec![0x60; 65])).await;
    assert_cbor_error(
        &reply,
        413,
        "RequestEntityTooLarge",
        "com.amazon.coral.service#RequestEntityTooLarge",
    );
}

/// `request` signed for `monitoring` in us-east-1 with `secret`, as the SDKs sign (every
/// header but the user agent, the body hashed).
fn signed(mut request: Request<Body>, body: &[u8], secret: &str) -> Request<Body> {
    let identity: Identity = KeyPair::new(KEY, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("monitoring")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    request.headers_mut().remove("authorization");
    request
        .headers_mut()
        .insert("host", "127.0.0.1:4566".parse().unwrap());
    let uri = format!("http://127.0.0.1:4566{}", request.uri());
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    request
}

// Goal: with --credentials, signatures are checked on all three protocols (the CBOR path and
// JSON bodies included) and a bad one is refused in the caller's protocol. Method: sign each
// protocol's request with the right and a wrong secret.
#[tokio::test]
async fn signatures_on_every_protocol() {
    let (app, _dir) = app(ApiConfig {
        credentials: Some(Arc::new(Credentials::single(KEY, SECRET))),
        ..ApiConfig::default()
    });
    let json_body = br#"{"Namespace": "AWS/ElastiCache"}"#;
    let cbor_body = vec![0xa0];
    let form = b"Action=ListMetrics&Version=2010-08-01";

    let build = |secret: &str| {
        (
            signed(
                json_request("ListMetrics", std::str::from_utf8(json_body).unwrap()),
                json_body,
                secret,
            ),
            signed(
                cbor_request("ListMetrics", cbor_body.clone()),
                &cbor_body,
                secret,
            ),
            signed(
                query_request(std::str::from_utf8(form).unwrap(), Some(MONITORING)),
                form,
                secret,
            ),
        )
    };

    // Right secret: past the signature, to the (absent) service.
    let (json, cbor, query) = build(SECRET);
    assert_json_error(
        &send(&app, json).await,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );
    assert_cbor_error(
        &send(&app, cbor).await,
        400,
        "UnknownOperationException",
        "com.amazon.coral.service#UnknownOperationException",
    );
    assert_query_error(&send(&app, query).await, 400, "InvalidAction");

    // Wrong secret: 403 SignatureDoesNotMatch, in each protocol's form.
    let (json, cbor, query) = build("wrong");
    let reply = send(&app, json).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.header("x-amzn-query-error"),
        Some("SignatureDoesNotMatch;Sender")
    );
    assert_eq!(
        reply.json()["__type"],
        json!("com.amazon.coral.service#SignatureDoesNotMatch")
    );
    let reply = send(&app, cbor).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(
        reply.cbor_error().0,
        "com.amazon.coral.service#SignatureDoesNotMatch"
    );
    let reply = send(&app, query).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.text().contains("<Code>SignatureDoesNotMatch</Code>"));
    assert!(reply.text().contains("monitoring.amazonaws.com"));
}
