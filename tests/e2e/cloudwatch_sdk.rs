//! The Rust `aws-sdk-cloudwatch` crate against a real `ferrocache up`.
//!
//! The crate speaks Smithy RPC v2 CBOR (measured below: `POST /service/
//! GraniteServiceVersion20100801/operation/<Op>` with `smithy-protocol: rpc-v2-cbor`), as the Go
//! SDK v2 behind Terraform does, so it is the strict CBOR client of the suite: it reads doubles
//! only from CBOR floats, timestamps only from tag 1, and error codes from
//! `x-amzn-query-error`.
//!
//! The round trip and the validation error wait for `crates/cloudwatch`'s real answers; the
//! protocol and signature tests hold whatever the service answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_cloudwatch::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_cloudwatch::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsError;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, Statistic};
use aws_sdk_cloudwatch::Client;
use ferrocache_testkit::{Ferrocache, Options, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};

/// A request as the SDK was about to send it: its URI and its (lower-case) headers.
type Sent = (String, Vec<(String, String)>);

/// Every request the SDK sent, in order.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "ferrocache-wire-recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        self.0
            .lock()
            .expect("recorder lock")
            .push((request.uri().to_string(), headers));
        Ok(())
    }
}

/// A typed client for `fc` over plain HTTP, signing with `key`/`secret`, recording into
/// `recorder`; no retries, so a refusal shows at once.
fn client(fc: &Ferrocache, key: &str, secret: &str, recorder: &Recorder) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, None, None, "ferrocache-e2e"))
        .endpoint_url(fc.endpoint_url())
        .http_client(http)
        .interceptor(recorder.clone())
        .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn dimension() -> Dimension {
    Dimension::builder()
        .name("CacheClusterId")
        .value("sdk-001")
        .build()
}

// Goal: record which protocol this SDK speaks: RPC v2 CBOR on the operation's path, with
// smithy-protocol and the CBOR content type, no X-Amz-Target, signed for `monitoring`.
// Method: one ListMetrics through an interceptor (its answer does not matter here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_speaks_rpc_v2_cbor() {
    let fc = Ferrocache::start().expect("start ferrocache");
    let recorder = Recorder::default();
    let client = client(&fc, ACCESS_KEY_ID, SECRET_ACCESS_KEY, &recorder);
    let _ = client
        .list_metrics()
        .namespace("AWS/ElastiCache")
        .send()
        .await;
    let sent = recorder.0.lock().unwrap().clone();
    let (uri, headers) = sent.first().expect("one request");
    assert!(
        uri.ends_with("/service/GraniteServiceVersion20100801/operation/ListMetrics"),
        "{uri}"
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(header("content-type"), Some("application/cbor"));
    assert_eq!(header("accept"), Some("application/cbor"));
    assert_eq!(header("x-amz-target"), None);
    assert!(
        header("authorization").is_some_and(|a| a.contains("/monitoring/aws4_request")),
        "{headers:?}"
    );
}

// Goal: with --credentials, the SDK's CBOR requests pass the signature check with a key of the
// file, and a wrong secret is refused with SignatureDoesNotMatch (403), read from the CBOR
// error. Method: a credentials file, two clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_on_cbor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("credentials");
    std::fs::write(
        &path,
        "[default]\naws_access_key_id = AKIDRUSTSDK\naws_secret_access_key = rust/secret+1\n",
    )
    .expect("credentials file");
    let fc = Ferrocache::start_with(Options {
        extra_args: vec!["--credentials".into(), path.display().to_string()],
        ..Options::default()
    })
    .expect("start ferrocache");
    let recorder = Recorder::default();

    let good = client(&fc, "AKIDRUSTSDK", "rust/secret+1", &recorder);
    if let Err(e) = good.list_metrics().send().await {
        // Until crates/cloudwatch answers, the call itself may be refused — not the signature.
        let status = e.raw_response().map(|r| r.status().as_u16());
        assert_ne!(status, Some(403), "{e:?}");
    }

    let bad = client(&fc, "AKIDRUSTSDK", "wrong", &recorder);
    let e = bad
        .list_metrics()
        .send()
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e:?}");
    assert_eq!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{e:?}"
    );
}

// Goal: PutMetricData then GetMetricStatistics through the typed SDK: the datapoint comes back
// with typed fields (DateTime timestamp, f64 statistics, the unit enum). Waits for
// crates/cloudwatch. Method: two data, one query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_get_statistics() {
    let fc = Ferrocache::start().expect("start ferrocache");
    let client = client(&fc, ACCESS_KEY_ID, SECRET_ACCESS_KEY, &Recorder::default());
    let now = SystemTime::now();
    let at = DateTime::from(now - Duration::from_secs(120));
    client
        .put_metric_data()
        .namespace("Ferrocache/RustSdk")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .dimensions(dimension())
                .timestamp(at)
                .value(12.5)
                .unit(StandardUnit::Milliseconds)
                .build(),
        )
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .dimensions(dimension())
                .timestamp(at)
                .value(3.0)
                .unit(StandardUnit::Milliseconds)
                .build(),
        )
        .send()
        .await
        .expect("PutMetricData");
    let out = client
        .get_metric_statistics()
        .namespace("Ferrocache/RustSdk")
        .metric_name("Latency")
        .dimensions(dimension())
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Maximum)
        .statistics(Statistic::SampleCount)
        .send()
        .await
        .expect("GetMetricStatistics");
    assert_eq!(out.label(), Some("Latency"));
    let points = out.datapoints();
    assert_eq!(points.len(), 1, "{points:?}");
    let point = &points[0];
    assert!(point.timestamp().is_some());
    assert_eq!(point.sum(), Some(15.5));
    assert_eq!(point.maximum(), Some(12.5));
    assert_eq!(point.sample_count(), Some(2.0));
    assert_eq!(point.unit(), Some(&StandardUnit::Milliseconds));
}

// Goal: the service's refusal (StartTime after EndTime) is the SDK's typed
// InvalidParameterValueException, 400. Waits for crates/cloudwatch. Method: one bad query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_error_is_typed() {
    let fc = Ferrocache::start().expect("start ferrocache");
    let client = client(&fc, ACCESS_KEY_ID, SECRET_ACCESS_KEY, &Recorder::default());
    let now = SystemTime::now();
    let e = client
        .get_metric_statistics()
        .namespace("AWS/ElastiCache")
        .metric_name("CPUUtilization")
        .start_time(DateTime::from(now))
        .end_time(DateTime::from(now - Duration::from_secs(3600)))
        .period(300)
        .statistics(Statistic::Average)
        .send()
        .await
        .expect_err("StartTime after EndTime is refused");
    assert_eq!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(400),
        "{e:?}"
    );
    let service_error = e.into_service_error();
    assert!(
        matches!(
            service_error,
            GetMetricStatisticsError::InvalidParameterValueException(_)
        ),
        "{service_error:?}"
    );
}
