//! Smithy RPC v2 CBOR, as the Rust SDK (`aws-sdk-cloudwatch`), the Go SDK v2 ≥ 1.52 and the
//! Terraform providers built on it send it: `POST /service/GraniteServiceVersion20100801/
//! operation/<Op>` with `smithy-protocol: rpc-v2-cbor`, a CBOR body and no `X-Amz-Target`.
//!
//! Requests are read into a JSON document (a tag-1 timestamp is its epoch seconds; byte
//! strings, which no member of these operations has, are dropped) and then read like a JSON
//! body. Answers are written from the model: integers as CBOR integers, doubles always as
//! 64-bit floats (the Rust SDK reads a double only from a float, and the spec says not to use
//! half precision), timestamps as tag 1 over epoch seconds, and operations without output
//! answer an empty body with no `Content-Type`, as the spec requires. Every answer echoes
//! `smithy-protocol: rpc-v2-cbor`, without which clients must treat it as malformed.

use std::convert::Infallible;

use minicbor::data::{IanaTag, Tag, Type};
use minicbor::{Decoder, Encoder};
use serde_json::{Map, Value};

use super::error::Error;
use super::shapes::{self, Operation, Shape};

/// The header every request and answer carries, and its value.
pub const PROTOCOL_HEADER: &str = "smithy-protocol";
/// The value of [`PROTOCOL_HEADER`].
pub const PROTOCOL: &str = "rpc-v2-cbor";
/// The content type of bodies.
pub const CONTENT_TYPE: &str = "application/cbor";
/// CloudWatch's service name in the path (the Smithy service shape's name), and the same
/// with its namespace (`.` for `#`), which servers should accept too.
pub const SERVICE_NAMES: [&str; 2] = [
    "GraniteServiceVersion20100801",
    "com.amazonaws.cloudwatch.GraniteServiceVersion20100801",
];
/// Deepest nesting read from a request: the deepest input (`MetricDataQueries` → `MetricStat`
/// → `Metric` → `Dimensions` → item) is 6 levels; deeper bodies are refused before they can
/// exhaust the stack.
pub const DEPTH_MAX: usize = 32;

/// The `(service, operation)` of an RPC v2 path, `{prefix?}/service/{service}/operation/{op}`
/// (only the last four segments count, as the spec says).
pub fn route(path: &str) -> Option<(&str, &str)> {
    let mut segments = path.rsplitn(5, '/');
    let (Some(op), Some("operation"), Some(service), Some("service")) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    Some((service, op))
}

/// The operation of a CBOR request at `path`.
///
/// # Errors
/// `UnknownOperationException` for another service or an operation not in the table.
pub fn operation(path: &str) -> Result<&'static Operation, Error> {
    let Some((service, name)) = route(path) else {
        return Err(Error::unknown_operation(path));
    };
    if !SERVICE_NAMES.contains(&service) {
        return Err(Error::unknown_operation(&format!("{service}.{name}")));
    }
    shapes::operation(name).ok_or_else(|| Error::unknown_operation(name))
}

/// The neutral input of `op` from a CBOR body; an empty body is an empty input.
///
/// # Errors
/// `SerializationException` for a body that is not one CBOR data item, nests deeper than
/// [`DEPTH_MAX`], or whose members do not have their model types.
pub fn decode(op: &Operation, body: &[u8]) -> Result<Value, Error> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut decoder = Decoder::new(body);
    let value = item(&mut decoder, 0)
        .map_err(|e| Error::serialization(format!("The request body is not valid CBOR: {e}.")))?;
    if decoder.position() != body.len() {
        return Err(Error::serialization(
            "The request body has bytes after its CBOR data item.",
        ));
    }
    super::json::input(op, &value)
}

/// Why a CBOR body could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Cbor(#[from] minicbor::decode::Error),
    #[error("{0}")]
    Unsupported(&'static str),
}

/// One data item as JSON.
fn item(d: &mut Decoder<'_>, depth: usize) -> Result<Value, ReadError> {
    if depth > DEPTH_MAX {
        return Err(ReadError::Unsupported("nested too deeply"));
    }
    Ok(match d.datatype()? {
        Type::Bool => Value::Bool(d.bool()?),
        Type::Null => {
            d.null()?;
            Value::Null
        }
        Type::Undefined => {
            // The spec: servers read `undefined` as null.
            d.undefined()?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::from(d.u64()?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => Value::from(d.i64()?),
        Type::Int => {
            let n = i64::try_from(d.int()?)
                .map_err(|_| ReadError::Unsupported("an integer out of 64-bit range"))?;
            Value::from(n)
        }
        // Non-finite values pass on, spelled as the service expects them (`NaN`, `Infinity`).
        Type::F16 | Type::F32 | Type::F64 => shapes::double_value(d.f64()?),
        Type::String | Type::StringIndef => {
            let mut text = String::new();
            for chunk in d.str_iter()? {
                text.push_str(chunk?);
            }
            Value::String(text)
        }
        Type::Bytes | Type::BytesIndef => {
            for chunk in d.bytes_iter()? {
                chunk?;
            }
            Value::Null
        }
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.array()? {
                // The count is the sender's claim: items are read one by one, never
                // allocated ahead, so a false count fails at the end of the body.
                Some(n) => {
                    for _ in 0..n {
                        items.push(item(d, depth + 1)?);
                    }
                }
                None => {
                    while !at_break(d)? {
                        items.push(item(d, depth + 1)?);
                    }
                }
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let mut fields = Map::new();
            match d.map()? {
                Some(n) => {
                    for _ in 0..n {
                        let (k, v) = entry(d, depth)?;
                        fields.insert(k, v);
                    }
                }
                None => {
                    while !at_break(d)? {
                        let (k, v) = entry(d, depth)?;
                        fields.insert(k, v);
                    }
                }
            }
            Value::Object(fields)
        }
        Type::Tag => {
            let tag = d.tag()?;
            if tag != Tag::from(IanaTag::Timestamp) {
                return Err(ReadError::Unsupported("a tag other than 1 (epoch time)"));
            }
            let seconds = item(d, depth + 1)?;
            // A non-finite time reads as text here, and is refused with the rest.
            if !seconds.is_number() {
                return Err(ReadError::Unsupported("a tag-1 time that is not a number"));
            }
            seconds
        }
        _ => return Err(ReadError::Unsupported("a simple value or a stray break")),
    })
}

/// A map entry: a text key and its value.
fn entry(d: &mut Decoder<'_>, depth: usize) -> Result<(String, Value), ReadError> {
    let Value::String(key) = item(d, depth + 1)? else {
        return Err(ReadError::Unsupported("a map key that is not text"));
    };
    Ok((key, item(d, depth + 1)?))
}

/// Whether an indefinite-length array or map ends here; consumes the break byte if so.
fn at_break(d: &mut Decoder<'_>) -> Result<bool, ReadError> {
    if d.datatype()? == Type::Break {
        // A break is the single byte 0xff.
        d.set_position(d.position() + 1);
        return Ok(true);
    }
    Ok(false)
}

/// The answer body of `op` for `output`: the CBOR map of the output structure, or empty for an
/// operation without output.
///
/// # Errors
/// `InternalFailure` (logged) when the output does not fit the model.
pub fn encode(op: &Operation, output: &Value) -> Result<Vec<u8>, Error> {
    let Some(shape) = op.output else {
        return Ok(Vec::new());
    };
    let value = super::checked_output(op, shape, output)?;
    let mut e = Encoder::new(Vec::new());
    write(&mut e, shape, &value).map_err(|error| {
        tracing::error!(operation = op.name, %error, "CloudWatch answer not written as CBOR");
        Error::internal()
    })?;
    Ok(e.into_writer())
}

/// The body of an error: the map `{"__type": "<namespace>#<Shape>", "message": "…"}`.
pub fn error_body(error: &Error) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    let written = e
        .map(2)
        .and_then(|e| e.str("__type"))
        .and_then(|e| e.str(&error.type_id()))
        .and_then(|e| e.str(error.message_member()))
        .and_then(|e| e.str(error.message()));
    match written {
        Ok(_) => e.into_writer(),
        // Writing into a Vec cannot fail; an empty body still carries the status and header.
        Err(_) => Vec::new(),
    }
}

type Written = Result<(), minicbor::encode::Error<Infallible>>;

/// Writes `value` (already conformed to `shape`) as `shape` says.
fn write(e: &mut Encoder<Vec<u8>>, shape: &Shape, value: &Value) -> Written {
    match (shape, value) {
        (Shape::String, Value::String(s)) => {
            e.str(s)?;
        }
        (Shape::Boolean, Value::Bool(b)) => {
            e.bool(*b)?;
        }
        (Shape::Integer, v) => match shapes::integer(v) {
            Some(n) => {
                e.i64(n)?;
            }
            None => {
                e.null()?;
            }
        },
        (Shape::Double, v) => {
            e.f64(shapes::double(v).unwrap_or(f64::NAN))?;
        }
        (Shape::Timestamp, Value::Number(n)) => {
            e.tag(Tag::from(IanaTag::Timestamp))?;
            match shapes::integer(value) {
                Some(seconds) => e.i64(seconds)?,
                None => e.f64(n.as_f64().unwrap_or(f64::NAN))?,
            };
        }
        (Shape::List(item), Value::Array(items)) => {
            e.array(items.len() as u64)?;
            for v in items {
                write(e, item, v)?;
            }
        }
        (Shape::Map(item), Value::Object(entries)) => {
            e.map(entries.len() as u64)?;
            for (k, v) in entries {
                e.str(k)?;
                write(e, item, v)?;
            }
        }
        (Shape::Structure(members), Value::Object(fields)) => {
            let present: Vec<_> = members
                .iter()
                .filter_map(|m| fields.get(m.name).map(|v| (m, v)))
                .collect();
            e.map(present.len() as u64)?;
            for (member, v) in present {
                e.str(member.name)?;
                write(e, member.shape, v)?;
            }
        }
        // `conform` ran first, so nothing else reaches here; null keeps the map well formed.
        _ => {
            e.null()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Goal: RPC v2 paths give service and operation from the last four segments, with or
    // without a prefix; other paths are not RPC v2. Method: parse a few.
    #[test]
    fn routes() {
        assert_eq!(
            route("/service/GraniteServiceVersion20100801/operation/GetMetricData"),
            Some(("GraniteServiceVersion20100801", "GetMetricData"))
        );
        assert_eq!(route("/v1/service/S/operation/O"), Some(("S", "O")));
        assert_eq!(route("/"), None);
        assert_eq!(route("/service/S/operations/O"), None);
        assert_eq!(
            operation("/service/GraniteServiceVersion20100801/operation/ListMetrics")
                .unwrap()
                .name,
            "ListMetrics"
        );
        assert_eq!(operation("/service/com.amazonaws.cloudwatch.GraniteServiceVersion20100801/operation/ListMetrics").unwrap().name, "ListMetrics");
        for path in [
            "/service/Logs_20140328/operation/ListMetrics",
            "/service/GraniteServiceVersion20100801/operation/Nope",
        ] {
            assert_eq!(
                operation(path).unwrap_err().code(),
                "UnknownOperationException"
            );
        }
    }

    /// A GetMetricStatistics body as an SDK writes it: definite map, tag-1 times, an
    /// indefinite list.
    fn request() -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(6).unwrap();
        e.str("Namespace").unwrap().str("AWS/ElastiCache").unwrap();
        e.str("MetricName").unwrap().str("CPUUtilization").unwrap();
        e.str("StartTime")
            .unwrap()
            .tag(Tag::from(IanaTag::Timestamp))
            .unwrap()
            .i64(1796637600)
            .unwrap();
        e.str("EndTime")
            .unwrap()
            .tag(Tag::from(IanaTag::Timestamp))
            .unwrap()
            .f64(1796641200.5)
            .unwrap();
        e.str("Period").unwrap().u16(300).unwrap();
        e.str("Statistics")
            .unwrap()
            .begin_array()
            .unwrap()
            .str("Average")
            .unwrap()
            .str("Maximum")
            .unwrap()
            .end()
            .unwrap();
        e.into_writer()
    }

    // Goal: a CBOR request reads as the neutral value. Method: decode an SDK-shaped body.
    #[test]
    fn requests() {
        let op = shapes::operation("GetMetricStatistics").unwrap();
        assert_eq!(
            decode(op, &request()).unwrap(),
            json!({"Namespace": "AWS/ElastiCache", "MetricName": "CPUUtilization",
                   "StartTime": 1796637600, "EndTime": 1796641200.5, "Period": 300,
                   "Statistics": ["Average", "Maximum"]})
        );
        assert_eq!(decode(op, b"").unwrap(), json!({}));

        // A NaN value passes on as the service expects it; a NaN time is refused.
        let op = shapes::operation("PutMetricData").unwrap();
        let mut e = Encoder::new(Vec::new());
        e.map(1)
            .unwrap()
            .str("MetricData")
            .unwrap()
            .array(1)
            .unwrap();
        e.map(1)
            .unwrap()
            .str("Value")
            .unwrap()
            .f16(f32::NAN)
            .unwrap();
        assert_eq!(
            decode(op, &e.into_writer()).unwrap(),
            json!({"MetricData": [{"Value": "NaN"}]})
        );
        let mut e = Encoder::new(Vec::new());
        e.map(1)
            .unwrap()
            .str("MetricData")
            .unwrap()
            .array(1)
            .unwrap();
        e.map(1)
            .unwrap()
            .str("Timestamp")
            .unwrap()
            .tag(Tag::from(IanaTag::Timestamp))
            .unwrap()
            .f64(f64::INFINITY)
            .unwrap();
        assert_eq!(
            decode(op, &e.into_writer()).unwrap_err().code(),
            "SerializationException"
        );
    }

    // Goal: junk, truncation, trailing bytes, deep nesting, false counts and wrong types are
    // all SerializationException, never a panic. Method: decode each.
    #[test]
    fn bad_requests() {
        let op = shapes::operation("GetMetricStatistics").unwrap();
        let mut deep = vec![0x81u8; 10_000];
        deep.push(0x00);
        let mut trailing = request();
        trailing.push(0x00);
        let cases: Vec<Vec<u8>> = vec![
            b"{\"json\": 1}".to_vec(),
            request()[..20].to_vec(),
            trailing,
            deep,
            // An array claiming 2^64-1 items, holding none.
            vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            // {"Period": "x"}
            vec![0xa1, 0x66, b'P', b'e', b'r', b'i', b'o', b'd', 0x61, b'x'],
            // A map with an integer key.
            vec![0xa1, 0x01, 0x01],
            // A stray break.
            vec![0xff],
        ];
        for body in cases {
            let e = decode(op, &body).unwrap_err();
            assert_eq!(e.code(), "SerializationException", "{body:x?}: {e}");
        }
    }

    // Goal: answers carry typed CBOR: f64 doubles (also whole ones), integers, tag-1 times,
    // maps; operations without output answer nothing. Method: encode, then walk the bytes.
    #[test]
    fn answers() {
        let op = shapes::operation("GetMetricStatistics").unwrap();
        let body = encode(
            op,
            &json!({"Label": "L", "Datapoints": [{"Timestamp": 1796637600, "Sum": 2,
                     "ExtendedStatistics": {"p99": 0.5}}]}),
        )
        .unwrap();
        let mut d = Decoder::new(&body);
        assert_eq!(d.map().unwrap(), Some(2));
        assert_eq!(d.str().unwrap(), "Label");
        assert_eq!(d.str().unwrap(), "L");
        assert_eq!(d.str().unwrap(), "Datapoints");
        assert_eq!(d.array().unwrap(), Some(1));
        assert_eq!(d.map().unwrap(), Some(3));
        assert_eq!(d.str().unwrap(), "Timestamp");
        assert_eq!(d.tag().unwrap(), Tag::from(IanaTag::Timestamp));
        assert_eq!(d.datatype().unwrap(), Type::U32);
        assert_eq!(d.u64().unwrap(), 1796637600);
        assert_eq!(d.str().unwrap(), "Sum");
        assert_eq!(d.datatype().unwrap(), Type::F64);
        assert_eq!(d.f64().unwrap(), 2.0);
        assert_eq!(d.str().unwrap(), "ExtendedStatistics");
        assert_eq!(d.map().unwrap(), Some(1));
        assert_eq!(d.str().unwrap(), "p99");
        assert_eq!(d.f64().unwrap(), 0.5);
        assert_eq!(d.position(), body.len());

        let op = shapes::operation("PutMetricData").unwrap();
        assert!(encode(op, &json!({})).unwrap().is_empty());
    }

    // Goal: the error map is what the SDKs read. Method: decode a rendered error.
    #[test]
    fn error_maps() {
        let body = error_body(&Error::unknown_operation("Nope"));
        let mut d = Decoder::new(&body);
        assert_eq!(d.map().unwrap(), Some(2));
        assert_eq!(d.str().unwrap(), "__type");
        assert_eq!(
            d.str().unwrap(),
            "com.amazon.coral.service#UnknownOperationException"
        );
        assert_eq!(d.str().unwrap(), "message");
        assert!(d.str().unwrap().contains("Nope"));
    }
}
