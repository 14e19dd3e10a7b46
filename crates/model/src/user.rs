//! Users and user groups (ElastiCache's role-based access control): the rules of `CreateUser`,
//! `ModifyUser`, `CreateUserGroup`, `ModifyUserGroup`, access strings checked as ElastiCache
//! checks them, and the Redis ACL rules a user becomes on the nodes of every replication group
//! its user groups are attached to.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::redis_commands::{CATEGORIES, COMMANDS};
use crate::{Fault, Timestamp};

/// The built-in user every account has: id and name `default`, every command, no password.
pub const DEFAULT_USER_ID: &str = "default";
/// The built-in user's access string.
pub const DEFAULT_ACCESS_STRING: &str = "on ~* +@all";
/// Longest user id, user name and user group id (AWS: 1-40 characters for ids).
pub const ID_LEN_MAX: usize = 40;
/// Passwords a user may have at once.
pub const PASSWORDS_MAX: usize = 2;
/// Shortest and longest password.
pub const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 16..=128;
/// Users in one user group.
pub const USERS_PER_GROUP_MAX: usize = 100;
/// Users per region (AWS's default quota).
pub const USERS_MAX: usize = 1000;
/// The only engine users and user groups are made for here.
pub const ENGINE_REDIS: &str = "redis";

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSpec {
    /// `UserId`, lower-case.
    pub id: String,
    /// `UserName`: the name clients `AUTH` with.
    pub name: String,
    /// `Engine`.
    pub engine: String,
    /// `AccessString` as given.
    pub access_string: String,
    /// SHA-256 (hex) of each password; the passwords themselves are never stored.
    pub password_hashes: Vec<String>,
    /// `NoPasswordRequired` (authentication type `no-password`).
    pub no_password: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A user group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroupSpec {
    /// `UserGroupId`, lower-case.
    pub id: String,
    /// `Engine`.
    pub engine: String,
    /// `UserIds`, sorted.
    pub user_ids: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl UserSpec {
    /// The built-in `default` user.
    #[must_use]
    pub fn builtin_default(created_at: Timestamp) -> UserSpec {
        UserSpec {
            id: DEFAULT_USER_ID.to_string(),
            name: DEFAULT_USER_ID.to_string(),
            engine: ENGINE_REDIS.to_string(),
            access_string: DEFAULT_ACCESS_STRING.to_string(),
            password_hashes: Vec::new(),
            no_password: true,
            created_at,
        }
    }

    /// `Authentication.Type`: `password` or `no-password`.
    #[must_use]
    pub fn authentication_type(&self) -> &'static str {
        if self.no_password {
            "no-password"
        } else {
            "password"
        }
    }

    /// The user's own ACL rules on a node: its access string, then its passwords (as hashes)
    /// or `nopass`. The node adds `reset` first and the restricted commands last.
    #[must_use]
    pub fn acl_rules(&self) -> Vec<String> {
        let mut rules: Vec<String> = self
            .access_string
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if self.no_password {
            rules.push("nopass".to_string());
        }
        rules.extend(self.password_hashes.iter().map(|h| format!("#{h}")));
        rules
    }
}

/// `CreateUser` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateUserRequest {
    /// `UserId`
    pub user_id: Option<String>,
    /// `UserName`
    pub user_name: Option<String>,
    /// `Engine`
    pub engine: Option<String>,
    /// `Passwords`
    pub passwords: Vec<String>,
    /// `AccessString`
    pub access_string: Option<String>,
    /// `NoPasswordRequired`
    pub no_password_required: Option<bool>,
    /// `AuthenticationMode.Type`
    pub authentication_type: Option<String>,
    /// `AuthenticationMode.Passwords`
    pub authentication_passwords: Vec<String>,
}

/// `ModifyUser` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModifyUserRequest {
    /// `UserId`
    pub user_id: Option<String>,
    /// `AccessString`
    pub access_string: Option<String>,
    /// `AppendAccessString`
    pub append_access_string: Option<String>,
    /// `Passwords`
    pub passwords: Vec<String>,
    /// `NoPasswordRequired`
    pub no_password_required: Option<bool>,
    /// `AuthenticationMode.Type`
    pub authentication_type: Option<String>,
    /// `AuthenticationMode.Passwords`
    pub authentication_passwords: Vec<String>,
}

/// Checks a user id or user group id: 1-40 characters, a letter first, then letters, digits
/// and hyphens, no two hyphens in a row, no hyphen at the end. Returned lower-case.
///
/// # Errors
/// [`Fault::InvalidParameterValue`].
pub fn check_id(what: &str, id: &str) -> Result<String, Fault> {
    let valid = !id.is_empty()
        && id.len() <= ID_LEN_MAX
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-');
    if !valid {
        return Err(Fault::value(format!(
            "Invalid {what}: {id}. It must begin with a letter, contain only ASCII letters, digits and hyphens, be 1 to {ID_LEN_MAX} characters long, and must not end with a hyphen or contain two consecutive hyphens."
        )));
    }
    Ok(id.to_ascii_lowercase())
}

/// Checks an access string as ElastiCache does before it reaches Redis: only key, channel and
/// command rules (no passwords, selectors or `reset`), and only Redis 7.0's categories and
/// commands.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] naming the first rule that is not valid.
pub fn check_access_string(access: &str) -> Result<(), Fault> {
    let invalid = |rule: &str, why: &str| {
        Err(Fault::value(format!(
            "Access string {access:?} is not valid: {why} '{rule}'."
        )))
    };
    if access.trim().is_empty() {
        return Err(Fault::value("Access string must not be empty."));
    }
    for rule in access.split_whitespace() {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" | "off" | "allkeys" | "allchannels" | "allcommands" | "nocommands"
            | "resetkeys" | "resetchannels" => continue,
            _ => {}
        }
        if let Some(pattern) = lower
            .strip_prefix('~')
            .or_else(|| lower.strip_prefix("%r~"))
            .or_else(|| lower.strip_prefix("%w~"))
            .or_else(|| lower.strip_prefix("%rw~"))
            .or_else(|| lower.strip_prefix('&'))
        {
            if pattern.is_empty() {
                return invalid(rule, "empty pattern in");
            }
            continue;
        }
        let Some(body) = lower.strip_prefix('+').or_else(|| lower.strip_prefix('-')) else {
            return invalid(rule, "unsupported rule");
        };
        if let Some(category) = body.strip_prefix('@') {
            if category != "all" && CATEGORIES.binary_search(&category).is_err() {
                return invalid(rule, "unknown command category");
            }
            continue;
        }
        // `+cmd|sub` may name a subcommand; `+select|0` (first-argument rules) is allowed by
        // Redis for commands without subcommands, and ElastiCache passes it through.
        let command = body.split('|').next().unwrap_or(body);
        if COMMANDS.binary_search(&body).is_err() && COMMANDS.binary_search(&command).is_err() {
            return invalid(rule, "unknown command");
        }
    }
    Ok(())
}

fn hash(password: &str) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(password.as_bytes());
    let mut text = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// Resolves the password members shared by `CreateUser` and `ModifyUser` into (hashes,
/// no-password). `None` when none was sent.
fn passwords(
    passwords: &[String],
    no_password_required: Option<bool>,
    authentication_type: Option<&str>,
    authentication_passwords: &[String],
) -> Result<Option<(Vec<String>, bool)>, Fault> {
    if !passwords.is_empty() && !authentication_passwords.is_empty() {
        return Err(Fault::combination(
            "Passwords provided via multiple arguments. Use only one argument",
        ));
    }
    let given: &[String] = if passwords.is_empty() {
        authentication_passwords
    } else {
        passwords
    };
    let no_password = match (authentication_type, no_password_required) {
        (Some("iam"), _) => {
            return Err(Fault::value(
                "IAM authentication is not supported by this Ferrocache release yet.",
            ))
        }
        (Some("no-password-required"), Some(false)) | (Some("password"), Some(true)) => {
            return Err(Fault::combination(format!(
                "No password required flag is {} but provided authentication type is {}",
                no_password_required == Some(true),
                authentication_type.unwrap_or_default()
            )))
        }
        (Some("no-password-required"), _) => true,
        (Some("password"), _) => false,
        (Some(other), _) => {
            return Err(Fault::value(format!(
                "Input Authentication type: {other} is not in the allowed list: [password,no-password-required,iam]"
            )))
        }
        (None, flag) => flag.unwrap_or(false),
    };
    if no_password && !given.is_empty() {
        return Err(Fault::combination(
            "Password field is not allowed with authentication type: no-password-required",
        ));
    }
    if !no_password && given.is_empty() {
        if authentication_type.is_none() && no_password_required.is_none() {
            return Ok(None);
        }
        return Err(Fault::value(
            "No password was provided. If you want to create/update the user without password, please use the NoPasswordRequired flag.",
        ));
    }
    if given.len() > PASSWORDS_MAX {
        return Err(Fault::value(format!(
            "A user can have at most {PASSWORDS_MAX} passwords."
        )));
    }
    for p in given {
        if !PASSWORD_LEN.contains(&p.chars().count()) {
            return Err(Fault::value(
                "Passwords length must be between 16-128 characters.",
            ));
        }
        crate::auth::check_token(p).map_err(|_| Fault::value("Invalid password provided."))?;
    }
    Ok(Some((given.iter().map(|p| hash(p)).collect(), no_password)))
}

/// Validates a `CreateUser`.
///
/// # Errors
/// The [`Fault`] AWS answers for the first broken rule.
pub fn plan_create_user(req: &CreateUserRequest, now: Timestamp) -> Result<UserSpec, Fault> {
    let id = check_id(
        "UserId",
        req.user_id
            .as_deref()
            .ok_or_else(|| Fault::MissingParameter("UserId".into()))?,
    )?;
    let name = req
        .user_name
        .clone()
        .ok_or_else(|| Fault::MissingParameter("UserName".into()))?;
    if name.is_empty() || name.len() > ID_LEN_MAX || !name.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Fault::value(format!("Invalid UserName: {name}.")));
    }
    let engine = req
        .engine
        .clone()
        .ok_or_else(|| Fault::MissingParameter("Engine".into()))?
        .to_ascii_lowercase();
    if engine != ENGINE_REDIS {
        return Err(Fault::value(format!("Invalid value {engine} for Engine.")));
    }
    let access_string = req
        .access_string
        .clone()
        .ok_or_else(|| Fault::MissingParameter("AccessString".into()))?;
    check_access_string(&access_string)?;
    let (password_hashes, no_password) = passwords(
        &req.passwords,
        req.no_password_required,
        req.authentication_type.as_deref(),
        &req.authentication_passwords,
    )?
    .ok_or_else(|| {
        Fault::value(
            "No password was provided. If you want to create/update the user without password, please use the NoPasswordRequired flag.",
        )
    })?;
    Ok(UserSpec {
        id,
        name,
        engine,
        access_string,
        password_hashes,
        no_password,
        created_at: now,
    })
}

/// Applies a `ModifyUser` to `current`.
///
/// # Errors
/// The [`Fault`] AWS answers for the first broken rule.
pub fn plan_modify_user(current: &UserSpec, req: &ModifyUserRequest) -> Result<UserSpec, Fault> {
    if current.id == DEFAULT_USER_ID {
        return Err(Fault::InvalidUserState(
            "The default user cannot be modified.".to_string(),
        ));
    }
    let mut spec = current.clone();
    if req.access_string.is_some() && req.append_access_string.is_some() {
        return Err(Fault::combination(
            "AccessString and AppendAccessString cannot be specified together.",
        ));
    }
    if let Some(a) = &req.access_string {
        check_access_string(a)?;
        spec.access_string = a.clone();
    }
    if let Some(a) = &req.append_access_string {
        let joined = format!("{} {a}", current.access_string);
        check_access_string(&joined)?;
        spec.access_string = joined;
    }
    if let Some((hashes, no_password)) = passwords(
        &req.passwords,
        req.no_password_required,
        req.authentication_type.as_deref(),
        &req.authentication_passwords,
    )? {
        spec.password_hashes = hashes;
        spec.no_password = no_password;
    }
    if spec == *current {
        return Err(Fault::combination("No modifications were requested"));
    }
    Ok(spec)
}

/// Checks a user group's members: every id known (`users` holds the known ones), no two
/// with one user name, and one of them named `default`.
///
/// # Errors
/// `UserNotFound`, `DuplicateUserName`, `DefaultUserRequired`, `InvalidParameterValue`.
pub fn check_group_members(user_ids: &[String], users: &[UserSpec]) -> Result<(), Fault> {
    if user_ids.len() > USERS_PER_GROUP_MAX {
        return Err(Fault::value(format!(
            "A user group can have at most {USERS_PER_GROUP_MAX} users."
        )));
    }
    let mut names: Vec<&str> = Vec::new();
    for id in user_ids {
        let user = users
            .iter()
            .find(|u| &u.id == id)
            .ok_or_else(|| Fault::UserNotFound(id.clone()))?;
        if names.contains(&user.name.as_str()) {
            return Err(Fault::DuplicateUserName(format!(
                "Duplicate user name {} in user group.",
                user.name
            )));
        }
        names.push(&user.name);
    }
    if !names.contains(&DEFAULT_USER_ID) {
        return Err(Fault::DefaultUserRequired(
            "User group needs to contain a user with the user name default.".to_string(),
        ));
    }
    Ok(())
}

/// Replication groups (Redis) take at most one user group.
pub const USER_GROUPS_PER_REPLICATION_GROUP_MAX: usize = 1;

/// The `UserGroupIds` of a `CreateReplicationGroup`, checked (existence is the caller's): user
/// groups need encryption in transit, as on ElastiCache, and a group takes one.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] / [`Fault::InvalidParameterCombination`].
pub fn attached_user_groups(
    ids: &[String],
    transit_encryption: bool,
) -> Result<Vec<String>, Fault> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = check_id("UserGroupId", id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Ok(out);
    }
    if !transit_encryption {
        return Err(Fault::combination(
            "User groups can only be used with replication groups where TransitEncryptionEnabled is true.",
        ));
    }
    if out.len() > USER_GROUPS_PER_REPLICATION_GROUP_MAX {
        return Err(Fault::value(format!(
            "A replication group can be associated with at most {USER_GROUPS_PER_REPLICATION_GROUP_MAX} user group."
        )));
    }
    Ok(out)
}

/// The user groups of a replication group after `UserGroupIdsToAdd`/`UserGroupIdsToRemove`.
///
/// # Errors
/// As [`attached_user_groups`]; removing a group that is not attached is
/// [`Fault::InvalidParameterValue`].
pub fn modified_user_groups(
    current: &[String],
    add: &[String],
    remove: &[String],
    transit_encryption: bool,
) -> Result<Vec<String>, Fault> {
    let mut ids: Vec<String> = current.to_vec();
    for id in remove {
        let id = id.to_ascii_lowercase();
        let Some(i) = ids.iter().position(|g| *g == id) else {
            return Err(Fault::value(format!(
                "User group {id} is not associated with the replication group."
            )));
        };
        ids.remove(i);
    }
    ids.extend(add.iter().cloned());
    attached_user_groups(&ids, transit_encryption)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_strings_as_elasticache_checks_them() {
        for ok in [
            "on ~* +@all",
            "on ~app:* &* -@all +get +set",
            "off ~* +@read -keys",
            "on %R~cache:* +@read +client|setname",
            "on allkeys allchannels allcommands -flushall",
        ] {
            assert!(check_access_string(ok).is_ok(), "{ok}");
        }
        for bad in [
            "on ~* +@nosuchcategory",
            "on ~* +nosuchcommand",
            "on >password ~* +@all",
            "on nopass ~* +@all",
            "on reset",
            "",
            "on ~* (+get ~x)",
        ] {
            assert!(check_access_string(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_follow_aws_rules() {
        assert_eq!(check_id("UserId", "App-User1").unwrap(), "app-user1");
        for bad in ["1abc", "a--b", "ab-", "", "a_b", &"a".repeat(41)] {
            assert!(check_id("UserId", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_need_a_password_or_the_flag() {
        let now = chrono::Utc::now();
        let base = CreateUserRequest {
            user_id: Some("app".into()),
            user_name: Some("app".into()),
            engine: Some("redis".into()),
            access_string: Some("on ~* +@all".into()),
            ..Default::default()
        };
        assert!(plan_create_user(&base, now).is_err());
        let with_password = CreateUserRequest {
            passwords: vec!["a-password-of-16+".into()],
            ..base.clone()
        };
        let user = plan_create_user(&with_password, now).unwrap();
        assert_eq!(user.password_hashes.len(), 1);
        assert!(!user.password_hashes[0].contains("password"));
        assert!(user.acl_rules().last().unwrap().starts_with('#'));
        let no_password = CreateUserRequest {
            no_password_required: Some(true),
            ..base.clone()
        };
        assert_eq!(
            plan_create_user(&no_password, now)
                .unwrap()
                .acl_rules()
                .last()
                .unwrap(),
            "nopass"
        );
        let short = CreateUserRequest {
            passwords: vec!["short".into()],
            ..base
        };
        assert_eq!(
            plan_create_user(&short, now),
            Err(Fault::value(
                "Passwords length must be between 16-128 characters."
            ))
        );
    }

    #[test]
    fn groups_need_default_and_unique_names() {
        let now = chrono::Utc::now();
        let default = UserSpec::builtin_default(now);
        let other_default = UserSpec {
            id: "my-default".into(),
            name: "default".into(),
            ..default.clone()
        };
        let app = UserSpec {
            id: "app".into(),
            name: "app".into(),
            ..default.clone()
        };
        let users = [default, other_default, app];
        assert!(check_group_members(&["default".into(), "app".into()], &users).is_ok());
        assert!(matches!(
            check_group_members(&["app".into()], &users),
            Err(Fault::DefaultUserRequired(_))
        ));
        assert!(matches!(
            check_group_members(&["default".into(), "my-default".into()], &users),
            Err(Fault::DuplicateUserName(_))
        ));
        assert!(matches!(
            check_group_members(&["default".into(), "ghost".into()], &users),
            Err(Fault::UserNotFound(_))
        ));
    }
}
