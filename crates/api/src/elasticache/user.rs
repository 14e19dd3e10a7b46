//! `CreateUser`, `DescribeUsers`, `ModifyUser`, `DeleteUser`, `CreateUserGroup`,
//! `DescribeUserGroups`, `ModifyUserGroup`, `DeleteUserGroup`, and the `User` and `UserGroup`
//! shapes (the single-resource operations answer the shape's members directly, as the AWS
//! model's output is the shape itself).

use ferrocache_control::service::user::{UserGroupRequest, UserGroupView, UserView};
use ferrocache_model::user::{CreateUserRequest, ModifyUserRequest};

use super::required;
use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// Redis version users and user groups need (ElastiCache's RBAC came with 6.0).
const MINIMUM_ENGINE_VERSION: &str = "6.0";

/// `CreateUser` → the `User` members.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn create_user(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CreateUserRequest {
        user_id: p.string("UserId"),
        user_name: p.string("UserName"),
        engine: p.string("Engine"),
        passwords: p.list("Passwords", "member")?,
        access_string: p.string("AccessString"),
        no_password_required: p.boolean("NoPasswordRequired")?,
        authentication_type: p.string("AuthenticationMode.Type"),
        authentication_passwords: p.list("AuthenticationMode.Passwords", "member")?,
    };
    let view = call.service.create_user(call.region, &req)?;
    user(x, &view);
    Ok(())
}

/// `DescribeUsers` (`UserId`, `Marker`, `MaxRecords`) → `<Users>`, `[Marker]`.
///
/// # Errors
/// Decoding errors, `UserNotFound`, paging faults.
pub fn describe_users(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let page = call.service.describe_users(
        call.region,
        p.get("UserId"),
        p.get("Marker"),
        p.integer("MaxRecords")?,
    )?;
    x.list("Users", "member", &page.items, user);
    x.text_opt("Marker", page.marker.as_deref());
    Ok(())
}

/// `ModifyUser` → the `User` members.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn modify_user(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = ModifyUserRequest {
        user_id: p.string("UserId"),
        access_string: p.string("AccessString"),
        append_access_string: p.string("AppendAccessString"),
        passwords: p.list("Passwords", "member")?,
        no_password_required: p.boolean("NoPasswordRequired")?,
        authentication_type: p.string("AuthenticationMode.Type"),
        authentication_passwords: p.list("AuthenticationMode.Passwords", "member")?,
    };
    let view = call.service.modify_user(call.region, &req)?;
    user(x, &view);
    Ok(())
}

/// `DeleteUser` → the `User` members, status `deleting`.
///
/// # Errors
/// `UserNotFound`, `InvalidUserState`, `DefaultUserAssociatedToUserGroup`.
pub fn delete_user(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let id = required(call.params, "UserId")?;
    let view = call.service.delete_user(call.region, id)?;
    user(x, &view);
    Ok(())
}

fn user_group_request(call: &Call<'_>) -> Result<UserGroupRequest, ApiError> {
    let p = call.params;
    Ok(UserGroupRequest {
        user_group_id: p.string("UserGroupId"),
        engine: p.string("Engine"),
        user_ids: p.list("UserIds", "member")?,
        user_ids_to_add: p.list("UserIdsToAdd", "member")?,
        user_ids_to_remove: p.list("UserIdsToRemove", "member")?,
    })
}

/// `CreateUserGroup` → the `UserGroup` members.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn create_user_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let view = call
        .service
        .create_user_group(call.region, &user_group_request(call)?)?;
    user_group(x, &view);
    Ok(())
}

/// `DescribeUserGroups` (`UserGroupId`, `Marker`, `MaxRecords`) → `<UserGroups>`, `[Marker]`.
///
/// # Errors
/// Decoding errors, `UserGroupNotFound`, paging faults.
pub fn describe_user_groups(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let page = call.service.describe_user_groups(
        call.region,
        p.get("UserGroupId"),
        p.get("Marker"),
        p.integer("MaxRecords")?,
    )?;
    x.list("UserGroups", "member", &page.items, user_group);
    x.text_opt("Marker", page.marker.as_deref());
    Ok(())
}

/// `ModifyUserGroup` → the `UserGroup` members.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn modify_user_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let view = call
        .service
        .modify_user_group(call.region, &user_group_request(call)?)?;
    user_group(x, &view);
    Ok(())
}

/// `DeleteUserGroup` → the `UserGroup` members, status `deleting`.
///
/// # Errors
/// `UserGroupNotFound`, `InvalidUserGroupState`.
pub fn delete_user_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let id = required(call.params, "UserGroupId")?;
    let view = call.service.delete_user_group(call.region, id)?;
    user_group(x, &view);
    Ok(())
}

/// The members of a `User`, in model order. Passwords are never returned, only their count.
pub fn user(x: &mut Xml, view: &UserView) {
    let spec = &view.spec;
    x.text("UserId", &spec.id);
    x.text("UserName", &spec.name);
    x.text("Status", view.status);
    x.text("Engine", &spec.engine);
    x.text("MinimumEngineVersion", MINIMUM_ENGINE_VERSION);
    x.text("AccessString", &spec.access_string);
    x.text_list(
        "UserGroupIds",
        "member",
        view.user_group_ids.iter().map(String::as_str),
    );
    x.element("Authentication", |x| {
        x.text("Type", spec.authentication_type());
        x.integer(
            "PasswordCount",
            i64::try_from(spec.password_hashes.len()).unwrap_or(0),
        );
    });
    x.text("ARN", &view.arn);
}

/// The members of a `UserGroup`, in model order.
pub fn user_group(x: &mut Xml, view: &UserGroupView) {
    let spec = &view.spec;
    x.text("UserGroupId", &spec.id);
    x.text("Status", view.status);
    x.text("Engine", &spec.engine);
    x.text_list(
        "UserIds",
        "member",
        spec.user_ids.iter().map(String::as_str),
    );
    x.text("MinimumEngineVersion", MINIMUM_ENGINE_VERSION);
    x.text_list(
        "ReplicationGroups",
        "member",
        view.replication_groups.iter().map(String::as_str),
    );
    x.empty("ServerlessCaches");
    x.text("ARN", &view.arn);
}
