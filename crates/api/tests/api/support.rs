//! Test harness: the edge over a real `Service` on a temp-dir redb store, requests sent with
//! `tower::ServiceExt::oneshot`, and responses parsed with quick-xml into a small tree so tests
//! assert element names, order and text by path.
//!
//! No reconciler runs, so resources stay `creating`; [`Harness::settle`] plays the part of a
//! reconciler that finished (writes intent and observed facts), for tests that need an
//! `available` group with endpoints.

use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrocache_api::{router, ApiConfig};
use ferrocache_control::{Service, ServiceConfig};
use ferrocache_model::group::{GroupObserved, GroupSpec};
use ferrocache_model::node::{NodeIntent, NodeObserved, NodeSpec, Role};
use ferrocache_model::parameter::{AppliedParameters, ParameterGroupSpec};
use ferrocache_model::shard::{Phase, ShardIntent, ShardSpec};
use ferrocache_store::{tables, update, ReadExt, RedbStore, StoreError, WriteExt, Writer};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The ElastiCache namespace.
pub const NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// A result member: its element name and, for a list, its items' element name.
pub type Member = (&'static str, Option<&'static str>);

/// Each operation's result members in model order, and the member element of its lists (from
/// the AWS model's output shapes). [`Reply::result`] checks every success against it.
pub const RESULT_MEMBERS: &[(&str, &[Member])] = &[
    ("CreateReplicationGroup", &[("ReplicationGroup", None)]),
    (
        "DescribeReplicationGroups",
        &[
            ("Marker", None),
            ("ReplicationGroups", Some("ReplicationGroup")),
        ],
    ),
    ("DeleteReplicationGroup", &[("ReplicationGroup", None)]),
    ("ModifyReplicationGroup", &[("ReplicationGroup", None)]),
    ("ModifyCacheCluster", &[("CacheCluster", None)]),
    (
        "ListAllowedNodeTypeModifications",
        &[
            ("ScaleUpModifications", Some("member")),
            ("ScaleDownModifications", Some("member")),
        ],
    ),
    ("IncreaseReplicaCount", &[("ReplicationGroup", None)]),
    ("DecreaseReplicaCount", &[("ReplicationGroup", None)]),
    ("CreateCacheCluster", &[("CacheCluster", None)]),
    (
        "DescribeCacheClusters",
        &[("Marker", None), ("CacheClusters", Some("CacheCluster"))],
    ),
    ("DeleteCacheCluster", &[("CacheCluster", None)]),
    ("RebootCacheCluster", &[("CacheCluster", None)]),
    (
        "DescribeEvents",
        &[("Marker", None), ("Events", Some("Event"))],
    ),
    (
        "DescribeCacheEngineVersions",
        &[
            ("Marker", None),
            ("CacheEngineVersions", Some("CacheEngineVersion")),
        ],
    ),
    (
        "CreateCacheParameterGroup",
        &[("CacheParameterGroup", None)],
    ),
    (
        "DescribeCacheParameterGroups",
        &[
            ("Marker", None),
            ("CacheParameterGroups", Some("CacheParameterGroup")),
        ],
    ),
    (
        "ModifyCacheParameterGroup",
        &[("CacheParameterGroupName", None)],
    ),
    (
        "ResetCacheParameterGroup",
        &[("CacheParameterGroupName", None)],
    ),
    (
        "DescribeCacheParameters",
        &[
            ("Marker", None),
            ("Parameters", Some("Parameter")),
            (
                "CacheNodeTypeSpecificParameters",
                Some("CacheNodeTypeSpecificParameter"),
            ),
        ],
    ),
    (
        "DescribeEngineDefaultParameters",
        &[("EngineDefaults", None)],
    ),
    ("CreateCacheSubnetGroup", &[("CacheSubnetGroup", None)]),
    (
        "DescribeCacheSubnetGroups",
        &[
            ("Marker", None),
            ("CacheSubnetGroups", Some("CacheSubnetGroup")),
        ],
    ),
    ("ModifyCacheSubnetGroup", &[("CacheSubnetGroup", None)]),
    ("CreateSnapshot", &[("Snapshot", None)]),
    (
        "DescribeSnapshots",
        &[("Marker", None), ("Snapshots", Some("Snapshot"))],
    ),
    ("DeleteSnapshot", &[("Snapshot", None)]),
    ("CopySnapshot", &[("Snapshot", None)]),
    ("ListTagsForResource", &[("TagList", Some("Tag"))]),
    ("AddTagsToResource", &[("TagList", Some("Tag"))]),
    ("RemoveTagsFromResource", &[("TagList", Some("Tag"))]),
    ("CreateUser", USER_MEMBERS),
    (
        "DescribeUsers",
        &[("Users", Some("member")), ("Marker", None)],
    ),
    ("ModifyUser", USER_MEMBERS),
    ("DeleteUser", USER_MEMBERS),
    ("CreateUserGroup", USER_GROUP_MEMBERS),
    (
        "DescribeUserGroups",
        &[("UserGroups", Some("member")), ("Marker", None)],
    ),
    ("ModifyUserGroup", USER_GROUP_MEMBERS),
    ("DeleteUserGroup", USER_GROUP_MEMBERS),
];

/// The `User` shape's members (the single-user operations answer them directly).
const USER_MEMBERS: &[Member] = &[
    ("UserId", None),
    ("UserName", None),
    ("Status", None),
    ("Engine", None),
    ("MinimumEngineVersion", None),
    ("AccessString", None),
    ("UserGroupIds", Some("member")),
    ("Authentication", None),
    ("ARN", None),
];

/// The `UserGroup` shape's members.
const USER_GROUP_MEMBERS: &[Member] = &[
    ("UserGroupId", None),
    ("Status", None),
    ("Engine", None),
    ("UserIds", Some("member")),
    ("MinimumEngineVersion", None),
    ("ReplicationGroups", Some("member")),
    ("ServerlessCaches", Some("member")),
    ("ARN", None),
];

/// A botocore-style `Authorization` header for `region` (shape of a `--debug` capture).
pub fn authorization(region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/{region}/elasticache/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )
}

/// An edge over a fresh store.
pub struct Harness {
    /// The router under test.
    pub app: axum::Router,
    /// The store behind the service (tests write observed facts into it).
    pub store: Arc<RedbStore>,
    /// Keeps the store's directory alive.
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Default settings (`us-east-1`, 1 MiB bodies).
    pub fn new() -> Self {
        Self::with_config(ApiConfig::default())
    }

    /// Custom edge settings.
    pub fn with_config(config: ApiConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(RedbStore::open(&dir.path().join("store.redb")).expect("store"));
        let service = Service::new(
            store.clone(),
            ServiceConfig {
                account_id: "123456789012".into(),
                engine_version_running: "7.0.15".into(),
                nodes_dir: None,
            },
        );
        Self {
            app: router(service, config),
            store,
            _dir: dir,
        }
    }

    /// `POST /` with the form `pairs` (plus `Version`), signed for `us-east-1`.
    pub async fn call(&self, pairs: &[(&str, &str)]) -> Reply {
        self.call_in("us-east-1", pairs).await
    }

    /// `POST /` with the form `pairs` (plus `Version`), signed for `region`.
    pub async fn call_in(&self, region: &str, pairs: &[(&str, &str)]) -> Reply {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            form.append_pair(k, v);
        }
        form.append_pair("Version", "2015-02-02");
        let request = Request::post("/")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("authorization", authorization(region))
            .header("x-amz-date", "20261121T220114Z")
            .body(Body::from(form.finish()))
            .expect("request");
        self.send(request).await
    }

    /// Sends any request.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = header(&response, "content-type");
        let request_id = header(&response, "x-amzn-requestid");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = String::from_utf8(bytes.to_vec()).expect("utf-8 body");
        // HEAD answers carry no body; everything else must be one XML document.
        let doc = if body.is_empty() {
            Element::default()
        } else {
            parse(&body)
        };
        Reply {
            status,
            content_type,
            request_id,
            body,
            doc,
        }
    }

    /// Plays a reconciler that finished its work: every group and node gets an intent (zones
    /// a, b, c in member order; loopback endpoints) and observed facts matching its spec.
    pub fn settle(&self) {
        update(
            self.store.as_ref(),
            |w: &mut dyn Writer| -> Result<(), StoreError> {
                let mut address = 10u8;
                let mut next = || {
                    address += 1;
                    Ipv4Addr::new(127, 77, 0, address)
                };
                let groups = w.docs::<GroupSpec>("")?;
                let nodes = w.docs::<NodeSpec>("")?;
                for (key, group) in &groups {
                    for (shard_key, shard) in w.docs::<ShardSpec>(&format!("{key}/"))? {
                        let primary = nodes
                            .iter()
                            .map(|(_, n)| n)
                            .filter(|n| {
                                n.group_id.as_deref() == Some(group.id.as_str())
                                    && n.shard_id.as_deref() == Some(shard.id.as_str())
                            })
                            .map(|n| n.id.clone())
                            .min()
                            .unwrap_or_default();
                        let intent = ShardIntent {
                            primary_endpoint: next(),
                            reader_endpoint: next(),
                            primary,
                            epoch: 1,
                            phase: Phase::Steady,
                        };
                        w.put_doc(&shard_key, &intent)?;
                    }
                    w.put_doc(
                        key,
                        &GroupObserved {
                            created: true,
                            generation: group.generation,
                            failed: None,
                            node_type: Some(group.node_type.clone()),
                            node_type_refused: None,
                            restore_failed: false,
                            ..GroupObserved::default()
                        },
                    )?;
                }
                let zones = ['a', 'b', 'c'];
                for (i, (key, node)) in nodes.iter().enumerate() {
                    let zone = format!("{}{}", node.region, zones[i % zones.len()]);
                    w.put_doc(
                        key,
                        &NodeIntent {
                            zone,
                            endpoint: next(),
                            private: next(),
                            host: None,
                        },
                    )?;
                    let role = node.group_id.as_ref().map(|g| {
                        let first = nodes
                            .iter()
                            .filter(|(_, n)| n.group_id.as_ref() == Some(g))
                            .map(|(_, n)| &n.id)
                            .min();
                        if first == Some(&node.id) {
                            Role::Primary
                        } else {
                            Role::Replica
                        }
                    });
                    // The node runs its parameter group's current values.
                    let group_key = tables::key(&node.region, &node.parameter_group);
                    let (generation, values) = match w.doc::<ParameterGroupSpec>(&group_key)? {
                        Some(g) => (g.generation, g.values),
                        None => (0, Default::default()),
                    };
                    let parameters = AppliedParameters {
                        group: node.parameter_group.clone(),
                        generation,
                        values,
                        node_type: Some(node.node_type.clone()),
                    };
                    let observed = NodeObserved {
                        created: true,
                        generation: node.generation,
                        reboots: node.reboots,
                        role,
                        link_up: true,
                        pid: Some(4242),
                        healthy: true,
                        node_created_at: Some(node.created_at),
                        failed: None,
                        recovering: false,
                        parameters: Some(parameters),
                        node_type: Some(node.node_type.clone()),
                        node_type_refused: None,
                        start_failures: 0,
                        down_since: None,
                        seeded: false,
                        restore_failed: false,
                        epoch: 1,
                        stream_check: None,
                        cluster_node_id: None,
                        cluster_engine: node.cluster_mode.runs_cluster(),
                        in_role: true,
                        used_memory_bytes: 0,
                        tls: None,
                        left_on: None,
                    };
                    w.put_doc(key, &observed)?;
                }
                Ok(())
            },
        )
        .expect("settle");
    }

    /// Writes raw bytes under a key of a table (to break a document on purpose).
    pub fn put_raw(&self, table: &str, key: &str, bytes: &[u8]) {
        update(
            self.store.as_ref(),
            |w: &mut dyn Writer| -> Result<(), StoreError> { w.put(table, key, bytes) },
        )
        .expect("put");
    }

    /// The key of a regional resource.
    pub fn key(region: &str, id: &str) -> String {
        tables::key(region, id)
    }
}

fn header(response: &axum::response::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `x-amzn-RequestId`.
    pub request_id: Option<String>,
    /// The raw body.
    pub body: String,
    /// The body as a tree (the root element).
    pub doc: Element,
}

impl Reply {
    /// Asserts a success and returns the `<Action>Result` element, after checking the envelope.
    pub fn result(&self, action: &str) -> &Element {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.assert_envelope();
        assert_eq!(self.doc.name, format!("{action}Response"));
        let names = self.doc.child_names();
        assert_eq!(
            names,
            [format!("{action}Result").as_str(), "ResponseMetadata"],
            "{}",
            self.body
        );
        assert_eq!(
            self.doc.text("ResponseMetadata/RequestId"),
            self.request_id.as_deref()
        );
        let result = self.doc.get(&format!("{action}Result")).expect("result");
        check_result_members(action, result);
        result
    }

    /// Asserts an `ErrorResponse` with `code` and `status`; returns the message.
    pub fn error(&self, code: &str, status: u16) -> String {
        assert_eq!(
            (self.status.as_u16(), self.doc.text("Error/Code")),
            (status, Some(code)),
            "{}",
            self.body
        );
        self.assert_envelope();
        assert_eq!(self.doc.name, "ErrorResponse");
        assert_eq!(self.doc.child_names(), ["Error", "RequestId"]);
        assert_eq!(
            self.doc.get("Error").expect("error").child_names(),
            ["Type", "Code", "Message"]
        );
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        assert_eq!(self.doc.text("Error/Type"), Some(kind));
        assert_eq!(self.doc.text("RequestId"), self.request_id.as_deref());
        self.doc
            .text("Error/Message")
            .unwrap_or_default()
            .to_string()
    }

    /// Asserts the code only, for any 4xx.
    pub fn error_code(&self) -> &str {
        assert!(
            self.status.is_client_error(),
            "{} {}",
            self.status,
            self.body
        );
        self.assert_envelope();
        self.doc.text("Error/Code").unwrap_or_default()
    }

    fn assert_envelope(&self) {
        assert_eq!(self.content_type.as_deref(), Some("text/xml"));
        assert_eq!(
            self.doc.namespace.as_deref(),
            Some(NAMESPACE),
            "{}",
            self.body
        );
        let id = self.request_id.as_deref().expect("x-amzn-RequestId");
        assert!(uuid_like(id), "{id}");
    }
}

/// The result's children are model members in model order; every required one (all but
/// `Marker`) is there; list items use the model's member element.
fn check_result_members(action: &str, result: &Element) {
    let members = RESULT_MEMBERS
        .iter()
        .find(|(a, _)| *a == action)
        .unwrap_or_else(|| panic!("{action} missing from RESULT_MEMBERS"))
        .1;
    let model: Vec<&str> = members.iter().map(|(name, _)| *name).collect();
    crate::assert_model_order(&result.child_names(), &model);
    for (name, item) in members {
        if *name != "Marker" {
            assert!(result.get(name).is_some(), "{action}Result lacks {name}");
        }
        if let (Some(list), Some(item)) = (result.get(name), item) {
            assert!(
                list.children.iter().all(|c| c.name == *item),
                "{action}: {name} items must be <{item}>"
            );
        }
    }
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.bytes().filter(|b| *b == b'-').count() == 4
}

/// An XML element: name, namespace (root only), children in order, text.
#[derive(Debug, Default, Clone)]
pub struct Element {
    /// Local name.
    pub name: String,
    /// `xmlns` when given.
    pub namespace: Option<String>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Unescaped text content.
    pub text: String,
}

impl Element {
    /// The first element at `path` (`A/B/C`, relative to this element).
    pub fn get(&self, path: &str) -> Option<&Element> {
        let mut at = self;
        for step in path.split('/') {
            at = at.children.iter().find(|c| c.name == step)?;
        }
        Some(at)
    }

    /// Every element at `path` (the last step may match several siblings).
    pub fn all(&self, path: &str) -> Vec<&Element> {
        match path.rsplit_once('/') {
            None => self.children.iter().filter(|c| c.name == path).collect(),
            Some((parent, last)) => self
                .get(parent)
                .map(|p| p.children.iter().filter(|c| c.name == last).collect())
                .unwrap_or_default(),
        }
    }

    /// The text at `path`.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.get(path).map(|e| e.text.as_str())
    }

    /// Names of the children, in order.
    pub fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Parses `body` strictly (well-formed XML, one root) into its root element.
pub fn parse(body: &str) -> Element {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<(Element, String)> = vec![(Element::default(), String::new())];
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML ({e}): {body}"))
        {
            Event::Start(start) => stack.push((open(&start), String::new())),
            Event::Empty(start) => stack
                .last_mut()
                .expect("parent")
                .0
                .children
                .push(open(&start)),
            Event::End(_) => {
                let (mut element, raw) = stack.pop().expect("open element");
                element.text = quick_xml::escape::unescape(&raw)
                    .expect("valid entities")
                    .into_owned();
                stack.last_mut().expect("parent").0.children.push(element);
            }
            Event::Text(text) => stack
                .last_mut()
                .expect("open")
                .1
                .push_str(&text.into_inner()),
            Event::GeneralRef(r) => {
                let raw = r.into_inner();
                stack
                    .last_mut()
                    .expect("open")
                    .1
                    .push_str(&format!("&{raw};"));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let (root, _) = stack.pop().expect("document");
    assert!(stack.is_empty(), "unclosed elements: {body}");
    assert_eq!(root.children.len(), 1, "one root element: {body}");
    root.children.into_iter().next().expect("root")
}

fn open(start: &quick_xml::events::BytesStart<'_>) -> Element {
    let name = start.local_name().as_ref().to_string();
    let namespace = start
        .attributes()
        .filter_map(Result::ok)
        .find(|a| a.key.as_ref() == "xmlns")
        .map(|a| a.value.to_string());
    Element {
        name,
        namespace,
        ..Default::default()
    }
}
