//! `ListTagsForResource`, `AddTagsToResource`, `RemoveTagsFromResource` (all three answer the
//! resource's `<TagList>`), and the `Tags.Tag.N.Key/Value` decoder the create operations share.

use ferrocache_model::tag::Tag;

use super::required;
use crate::error::ApiError;
use crate::operation::Call;
use crate::query::Params;
use crate::xml::Xml;

/// `Tags.Tag.N.Key` / `Tags.Tag.N.Value`, in index order. A missing `Value` is the empty value
/// (AWS allows it); a missing `Key` is `MissingParameter` naming the member.
///
/// # Errors
/// Decoding errors, `MissingParameter`.
pub fn decode_tags(params: &Params) -> Result<Vec<Tag>, ApiError> {
    params
        .structures("Tags", "Tag")?
        .into_iter()
        .map(|(n, mut fields)| {
            let key = fields
                .remove("Key")
                .ok_or_else(|| ApiError::missing_parameter(&format!("Tags.Tag.{n}.Key")))?;
            Ok(Tag {
                key,
                value: fields.remove("Value").unwrap_or_default(),
            })
        })
        .collect()
}

/// `ListTagsForResource` → `<TagList>`.
///
/// # Errors
/// `InvalidARN`, the resource's not-found fault.
pub fn list_tags_for_resource(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let tags = call
        .service
        .list_tags(required(call.params, "ResourceName")?)?;
    tag_list(x, &tags);
    Ok(())
}

/// `AddTagsToResource` → the resource's `<TagList>` afterwards.
///
/// # Errors
/// Decoding errors, `InvalidARN`, not-found faults, tag limits.
pub fn add_tags_to_resource(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let resource = required(call.params, "ResourceName")?;
    let tags = decode_tags(call.params)?;
    let tags = call.service.add_tags(resource, &tags)?;
    tag_list(x, &tags);
    Ok(())
}

/// `RemoveTagsFromResource` (`TagKeys.member.N`) → the resource's `<TagList>` afterwards.
///
/// # Errors
/// Decoding errors, `InvalidARN`, not-found faults, `TagNotFound`.
pub fn remove_tags_from_resource(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let resource = required(call.params, "ResourceName")?;
    let keys = call.params.list("TagKeys", "member")?;
    let tags = call.service.remove_tags(resource, &keys)?;
    tag_list(x, &tags);
    Ok(())
}

/// `<TagList><Tag><Key>…</Key><Value>…</Value></Tag>…</TagList>`.
pub fn tag_list(x: &mut Xml, tags: &[Tag]) {
    x.list("TagList", "Tag", tags, |x, tag| {
        x.text("Key", &tag.key);
        x.text("Value", &tag.value);
    });
}
