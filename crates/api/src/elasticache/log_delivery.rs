//! `LogDeliveryConfigurations`: decoding the requests of create and modify operations, and
//! writing a group's or cache cluster's deliveries with their status.

use ferrocache_model::log_delivery::{LogDeliveryRequest, LogDeliveryView};

use crate::error::ApiError;
use crate::query::{echo, DecodeError, Params};
use crate::xml::Xml;

/// `LogDeliveryConfigurations.LogDeliveryConfigurationRequest.N.*`, in index order.
///
/// # Errors
/// A malformed list, or an `Enabled` that is not a boolean.
pub fn requests(p: &Params) -> Result<Vec<LogDeliveryRequest>, ApiError> {
    let mut out = Vec::new();
    let (list, member) = (
        "LogDeliveryConfigurations",
        "LogDeliveryConfigurationRequest",
    );
    for (n, fields) in p.structures(list, member)? {
        let get = |name: &str| fields.get(name).cloned();
        let enabled = match fields.get("Enabled") {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            Some(v) => {
                return Err(DecodeError::Boolean {
                    name: format!("{list}.{member}.{n}.Enabled"),
                    value: echo(v),
                }
                .into())
            }
        };
        out.push(LogDeliveryRequest {
            log_type: get("LogType"),
            destination_type: get("DestinationType"),
            log_group: get("DestinationDetails.CloudWatchLogsDetails.LogGroup"),
            delivery_stream: get("DestinationDetails.KinesisFirehoseDetails.DeliveryStream"),
            log_format: get("LogFormat"),
            enabled,
        });
    }
    Ok(out)
}

/// `<LogDeliveryConfigurations>` with one `<LogDeliveryConfiguration>` per row.
pub fn write(x: &mut Xml, rows: &[LogDeliveryView]) {
    x.list(
        "LogDeliveryConfigurations",
        "LogDeliveryConfiguration",
        rows,
        |x, row| {
            let d = &row.delivery;
            x.text("LogType", d.log_type.as_str());
            x.text("DestinationType", d.destination_type.as_str());
            destination(x, d);
            x.text("LogFormat", d.format.as_str());
            x.text("Status", row.status.as_str());
            x.text_opt("Message", row.message.as_deref());
        },
    );
}

/// `<DestinationDetails>` of a delivery.
fn destination(x: &mut Xml, d: &ferrocache_model::log_delivery::LogDelivery) {
    use ferrocache_model::log_delivery::DestinationType;
    x.element("DestinationDetails", |x| match d.destination_type {
        DestinationType::CloudWatchLogs => x.element("CloudWatchLogsDetails", |x| {
            x.text("LogGroup", &d.destination);
        }),
        DestinationType::KinesisFirehose => x.element("KinesisFirehoseDetails", |x| {
            x.text("DeliveryStream", &d.destination);
        }),
    });
}
