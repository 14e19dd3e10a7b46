//! Users and user groups (RBAC): `CreateUser`, `DescribeUsers`, `ModifyUser`, `DeleteUser`,
//! `CreateUserGroup`, `DescribeUserGroups`, `ModifyUserGroup`, `DeleteUserGroup`.
//!
//! A change that reaches nodes (a user's access string or passwords, a user group's members)
//! bumps the generation of every replication group the user groups are attached to and of
//! their members, so the node reconciler applies the users with `ACL SETUSER`/`ACL DELUSER`
//! and the group reads `modifying` until every node has them. A user or user group reads
//! `modifying` while one of its replication groups has not caught up, else `active`: the
//! status follows the real work.

use ferrocache_model::arn::{self, ArnType};
use ferrocache_model::group::{GroupObserved, GroupSpec};
use ferrocache_model::node::NodeSpec;
use ferrocache_model::user::{
    self, CreateUserRequest, ModifyUserRequest, UserGroupSpec, UserSpec, DEFAULT_USER_ID, USERS_MAX,
};
use ferrocache_model::{paging, Fault, Timestamp};
use ferrocache_store::{tables, update, view, ReadExt, Reader, StoreError, WriteExt, Writer};

use super::{Page, Service, ServiceError};

/// A node's client-facing ACL user: its name and its own rules (access string, passwords).
pub type AclUser = (String, Vec<String>);

/// A user as the API shows it.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The user.
    pub spec: UserSpec,
    /// `active` or `modifying`.
    pub status: &'static str,
    /// `UserGroupIds`: the groups it is in.
    pub user_group_ids: Vec<String>,
    /// `ARN`.
    pub arn: String,
}

/// A user group as the API shows it.
#[derive(Debug, Clone)]
pub struct UserGroupView {
    /// The user group.
    pub spec: UserGroupSpec,
    /// `active` or `modifying`.
    pub status: &'static str,
    /// `ReplicationGroups` it is attached to.
    pub replication_groups: Vec<String>,
    /// `ARN`.
    pub arn: String,
}

/// `CreateUserGroup` / `ModifyUserGroup` as decoded from the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserGroupRequest {
    /// `UserGroupId`
    pub user_group_id: Option<String>,
    /// `Engine` (create)
    pub engine: Option<String>,
    /// `UserIds` (create)
    pub user_ids: Vec<String>,
    /// `UserIdsToAdd` (modify)
    pub user_ids_to_add: Vec<String>,
    /// `UserIdsToRemove` (modify)
    pub user_ids_to_remove: Vec<String>,
}

/// When the built-in `default` user "was created": it always exists.
fn epoch() -> Timestamp {
    Timestamp::default()
}

/// Every user of the region, the built-in `default` first unless one is stored under that id.
fn users(r: &dyn Reader, region: &str) -> Result<Vec<UserSpec>, ServiceError> {
    let stored: Vec<UserSpec> = r
        .docs::<UserSpec>(&tables::region_prefix(region))?
        .into_iter()
        .map(|(_, u)| u)
        .collect();
    let mut all = vec![UserSpec::builtin_default(epoch())];
    all.extend(stored);
    Ok(all)
}

fn user_groups(r: &dyn Reader, region: &str) -> Result<Vec<UserGroupSpec>, ServiceError> {
    Ok(r.docs::<UserGroupSpec>(&tables::region_prefix(region))?
        .into_iter()
        .map(|(_, g)| g)
        .collect())
}

fn groups(r: &dyn Reader, region: &str) -> Result<Vec<GroupSpec>, ServiceError> {
    Ok(r.docs::<GroupSpec>(&tables::region_prefix(region))?
        .into_iter()
        .map(|(_, g)| g)
        .filter(|g| g.deletion.is_none())
        .collect())
}

/// `modifying` while one of `groups` has not carried out its spec yet.
fn status(
    r: &dyn Reader,
    region: &str,
    groups: &[&GroupSpec],
) -> Result<&'static str, ServiceError> {
    for g in groups {
        let observed = r.doc::<GroupObserved>(&tables::key(region, &g.id))?;
        if observed.is_some_and(|o| o.created && o.generation < g.generation) {
            return Ok("modifying");
        }
    }
    Ok("active")
}

fn user_view(
    r: &dyn Reader,
    region: &str,
    account: &str,
    spec: UserSpec,
) -> Result<UserView, ServiceError> {
    let in_groups: Vec<String> = user_groups(r, region)?
        .into_iter()
        .filter(|g| g.user_ids.contains(&spec.id))
        .map(|g| g.id)
        .collect();
    let all = groups(r, region)?;
    let attached: Vec<&GroupSpec> = all
        .iter()
        .filter(|g| g.user_group_ids.iter().any(|id| in_groups.contains(id)))
        .collect();
    Ok(UserView {
        status: status(r, region, &attached)?,
        arn: arn::format(region, account, ArnType::User, &spec.id),
        user_group_ids: in_groups,
        spec,
    })
}

fn user_group_view(
    r: &dyn Reader,
    region: &str,
    account: &str,
    spec: UserGroupSpec,
) -> Result<UserGroupView, ServiceError> {
    let all = groups(r, region)?;
    let attached: Vec<&GroupSpec> = all
        .iter()
        .filter(|g| g.user_group_ids.contains(&spec.id))
        .collect();
    Ok(UserGroupView {
        status: status(r, region, &attached)?,
        replication_groups: attached.iter().map(|g| g.id.clone()).collect(),
        arn: arn::format(region, account, ArnType::UserGroup, &spec.id),
        spec,
    })
}

fn find_user(r: &dyn Reader, region: &str, id: &str) -> Result<UserSpec, ServiceError> {
    let id = id.to_ascii_lowercase();
    users(r, region)?
        .into_iter()
        .rev()
        .find(|u| u.id == id)
        .ok_or_else(|| Fault::UserNotFound(id).into())
}

fn find_user_group(r: &dyn Reader, region: &str, id: &str) -> Result<UserGroupSpec, ServiceError> {
    let id = id.to_ascii_lowercase();
    r.doc::<UserGroupSpec>(&tables::key(region, &id))?
        .ok_or_else(|| Fault::UserGroupNotFound(id).into())
}

/// Bumps the generation of every replication group using one of `user_group_ids`, and of its
/// members, so their nodes get the new users (found through the store's indexes, not by
/// reading every group and node).
fn touch_groups(
    w: &mut dyn Writer,
    region: &str,
    user_group_ids: &[String],
) -> Result<(), ServiceError> {
    let mut group_keys: Vec<String> = Vec::new();
    for id in user_group_ids {
        for key in w.lookup(tables::GROUPS_BY_USER_GROUP, &tables::key(region, id))? {
            if !group_keys.contains(&key) {
                group_keys.push(key);
            }
        }
    }
    for key in group_keys {
        let Some(mut g) = w.doc::<GroupSpec>(&key)? else {
            continue;
        };
        if g.deletion.is_some() {
            continue;
        }
        g.generation += 1;
        w.put_doc(&key, &g)?;
        for node_key in w.lookup(tables::NODES_BY_SHARD, &key)? {
            if let Some(mut node) = w.doc::<NodeSpec>(&node_key)? {
                if node.deletion.is_none() {
                    node.generation += 1;
                    w.put_doc(&node_key, &node)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks that every id in `ids` names a user group of the region (for `UserGroupIds` on a
/// replication group).
///
/// # Errors
/// `UserGroupNotFound`.
pub(crate) fn check_user_groups(
    r: &dyn Reader,
    region: &str,
    ids: &[String],
) -> Result<(), ServiceError> {
    for id in ids {
        find_user_group(r, region, id)?;
    }
    Ok(())
}

/// The ACL users the nodes of `group` run with: the users of its user groups (name and own
/// rules), or `None` when it has none (the `default` user then carries the AUTH token).
///
/// # Errors
/// Store failures.
pub(crate) fn acl_users_of(
    r: &dyn Reader,
    region: &str,
    group: &GroupSpec,
) -> Result<Option<Vec<AclUser>>, StoreError> {
    if group.user_group_ids.is_empty() {
        return Ok(None);
    }
    let mut all = vec![UserSpec::builtin_default(epoch())];
    all.extend(
        r.docs::<UserSpec>(&tables::region_prefix(region))?
            .into_iter()
            .map(|(_, u)| u),
    );
    let mut out: Vec<AclUser> = Vec::new();
    for gid in &group.user_group_ids {
        let Some(ug) = r.doc::<UserGroupSpec>(&tables::key(region, gid))? else {
            continue;
        };
        for uid in &ug.user_ids {
            if let Some(u) = all.iter().rev().find(|u| &u.id == uid) {
                if !out.iter().any(|(name, _)| *name == u.name) {
                    out.push((u.name.clone(), u.acl_rules()));
                }
            }
        }
    }
    Ok(Some(out))
}

impl Service {
    /// `CreateUser`.
    ///
    /// # Errors
    /// `UserAlreadyExists`, `UserQuotaExceeded`, `InvalidParameterValue`,
    /// `InvalidParameterCombination`.
    pub fn create_user(
        &self,
        region: &str,
        req: &CreateUserRequest,
    ) -> Result<UserView, ServiceError> {
        let spec = user::plan_create_user(req, chrono::Utc::now())?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<UserView, ServiceError> {
            let existing = users(w, region)?;
            if existing.iter().any(|u| u.id == spec.id) {
                return Err(Fault::UserAlreadyExists(spec.id.clone()).into());
            }
            if existing.len() > USERS_MAX {
                return Err(Fault::UserQuotaExceeded(format!(
                    "The request cannot be processed because it would exceed the allowed number of users ({USERS_MAX})."
                ))
                .into());
            }
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            user_view(w, region, &account, spec.clone())
        })
    }

    /// `DescribeUsers`: one user, or a page of the region's users (`default` included).
    ///
    /// # Errors
    /// `UserNotFound`, bad paging values.
    pub fn describe_users(
        &self,
        region: &str,
        user_id: Option<&str>,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<Page<UserView>, ServiceError> {
        paging::RECORDS.page_size(max_records)?;
        let account = self.account_id().to_string();
        view(self.store(), |r| -> Result<Page<UserView>, ServiceError> {
            if let Some(id) = user_id {
                let spec = find_user(r, region, id)?;
                return Ok(Page {
                    items: vec![user_view(r, region, &account, spec)?],
                    marker: None,
                });
            }
            let mut all = Vec::new();
            for spec in users(r, region)? {
                all.push(user_view(r, region, &account, spec)?);
            }
            let (items, marker) = paging::page(
                all,
                |u| u.spec.id.clone(),
                marker,
                max_records,
                paging::RECORDS,
            )?;
            Ok(Page { items, marker })
        })
    }

    /// `ModifyUser`: access string, passwords; the nodes of every attached group get them.
    ///
    /// # Errors
    /// `UserNotFound`, `InvalidUserState` (the built-in user), `InvalidParameterValue`,
    /// `InvalidParameterCombination`.
    pub fn modify_user(
        &self,
        region: &str,
        req: &ModifyUserRequest,
    ) -> Result<UserView, ServiceError> {
        let id = req
            .user_id
            .clone()
            .ok_or_else(|| Fault::MissingParameter("UserId".into()))?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<UserView, ServiceError> {
            let current = find_user(w, region, &id)?;
            let spec = user::plan_modify_user(&current, req)?;
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            let in_groups: Vec<String> = user_groups(w, region)?
                .into_iter()
                .filter(|g| g.user_ids.contains(&spec.id))
                .map(|g| g.id)
                .collect();
            touch_groups(w, region, &in_groups)?;
            user_view(w, region, &account, spec)
        })
    }

    /// `DeleteUser`: refused for the built-in user and while the user is in a user group.
    ///
    /// # Errors
    /// `UserNotFound`, `InvalidUserState`, `DefaultUserAssociatedToUserGroup`.
    pub fn delete_user(&self, region: &str, id: &str) -> Result<UserView, ServiceError> {
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<UserView, ServiceError> {
            let spec = find_user(w, region, id)?;
            let view = user_view(w, region, &account, spec.clone())?;
            if let Some(group) = view.user_group_ids.first() {
                if spec.name == DEFAULT_USER_ID {
                    return Err(Fault::DefaultUserAssociatedToUserGroup(format!(
                        "User {} is associated with user group {group} as its default user.",
                        spec.id
                    ))
                    .into());
                }
                return Err(Fault::InvalidUserState(format!(
                    "User {} is associated with user group {group}; remove it from the group first.",
                    spec.id
                ))
                .into());
            }
            if spec.id == DEFAULT_USER_ID {
                return Err(Fault::InvalidUserState(
                    "The default user cannot be deleted.".to_string(),
                )
                .into());
            }
            w.delete_doc::<UserSpec>(&tables::key(region, &spec.id))?;
            Ok(UserView {
                status: "deleting",
                ..view
            })
        })
    }

    /// `CreateUserGroup`.
    ///
    /// # Errors
    /// `UserGroupAlreadyExists`, `UserNotFound`, `DuplicateUserName`, `DefaultUserRequired`,
    /// `InvalidParameterValue`.
    pub fn create_user_group(
        &self,
        region: &str,
        req: &UserGroupRequest,
    ) -> Result<UserGroupView, ServiceError> {
        let id = user::check_id(
            "UserGroupId",
            req.user_group_id
                .as_deref()
                .ok_or_else(|| Fault::MissingParameter("UserGroupId".into()))?,
        )?;
        let engine = req
            .engine
            .clone()
            .ok_or_else(|| Fault::MissingParameter("Engine".into()))?
            .to_ascii_lowercase();
        if engine != user::ENGINE_REDIS {
            return Err(Fault::value(format!("Invalid value {engine} for Engine.")).into());
        }
        let mut user_ids: Vec<String> = req
            .user_ids
            .iter()
            .map(|u| u.to_ascii_lowercase())
            .collect();
        user_ids.sort();
        user_ids.dedup();
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<UserGroupView, ServiceError> {
            if w.doc::<UserGroupSpec>(&tables::key(region, &id))?.is_some() {
                return Err(Fault::UserGroupAlreadyExists(id.clone()).into());
            }
            user::check_group_members(&user_ids, &users(w, region)?)?;
            let spec = UserGroupSpec {
                id: id.clone(),
                engine: engine.clone(),
                user_ids: user_ids.clone(),
                created_at: chrono::Utc::now(),
            };
            w.put_doc(&tables::key(region, &id), &spec)?;
            user_group_view(w, region, &account, spec)
        })
    }

    /// `DescribeUserGroups`.
    ///
    /// # Errors
    /// `UserGroupNotFound`, bad paging values.
    pub fn describe_user_groups(
        &self,
        region: &str,
        id: Option<&str>,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<Page<UserGroupView>, ServiceError> {
        paging::RECORDS.page_size(max_records)?;
        let account = self.account_id().to_string();
        view(
            self.store(),
            |r| -> Result<Page<UserGroupView>, ServiceError> {
                if let Some(id) = id {
                    let spec = find_user_group(r, region, id)?;
                    return Ok(Page {
                        items: vec![user_group_view(r, region, &account, spec)?],
                        marker: None,
                    });
                }
                let mut all = Vec::new();
                for spec in user_groups(r, region)? {
                    all.push(user_group_view(r, region, &account, spec)?);
                }
                let (items, marker) = paging::page(
                    all,
                    |g| g.spec.id.clone(),
                    marker,
                    max_records,
                    paging::RECORDS,
                )?;
                Ok(Page { items, marker })
            },
        )
    }

    /// `ModifyUserGroup`: `UserIdsToAdd`, `UserIdsToRemove`; the attached groups' nodes follow.
    ///
    /// # Errors
    /// `UserGroupNotFound`, `UserNotFound`, `DuplicateUserName`, `DefaultUserRequired`,
    /// `InvalidParameterCombination` (nothing to change).
    pub fn modify_user_group(
        &self,
        region: &str,
        req: &UserGroupRequest,
    ) -> Result<UserGroupView, ServiceError> {
        let id = req
            .user_group_id
            .clone()
            .ok_or_else(|| Fault::MissingParameter("UserGroupId".into()))?;
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<UserGroupView, ServiceError> {
            let current = find_user_group(w, region, &id)?;
            let mut spec = current.clone();
            for u in &req.user_ids_to_remove {
                let u = u.to_ascii_lowercase();
                if !spec.user_ids.contains(&u) {
                    return Err(Fault::UserNotFound(u).into());
                }
                spec.user_ids.retain(|x| *x != u);
            }
            spec.user_ids
                .extend(req.user_ids_to_add.iter().map(|u| u.to_ascii_lowercase()));
            spec.user_ids.sort();
            spec.user_ids.dedup();
            if spec == current {
                return Err(Fault::combination("No modifications were requested").into());
            }
            user::check_group_members(&spec.user_ids, &users(w, region)?)?;
            w.put_doc(&tables::key(region, &spec.id), &spec)?;
            touch_groups(w, region, std::slice::from_ref(&spec.id))?;
            user_group_view(w, region, &account, spec)
        })
    }

    /// `DeleteUserGroup`: refused while a replication group uses it.
    ///
    /// # Errors
    /// `UserGroupNotFound`, `InvalidUserGroupState`.
    pub fn delete_user_group(&self, region: &str, id: &str) -> Result<UserGroupView, ServiceError> {
        let account = self.account_id().to_string();
        update(self.store(), |w| -> Result<UserGroupView, ServiceError> {
            let spec = find_user_group(w, region, id)?;
            let view = user_group_view(w, region, &account, spec.clone())?;
            if let Some(g) = view.replication_groups.first() {
                return Err(Fault::InvalidUserGroupState(format!(
                    "User group {} is associated with replication group {g}; remove it from the replication group first.",
                    spec.id
                ))
                .into());
            }
            w.delete_doc::<UserGroupSpec>(&tables::key(region, &spec.id))?;
            Ok(UserGroupView {
                status: "deleting",
                ..view
            })
        })
    }
}
