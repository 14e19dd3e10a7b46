//! `ListTagsForResource`, `AddTagsToResource`, `RemoveTagsFromResource` on ARNs.

use ferrocache_model::arn::{self, ArnType};
use ferrocache_model::group::{GroupSpec, GroupStatus};
use ferrocache_model::node::NodeSpec;
use ferrocache_model::tag::{self, Tag};
use ferrocache_model::Fault;
use ferrocache_store::{tables, update, ReadExt, WriteExt, Writer};

use super::view::GroupView;
use super::{Service, ServiceError};

/// What a tag operation does to the resource's tags.
enum TagChange<'a> {
    List,
    Add(&'a [Tag]),
    Remove(&'a [String]),
}

impl Service {
    /// `ListTagsForResource`.
    ///
    /// # Errors
    /// `InvalidARN`, the resource's not-found fault.
    pub fn list_tags(&self, resource_name: &str) -> Result<Vec<Tag>, ServiceError> {
        self.change_tags(resource_name, TagChange::List)
    }

    /// `AddTagsToResource`: returns the resource's tags afterwards.
    ///
    /// # Errors
    /// `InvalidARN`, not-found faults, tag limits, `InvalidReplicationGroupState`.
    pub fn add_tags(&self, resource_name: &str, tags: &[Tag]) -> Result<Vec<Tag>, ServiceError> {
        self.change_tags(resource_name, TagChange::Add(tags))
    }

    /// `RemoveTagsFromResource`: returns the resource's tags afterwards.
    ///
    /// # Errors
    /// `InvalidARN`, not-found faults, `TagNotFound`.
    pub fn remove_tags(
        &self,
        resource_name: &str,
        keys: &[String],
    ) -> Result<Vec<Tag>, ServiceError> {
        self.change_tags(resource_name, TagChange::Remove(keys))
    }

    fn change_tags(
        &self,
        resource_name: &str,
        change: TagChange<'_>,
    ) -> Result<Vec<Tag>, ServiceError> {
        let arn = arn::parse(resource_name)?;
        if arn.account != self.account_id() {
            return Err(Fault::InvalidArn(format!(
                "ResourceName {resource_name} is not a valid ElastiCache ARN."
            ))
            .into());
        }
        let account = self.account_id().to_string();
        update(
            self.store(),
            |w: &mut dyn Writer| -> Result<Vec<Tag>, ServiceError> {
                let key = tables::key(&arn.region, &arn.id);
                match arn.kind {
                    ArnType::ReplicationGroup => {
                        let view = GroupView::load(w, &arn.region, &arn.id, &account)?
                            .ok_or_else(|| Fault::ReplicationGroupNotFound(arn.id.clone()))?;
                        if !matches!(change, TagChange::List)
                            && matches!(view.status, GroupStatus::Creating | GroupStatus::Deleting)
                        {
                            return Err(Fault::InvalidReplicationGroupState(
                                "Cluster not in available state to perform tagging operations."
                                    .into(),
                            )
                            .into());
                        }
                        let mut spec: GroupSpec = view.spec;
                        apply(&mut spec.tags, &change)?;
                        if !matches!(change, TagChange::List) {
                            w.put_doc(&key, &spec)?;
                        }
                        Ok(spec.tags)
                    }
                    ArnType::Cluster => {
                        let mut spec: NodeSpec = w
                            .doc(&key)?
                            .ok_or_else(|| Fault::CacheClusterNotFound(arn.id.clone()))?;
                        apply(&mut spec.tags, &change)?;
                        if !matches!(change, TagChange::List) {
                            w.put_doc(&key, &spec)?;
                        }
                        Ok(spec.tags)
                    }
                    ArnType::Snapshot => Err(Fault::SnapshotNotFound(arn.id.clone()).into()),
                    ArnType::ParameterGroup => {
                        super::parameter_group::change_tags(w, &arn.region, &arn.id, |tags| {
                            apply(tags, &change)?;
                            Ok(!matches!(change, TagChange::List))
                        })
                    }
                    ArnType::SubnetGroup => {
                        let write = !matches!(change, TagChange::List);
                        super::subnet_group::change_tags(w, &arn.region, &arn.id, |tags| {
                            apply(tags, &change).map(|()| write)
                        })
                    }
                    ArnType::User => Err(Fault::UserNotFound(arn.id.clone()).into()),
                    ArnType::UserGroup => Err(Fault::UserGroupNotFound(arn.id.clone()).into()),
                }
            },
        )
    }
}

fn apply(tags: &mut Vec<Tag>, change: &TagChange<'_>) -> Result<(), Fault> {
    match change {
        TagChange::List => Ok(()),
        TagChange::Add(new) => tag::merge(tags, new),
        TagChange::Remove(keys) => tag::remove(tags, keys),
    }
}
