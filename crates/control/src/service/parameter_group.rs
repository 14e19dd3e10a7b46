//! `CreateCacheParameterGroup`, `DescribeCacheParameterGroups`, `ModifyCacheParameterGroup`,
//! `ResetCacheParameterGroup`, `DeleteCacheParameterGroup`, `DescribeCacheParameters`,
//! `DescribeEngineDefaultParameters`, and the parameter-group lookups the other operations use.
//!
//! A group's spec holds the values users set and a generation bumped by every change; the node
//! reconciler (`reconcile::parameters`) carries a change to every node that uses the group. The
//! two default groups are built in, read-only and never stored.

use ferrocache_model::arn::{self, ArnType};
use ferrocache_model::engine::{DEFAULT_PARAMETER_GROUP, DEFAULT_PARAMETER_GROUP_CLUSTER_ON};
use ferrocache_model::group::ClusterMode;
use ferrocache_model::group::GroupSpec;
use ferrocache_model::node::NodeSpec;
use ferrocache_model::parameter::{
    self, CreateParameterGroupRequest, DesiredParameters, Parameter, ParameterGroupSpec,
    ParameterNameValue, Source,
};
use ferrocache_model::{paging, Fault};
use ferrocache_store::{tables, update, view, ReadExt, Reader, StoreError, WriteExt};

use super::{Page, Service, ServiceError};

/// A cache parameter group as a client sees it.
#[derive(Debug, Clone)]
pub struct ParameterGroupView {
    /// The group (built for the default groups).
    pub spec: ParameterGroupSpec,
    /// `ARN`.
    pub arn: String,
}

/// One parameter of a group (or of the engine defaults) as a client sees it.
#[derive(Debug, Clone)]
pub struct ParameterView {
    /// The table row.
    pub parameter: &'static Parameter,
    /// `ParameterValue` (`None` for node-type-specific rows and where AWS leaves it out).
    pub value: Option<String>,
    /// `Source`.
    pub source: Source,
    /// `IsModifiable` in this group.
    pub is_modifiable: bool,
}

/// A page of `DescribeCacheParameters` / `DescribeEngineDefaultParameters`.
#[derive(Debug, Clone)]
pub struct ParametersPage {
    /// `Parameters`.
    pub parameters: Vec<ParameterView>,
    /// `CacheNodeTypeSpecificParameters`.
    pub node_type_specific: Vec<ParameterView>,
    /// `Marker` of the next page.
    pub marker: Option<String>,
}

/// The group `name` of `region`: a default group or a stored one.
///
/// # Errors
/// Store failures.
pub fn load(
    r: &dyn Reader,
    region: &str,
    name: &str,
) -> Result<Option<ParameterGroupSpec>, StoreError> {
    let name = name.to_ascii_lowercase();
    if let Some(default) = parameter::default_group(&name, region) {
        return Ok(Some(default));
    }
    r.doc::<ParameterGroupSpec>(&tables::key(region, &name))
}

/// Checks that a cache cluster or replication group running in `cluster_mode` can use the
/// group `name`: it exists and its `cluster-enabled` agrees.
///
/// # Errors
/// `CacheParameterGroupNotFound` (`CacheParameterGroup not found: X`, AWS's wording on create),
/// `InvalidParameterCombination` when cluster mode and the group disagree.
pub(crate) fn check_usable(
    r: &dyn Reader,
    region: &str,
    name: &str,
    cluster_mode: ClusterMode,
) -> Result<(), ServiceError> {
    let group = load(r, region, name)?
        .ok_or_else(|| Fault::CacheParameterGroupNotFound(name.to_string()))?;
    match (
        parameter::cluster_mode_enabled(&group),
        cluster_mode.runs_cluster(),
    ) {
        (true, false) => Err(Fault::combination(
            "Cluster mode should be disabled in parameter group, but found it is enabled.",
        )
        .into()),
        (false, true) => Err(Fault::combination(
            "Cluster mode should be enabled in parameter group, but found it is disabled.",
        )
        .into()),
        _ => Ok(()),
    }
}

/// Whether a replication group or cache cluster of `region` uses the group `name`.
fn in_use(r: &dyn Reader, region: &str, name: &str) -> Result<bool, StoreError> {
    let prefix = tables::region_prefix(region);
    Ok(r.docs::<GroupSpec>(&prefix)?
        .iter()
        .any(|(_, g)| g.parameter_group == name)
        || r.docs::<NodeSpec>(&prefix)?
            .iter()
            .any(|(_, n)| n.parameter_group == name))
}

/// The parameters a node of `spec` should run with: its group's values (a group that vanished
/// reads as the defaults).
///
/// # Errors
/// Store failures.
pub fn desired_for(r: &dyn Reader, spec: &NodeSpec) -> Result<DesiredParameters, StoreError> {
    Ok(match load(r, &spec.region, &spec.parameter_group)? {
        Some(group) => DesiredParameters::of(&group),
        None => DesiredParameters {
            group: spec.parameter_group.clone(),
            generation: 0,
            values: Default::default(),
        },
    })
}

impl ParameterGroupView {
    fn new(spec: ParameterGroupSpec, account: &str) -> Self {
        let arn = arn::format(&spec.region, account, ArnType::ParameterGroup, &spec.name);
        Self { spec, arn }
    }
}

/// Every parameter of `group` in AWS's order, filtered by `source`.
fn parameters_of(group: &ParameterGroupSpec, source: Option<Source>) -> Vec<ParameterView> {
    let custom = !group.is_default();
    parameter::redis7()
        .iter()
        .map(|p| ParameterView {
            parameter: p,
            value: if p.node_type_specific {
                None
            } else {
                group.value(p)
            },
            source: parameter::source(group, p),
            is_modifiable: p.modifiable_in(custom),
        })
        .filter(|v| source.is_none_or(|s| s == v.source))
        .collect()
}

/// Pages `items` (in table order) by position: the marker names the first parameter of the
/// next page, since AWS's order is not the names' sort order.
fn page_parameters(
    items: Vec<ParameterView>,
    marker: Option<&str>,
    max_records: Option<i64>,
) -> Result<ParametersPage, Fault> {
    let size = paging::RECORDS.page_size(max_records)?;
    let start = match marker {
        Some(m) if !m.is_empty() => items
            .iter()
            .position(|v| v.parameter.name == m)
            .ok_or_else(|| Fault::value(format!("Invalid value {m} for Marker.")))?,
        _ => 0,
    };
    let mut rest: Vec<ParameterView> = items.into_iter().skip(start).collect();
    let marker = rest.get(size).map(|v| v.parameter.name.to_string());
    rest.truncate(size);
    let (node_type_specific, parameters) = rest
        .into_iter()
        .partition(|v| v.parameter.node_type_specific);
    Ok(ParametersPage {
        parameters,
        node_type_specific,
        marker,
    })
}

/// The named group, or AWS's not-found fault for a describe.
fn described(r: &dyn Reader, region: &str, name: &str) -> Result<ParameterGroupSpec, ServiceError> {
    load(r, region, name)?.ok_or_else(|| {
        Fault::CacheParameterGroupNotFoundMessage(format!(
            "CacheParameterGroup {} not found.",
            name.to_ascii_lowercase()
        ))
        .into()
    })
}

impl Service {
    /// `CreateCacheParameterGroup`: a new group of family `redis7`, a copy of the defaults.
    ///
    /// # Errors
    /// Rule faults, `CacheParameterGroupAlreadyExists`.
    pub fn create_cache_parameter_group(
        &self,
        region: &str,
        req: &CreateParameterGroupRequest,
    ) -> Result<ParameterGroupView, ServiceError> {
        let spec = parameter::plan_create(req, region, chrono::Utc::now())?;
        let account = self.account_id().to_string();
        update(
            self.store(),
            |w| -> Result<ParameterGroupView, ServiceError> {
                if load(w, region, &spec.name)?.is_some() {
                    return Err(Fault::CacheParameterGroupAlreadyExists(spec.name.clone()).into());
                }
                w.put_doc(&tables::key(region, &spec.name), &spec)?;
                Ok(ParameterGroupView::new(spec.clone(), &account))
            },
        )
    }

    /// `DescribeCacheParameterGroups`: one group, or a page of the default groups and the
    /// region's groups, by name.
    ///
    /// # Errors
    /// `CacheParameterGroupNotFound`, paging faults.
    pub fn describe_cache_parameter_groups(
        &self,
        region: &str,
        name: Option<&str>,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<Page<ParameterGroupView>, ServiceError> {
        paging::RECORDS.page_size(max_records)?;
        let account = self.account_id().to_string();
        view(
            self.store(),
            |r| -> Result<Page<ParameterGroupView>, ServiceError> {
                if let Some(name) = name {
                    return Ok(Page {
                        items: vec![ParameterGroupView::new(
                            described(r, region, name)?,
                            &account,
                        )],
                        marker: None,
                    });
                }
                let mut groups: Vec<ParameterGroupSpec> =
                    [DEFAULT_PARAMETER_GROUP, DEFAULT_PARAMETER_GROUP_CLUSTER_ON]
                        .iter()
                        .filter_map(|n| parameter::default_group(n, region))
                        .collect();
                groups.extend(
                    r.docs::<ParameterGroupSpec>(&tables::region_prefix(region))?
                        .into_iter()
                        .map(|(_, g)| g),
                );
                groups.sort_by(|a, b| a.name.cmp(&b.name));
                let (items, marker) = paging::page(
                    groups,
                    |g| g.name.clone(),
                    marker,
                    max_records,
                    paging::RECORDS,
                )?;
                Ok(Page {
                    items: items
                        .into_iter()
                        .map(|g| ParameterGroupView::new(g, &account))
                        .collect(),
                    marker,
                })
            },
        )
    }

    /// `ModifyCacheParameterGroup`: up to 20 values, all or nothing; returns the group's name.
    ///
    /// # Errors
    /// `CacheParameterGroupNotFound`, rule faults, `InvalidCacheParameterGroupState`.
    pub fn modify_cache_parameter_group(
        &self,
        region: &str,
        name: &str,
        changes: &[ParameterNameValue],
    ) -> Result<String, ServiceError> {
        self.change_values(region, name, |group, in_use| {
            parameter::plan_modify(group, changes, in_use)
        })
    }

    /// `ResetCacheParameterGroup`: all values (`ResetAllParameters`) or the named ones back to
    /// their defaults; returns the group's name.
    ///
    /// # Errors
    /// `CacheParameterGroupNotFound`, rule faults.
    pub fn reset_cache_parameter_group(
        &self,
        region: &str,
        name: &str,
        reset_all: bool,
        names: &[ParameterNameValue],
    ) -> Result<String, ServiceError> {
        self.change_values(region, name, |group, in_use| {
            parameter::plan_reset(group, reset_all, names, in_use)
        })
    }

    /// Writes the values `plan` computes, bumping the generation when they changed.
    fn change_values(
        &self,
        region: &str,
        name: &str,
        plan: impl Fn(
            &ParameterGroupSpec,
            bool,
        ) -> Result<std::collections::BTreeMap<String, String>, Fault>,
    ) -> Result<String, ServiceError> {
        update(self.store(), |w| -> Result<String, ServiceError> {
            let mut group = load(w, region, name)?
                .ok_or_else(|| Fault::CacheParameterGroupNotFound(name.to_ascii_lowercase()))?;
            let used = in_use(w, region, &group.name)?;
            let values = plan(&group, used)?;
            if values != group.values {
                group.values = values;
                group.generation += 1;
                w.put_doc(&tables::key(region, &group.name), &group)?;
            }
            Ok(group.name)
        })
    }

    /// `DeleteCacheParameterGroup`.
    ///
    /// # Errors
    /// `CacheParameterGroupNotFound` (`CacheParameterGroupnot found: X`, AWS's wording),
    /// `InvalidParameterValue` for a default group, `InvalidCacheParameterGroupState` while a
    /// replication group or cache cluster uses it.
    pub fn delete_cache_parameter_group(
        &self,
        region: &str,
        name: &str,
    ) -> Result<(), ServiceError> {
        let name = name.to_ascii_lowercase();
        // AWS's text for deleting a default group is not published; InvalidParameterValue
        // (not the state fault) keeps Terraform from retrying it for minutes.
        if parameter::is_default_name(&name) {
            return Err(Fault::value(format!(
                "The parameter group {name} is a default group and cannot be deleted."
            ))
            .into());
        }
        update(self.store(), |w| -> Result<(), ServiceError> {
            let key = tables::key(region, &name);
            if w.doc::<ParameterGroupSpec>(&key)?.is_none() {
                return Err(Fault::CacheParameterGroupNotFoundMessage(format!(
                    "CacheParameterGroupnot found: {name}"
                ))
                .into());
            }
            if in_use(w, region, &name)? {
                // AWS's own text (as surfaced by its Kubernetes controller).
                return Err(Fault::InvalidCacheParameterGroupState(format!(
                    "One or more cache clusters are still members of this parameter group {name}, so the group cannot be deleted."
                ))
                .into());
            }
            w.delete_doc::<ParameterGroupSpec>(&key)?;
            Ok(())
        })
    }

    /// `DescribeCacheParameters`: the group's parameters, optionally only those of one
    /// `Source`.
    ///
    /// # Errors
    /// `CacheParameterGroupNotFound`, a bad `Source`, paging faults.
    pub fn describe_cache_parameters(
        &self,
        region: &str,
        name: &str,
        source: Option<&str>,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<ParametersPage, ServiceError> {
        let source = source.map(Source::parse).transpose()?;
        let group = view(self.store(), |r| described(r, region, name))?;
        Ok(page_parameters(
            parameters_of(&group, source),
            marker,
            max_records,
        )?)
    }

    /// `DescribeEngineDefaultParameters` for family `redis7`: every parameter, `Source`
    /// `system`, `IsModifiable` as in the defaults.
    ///
    /// # Errors
    /// `InvalidParameterValue` for another family, paging faults.
    pub fn describe_engine_default_parameters(
        &self,
        family: &str,
        marker: Option<&str>,
        max_records: Option<i64>,
    ) -> Result<ParametersPage, ServiceError> {
        parameter::family(family)?;
        let defaults = parameter::default_group(DEFAULT_PARAMETER_GROUP, "")
            .expect("the default group is built in");
        Ok(page_parameters(
            parameters_of(&defaults, None),
            marker,
            max_records,
        )?)
    }
}

/// The tags of the parameter group `name`, after `change` (which says whether it changed
/// them), inside the tag operation's transaction. Default groups carry no tags and refuse
/// changes.
///
/// # Errors
/// `CacheParameterGroupNotFound`, the default-group refusal, tag faults.
pub(crate) fn change_tags(
    w: &mut dyn ferrocache_store::Writer,
    region: &str,
    name: &str,
    change: impl FnOnce(&mut Vec<ferrocache_model::tag::Tag>) -> Result<bool, Fault>,
) -> Result<Vec<ferrocache_model::tag::Tag>, ServiceError> {
    let mut group = load(w, region, name)?
        .ok_or_else(|| Fault::CacheParameterGroupNotFound(name.to_string()))?;
    let mut tags = group.tags.clone();
    if change(&mut tags)? {
        if group.is_default() {
            return Err(parameter::default_group_fault(&group.name).into());
        }
        group.tags = tags.clone();
        w.put_doc(&tables::key(region, &group.name), &group)?;
    }
    Ok(tags)
}
