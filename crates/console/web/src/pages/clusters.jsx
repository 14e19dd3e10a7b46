// ElastiCache → Redis OSS caches: the replication groups list, a group's details (with
// Actions → Failover / Delete) and the "Create Redis cluster" form.
import { useMemo, useState } from "preact/hooks";
import {
  DescribeReplicationGroupsCommand,
  DescribeCacheClustersCommand,
  DescribeCacheSubnetGroupsCommand,
  DescribeCacheEngineVersionsCommand,
  DescribeCacheParameterGroupsCommand,
  DescribeEventsCommand,
  CreateReplicationGroupCommand,
  DeleteReplicationGroupCommand,
  ModifyReplicationGroupCommand,
  RebootCacheClusterCommand,
  TestFailoverCommand,
  IncreaseReplicaCountCommand,
  DecreaseReplicaCountCommand,
  ListTagsForResourceCommand,
  AddTagsToResourceCommand,
  RemoveTagsFromResourceCommand,
} from "@aws-sdk/client-elasticache";
import { DescribeSecurityGroupsCommand } from "@aws-sdk/client-ec2";
import { ec, ec2, errorText } from "../aws.js";
import {
  usePoll, ErrorBox, Link, navigate, Status, Table, Code, CopyButton, Dialog, Field,
  KeyValue, when, Notice, Pager,
} from "../ui.jsx";

export const POLL_MS = 2000;

// Every page of a Describe call (the API's own paging: Marker until there is none).
// `pageSize` is MaxRecords (50: the largest page every Describe call takes, DescribeSnapshots
// stops at 50; 100 for the calls that take it); `onPage(itemsSoFar)` sees each page arrive.
export async function all(send, Command, input, key, pagesMax = 50, pageSize = 50, onPage = null) {
  let marker;
  const items = [];
  for (let page = 0; page < pagesMax; page++) {
    const out = await send(new Command({ ...input, Marker: marker, MaxRecords: pageSize }));
    for (const item of out[key] || []) items.push(item);
    marker = out.Marker;
    if (!marker) break;
    if (onPage) onPage(items.slice());
  }
  return items;
}

// Every replication group, 100 to a page (the API's largest), for up to 50,000 groups.
export const describeGroups = (onPage) =>
  all(ec, DescribeReplicationGroupsCommand, {}, "ReplicationGroups", 500, 100,
    typeof onPage === "function" ? onPage : null);

function clusterMode(group) {
  return group.ClusterEnabled ? "Enabled" : "Disabled";
}

function nodeCount(group) {
  return (group.MemberClusters || []).length;
}

// Engine versions live on the cache clusters (nodes), not on the replication group: read
// them less often than the groups' status.
const describeClusters = () =>
  all(ec, DescribeCacheClustersCommand, {}, "CacheClusters", 500, 100)
    .then((clusters) => new Map(clusters.map((c) => [c.CacheClusterId, c])));

function engineVersion(group, clusters) {
  const member = (group.MemberClusters || []).map((id) => clusters && clusters.get(id)).find(Boolean);
  return (member && member.EngineVersion) || "-";
}

const PAGE_SIZES = [10, 25, 50, 100];

// The list of replication groups: all of them are read (100 to a page of the API, shown as
// the pages arrive), filtered and counted in the browser, and shown a page at a time as the
// AWS console does, so a thousand groups cost a thousand small objects and 50 table rows.
export function ClusterList() {
  const { data, error, loaded, partial } = usePoll(describeGroups, POLL_MS);
  // The nodes (for the engine version column) once the groups are in, not competing with them.
  const groupsIn = loaded && !partial;
  const clusters = usePoll(() => (groupsIn ? describeClusters() : Promise.resolve(null)),
    POLL_MS * 15, [groupsIn]);
  const [find, setFind] = useState("");
  const [pageSize, setPageSize] = useState(50);
  const [page, setPage] = useState(1);
  const groups = data || [];
  const needle = find.trim().toLowerCase();
  const matching = useMemo(() => (needle
    ? groups.filter((g) => (g.ReplicationGroupId || "").toLowerCase().includes(needle)
      || (g.Description || "").toLowerCase().includes(needle))
    : groups), [groups, needle]);
  const pages = Math.max(1, Math.ceil(matching.length / pageSize));
  const current = Math.min(page, pages);
  const first = (current - 1) * pageSize;
  const shown = matching.slice(first, first + pageSize);
  const total = loaded && !partial ? String(groups.length) : "…";
  return (
    <section>
      <div class="page-head">
        <h1>Redis OSS caches <span class="count">({total})</span></h1>
        <Link to="/elasticache/redis/create" class="button primary">Create Redis cluster</Link>
      </div>
      <p class="sub">Redis clusters (replication groups) in this region. The list refreshes
        itself every {POLL_MS / 1000} s.</p>
      <ErrorBox error={error} />
      <div class="table-tools">
        <label class="find">
          <input type="search" value={find} placeholder="Find clusters" aria-label="Find clusters"
            onInput={(e) => { setFind(e.currentTarget.value); setPage(1); }} />
        </label>
        <span class="range" aria-live="polite">
          {matching.length ? `${first + 1}-${first + shown.length} of ${matching.length}${partial ? "+" : ""}` : ""}
        </span>
        <Pager page={current} pages={pages} onPage={setPage} label="Redis clusters pages" />
        <label class="page-size">Page size{" "}
          <select value={pageSize} onChange={(e) => { setPageSize(Number(e.currentTarget.value)); setPage(1); }}>
            {PAGE_SIZES.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
      </div>
      {loaded ? (
        <Table
          label="Redis clusters"
          rowKey={(g) => g.ReplicationGroupId}
          empty={needle ? "No matching Redis clusters" : "No Redis clusters"}
          columns={[
            { title: "Name", render: (g) => (
              <Link to={`/elasticache/redis/${encodeURIComponent(g.ReplicationGroupId)}`}>
                {g.ReplicationGroupId}
              </Link>) },
            { title: "Status", render: (g) => <Status value={g.Status} /> },
            { title: "Engine version", render: (g) => engineVersion(g, clusters.data) },
            { title: "Node type", render: (g) => g.CacheNodeType || "-" },
            { title: "Shards", render: (g) => (g.NodeGroups || []).length },
            { title: "Nodes", render: nodeCount },
            { title: "Cluster mode", render: clusterMode },
            { title: "Description", render: (g) => g.Description || "" },
          ]}
          rows={shown}
        />
      ) : <p>Loading…</p>}
    </section>
  );
}

function endpointText(e) {
  return e && e.Address ? `${e.Address}:${e.Port}` : "";
}

// The lines a person pastes to connect, for one endpoint.
function connectLines(endpoint, tls) {
  if (!endpoint || !endpoint.Address) return [];
  const h = endpoint.Address;
  const p = endpoint.Port;
  if (!tls) {
    return [
      `redis-cli -h ${h} -p ${p}`,
      `python3 -c 'import redis; print(redis.Redis(host="${h}", port=${p}).ping())'`,
      `new Redis({ host: "${h}", port: ${p} }) // ioredis`,
    ];
  }
  return [
    `redis-cli -h ${h} -p ${p} --tls --cacert "$(ferrocache ca path)"`,
    `python3 -c 'import redis; print(redis.Redis(host="${h}", port=${p}, ssl=True, ssl_ca_certs="CA_PATH").ping())'`,
    `new Redis({ host: "${h}", port: ${p}, tls: { ca: fs.readFileSync("CA_PATH") } }) // ioredis`,
  ];
}

function Endpoint({ title, endpoint, tls }) {
  if (!endpoint || !endpoint.Address) return null;
  const text = endpointText(endpoint);
  const lines = connectLines(endpoint, tls);
  return (
    <div class="endpoint">
      <h3>{title}</h3>
      <div class="code">
        <code>{text}</code>
        <CopyButton text={text} label={`Copy ${title}`} />
      </div>
      {lines.map((line) => <Code key={line} text={line} />)}
    </div>
  );
}

// One group and its own nodes (one DescribeCacheClusters per member, not every node of the
// region: the page stays as quick with a thousand other groups).
async function loadDetails(id) {
  const groups = await ec(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id }));
  const group = (groups.ReplicationGroups || [])[0];
  const members = group ? group.MemberClusters || [] : [];
  const clusters = await Promise.all(members.map((member) =>
    ec(new DescribeCacheClustersCommand({ CacheClusterId: member, ShowCacheNodeInfo: true }))
      .then((o) => o.CacheClusters || [])
      // A member just removed (DecreaseReplicaCount) is no longer there: not an error.
      .catch((e) => (e.name === "CacheClusterNotFoundFault" ? [] : Promise.reject(e)))));
  const byId = new Map(clusters.flat().map((c) => [c.CacheClusterId, c]));
  return { group, byId };
}

export async function groupEvents(group, minutes) {
  const members = new Set(group.MemberClusters || []);
  const events = await all(ec, DescribeEventsCommand, { Duration: minutes }, "Events", 10);
  return events.filter(
    (e) => e.SourceIdentifier === group.ReplicationGroupId || members.has(e.SourceIdentifier),
  );
}

export function ClusterDetails({ id }) {
  const { data, error, loaded } = usePoll(() => loadDetails(id), POLL_MS, [id]);
  const events = usePoll(
    () => (data && data.group ? groupEvents(data.group, 24 * 60) : Promise.resolve([])),
    POLL_MS * 2, [id, data && data.group ? (data.group.MemberClusters || []).join() : ""]);
  const arn = data && data.group ? data.group.ARN : null;
  const tags = usePoll(
    () => (arn ? ec(new ListTagsForResourceCommand({ ResourceName: arn })).then((o) => o.TagList || [])
      : Promise.resolve([])),
    POLL_MS * 5, [arn]);
  const [menu, setMenu] = useState(false);
  const [dialog, setDialog] = useState(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState(null);
  const [notice, setNotice] = useState(null);

  if (!loaded) return <p>Loading…</p>;
  if (!data || !data.group) {
    return (
      <section>
        <h1>{id}</h1>
        <ErrorBox error={error || "Not found"} />
        <Link to="/elasticache/redis">Back to Redis OSS caches</Link>
      </section>
    );
  }
  const { group, byId } = data;
  const shards = group.NodeGroups || [];
  const tls = !!group.TransitEncryptionEnabled;
  const replicas = shards.length
    ? Math.max(0, (shards[0].NodeGroupMembers || []).length - 1)
    : Math.max(0, nodeCount(group) - 1);
  const primaryShard = shards.find((s) =>
    (s.NodeGroupMembers || []).some((m) => m.CurrentRole === "primary")) || shards[0];
  const failoverShard = dialog && dialog.shard;
  const setFailoverShard = (shard) => setDialog({ ...dialog, shard });

  const close = () => { setDialog(null); setActionError(null); setBusy(false); };
  const failover = async () => {
    setBusy(true);
    try {
      await ec(new TestFailoverCommand({
        ReplicationGroupId: group.ReplicationGroupId,
        NodeGroupId: failoverShard || (primaryShard && primaryShard.NodeGroupId) || "0001",
      }));
      close();
      setNotice(`Failover started for ${group.ReplicationGroupId}.`);
    } catch (e) {
      setBusy(false);
      setActionError(e);
    }
  };
  const modify = async () => {
    setBusy(true);
    const v = dialog.values;
    const input = {
      ReplicationGroupId: group.ReplicationGroupId,
      ApplyImmediately: true,
      ReplicationGroupDescription: v.description !== (group.Description || "") ? v.description : undefined,
      CacheNodeType: v.nodeType && v.nodeType !== group.CacheNodeType ? v.nodeType : undefined,
      SnapshotRetentionLimit: Number(v.retention) !== (group.SnapshotRetentionLimit || 0) ? Number(v.retention) : undefined,
      MultiAZEnabled: v.multiAz !== (group.MultiAZ === "enabled") ? v.multiAz : undefined,
      AutomaticFailoverEnabled: v.automaticFailover !== (group.AutomaticFailover === "enabled") ? v.automaticFailover : undefined,
      PreferredMaintenanceWindow: v.maintenanceWindow.trim() || undefined,
    };
    const settingsChanged = Object.entries(input).some(([k, x]) =>
      x !== undefined && k !== "ReplicationGroupId" && k !== "ApplyImmediately");
    // The number of replicas is its own call (IncreaseReplicaCount / DecreaseReplicaCount,
    // per shard in cluster mode), as the API has it; the API's refusal shows in the dialog.
    const wanted = String(v.replicas).trim() === "" ? replicas : Number(v.replicas);
    const replicasChanged = wanted !== replicas;
    try {
      if (settingsChanged || !replicasChanged) {
        await ec(new ModifyReplicationGroupCommand(input));
      }
      if (replicasChanged) {
        const Command = wanted > replicas ? IncreaseReplicaCountCommand : DecreaseReplicaCountCommand;
        await ec(new Command({
          ReplicationGroupId: group.ReplicationGroupId,
          NewReplicaCount: wanted,
          ApplyImmediately: true,
        }));
      }
      close();
      setNotice(replicasChanged
        ? `Changing the number of replicas of ${group.ReplicationGroupId} to ${wanted}.`
        : `Modifying ${group.ReplicationGroupId}.`);
    } catch (e) {
      setBusy(false);
      setActionError(e);
    }
  };
  const saveTags = async () => {
    setBusy(true);
    const original = dialog.original;
    const keep = dialog.tags.filter((t) => t.Key.trim() !== "" || t.Value !== "")
      .map((t) => ({ Key: t.Key.trim(), Value: t.Value }));
    const removed = original.filter((o) => !keep.some((t) => t.Key === o.Key)).map((o) => o.Key);
    const changed = keep.filter((t) => !original.some((o) => o.Key === t.Key && o.Value === t.Value));
    try {
      if (removed.length) {
        await ec(new RemoveTagsFromResourceCommand({ ResourceName: group.ARN, TagKeys: removed }));
      }
      if (changed.length) {
        await ec(new AddTagsToResourceCommand({ ResourceName: group.ARN, Tags: changed }));
      }
      close();
      tags.reload();
      setNotice(`Saved the tags of ${group.ReplicationGroupId}.`);
    } catch (e) {
      setBusy(false);
      setActionError(e);
      tags.reload();
      // What was saved before the refusal is the new starting point.
      ec(new ListTagsForResourceCommand({ ResourceName: group.ARN }))
        .then((o) => setDialog((d) => (d && d.kind === "tags" ? { ...d, original: o.TagList || [] } : d)))
        .catch(() => {});
    }
  };
  const openTags = async () => {
    setMenu(false);
    setActionError(null);
    try {
      const out = await ec(new ListTagsForResourceCommand({ ResourceName: group.ARN }));
      const list = (out.TagList || []).map((t) => ({ Key: t.Key, Value: t.Value || "" }));
      setDialog({ kind: "tags", original: list, tags: list.length ? list : [{ Key: "", Value: "" }] });
    } catch (e) {
      setActionError(e);
      setDialog({ kind: "tags", original: [], tags: [{ Key: "", Value: "" }] });
    }
  };
  const setTag = (i, key) => (e) => {
    const value = e.currentTarget.value;
    setDialog({ ...dialog, tags: dialog.tags.map((t, j) => (j === i ? { ...t, [key]: value } : t)) });
  };
  const reboot = async () => {
    setBusy(true);
    try {
      await ec(new RebootCacheClusterCommand({
        CacheClusterId: dialog.node, CacheNodeIdsToReboot: ["0001"],
      }));
      close();
      setNotice(`Rebooting ${dialog.node}.`);
    } catch (e) {
      setBusy(false);
      setActionError(e);
    }
  };
  const setValue = (key) => (e) => {
    const t = e.currentTarget;
    setDialog({ ...dialog, values: { ...dialog.values, [key]: t.type === "checkbox" ? t.checked : t.value } });
  };
  const remove = async () => {
    setBusy(true);
    try {
      await ec(new DeleteReplicationGroupCommand({ ReplicationGroupId: group.ReplicationGroupId }));
      close();
      navigate("/elasticache/redis");
    } catch (e) {
      setBusy(false);
      setActionError(e);
    }
  };

  return (
    <section>
      <div class="page-head">
        <h1>{group.ReplicationGroupId}</h1>
        <div class="menu">
          <button type="button" onClick={() => setMenu(!menu)} aria-expanded={menu}>Actions ▾</button>
          {menu ? (
            <div class="menu-items" role="menu">
              <button type="button" role="menuitem" onClick={() => {
                setMenu(false);
                setDialog({ kind: "failover", shard: primaryShard && primaryShard.NodeGroupId });
              }}>Failover</button>
              <button type="button" role="menuitem" onClick={() => {
                setMenu(false);
                setDialog({
                  kind: "modify",
                  values: {
                    description: group.Description || "",
                    nodeType: group.CacheNodeType || "",
                    retention: String(group.SnapshotRetentionLimit || 0),
                    multiAz: group.MultiAZ === "enabled",
                    automaticFailover: group.AutomaticFailover === "enabled",
                    maintenanceWindow: "",
                    replicas: String(replicas),
                  },
                });
              }}>Modify</button>
              <button type="button" role="menuitem" onClick={openTags}>Manage tags</button>
              <button type="button" role="menuitem" onClick={() => {
                setMenu(false);
                setDialog({ kind: "delete" });
              }}>Delete</button>
            </div>
          ) : null}
        </div>
      </div>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBox error={error} />
      <h2>Cluster details</h2>
      <KeyValue items={[
        ["Status", <Status value={group.Status} />],
        ["Description", group.Description],
        ["Cluster mode", clusterMode(group)],
        ["Engine", "Redis"],
        ["Engine version", engineVersion(group, byId)],
        ["Node type", group.CacheNodeType],
        ["Shards", shards.length],
        ["Number of nodes", nodeCount(group)],
        ["Number of replicas", replicas],
        ["Multi-AZ", group.MultiAZ === "enabled" ? "Enabled" : "Disabled"],
        ["Automatic failover", group.AutomaticFailover === "enabled" ? "Enabled" : "Disabled"],
        ["Encryption in transit", tls ? "Enabled" : "Disabled"],
        ["Encryption at rest", group.AtRestEncryptionEnabled ? "Enabled" : "Disabled"],
        ["Backup retention period", group.SnapshotRetentionLimit ? `${group.SnapshotRetentionLimit} days` : "Disabled"],
        ["ARN", group.ARN],
      ]} />
      <h2>Endpoints</h2>
      <div class="endpoints">
        <Endpoint title="Configuration endpoint" endpoint={group.ConfigurationEndpoint} tls={tls} />
        {!group.ClusterEnabled && shards[0] ? (
          <>
            <Endpoint title="Primary endpoint" endpoint={shards[0].PrimaryEndpoint} tls={tls} />
            <Endpoint title="Reader endpoint" endpoint={shards[0].ReaderEndpoint} tls={tls} />
          </>
        ) : null}
      </div>
      {tls ? <p class="hint">CA_PATH: the file <code>ferrocache ca path</code> prints (add
        <code> --data-dir DIR</code> when Ferrocache runs with one).</p> : null}
      <h2>Tags</h2>
      <Table
        label="Tags"
        rowKey={(t) => t.Key}
        empty="No tags"
        columns={[
          { title: "Key", render: (t) => t.Key },
          { title: "Value", render: (t) => t.Value || "" },
        ]}
        rows={tags.data || []}
      />
      <h2>Nodes</h2>
      <Table
        label="Nodes"
        rowKey={(m) => m.CacheClusterId}
        columns={[
          { title: "Node name", render: (m) => m.CacheClusterId },
          { title: "Shard", render: (m) => m.shard },
          { title: "Status", render: (m) => <Status value={(byId.get(m.CacheClusterId) || {}).CacheClusterStatus} /> },
          { title: "Role", render: (m) => (m.CurrentRole === "primary" ? "Primary" : m.CurrentRole === "replica" ? "Replica" : m.CurrentRole || "-") },
          { title: "Availability Zone", render: (m) => m.PreferredAvailabilityZone || "-" },
          { title: "Endpoint", render: (m) => endpointText(m.ReadEndpoint) },
          { title: "Reboot", render: (m) => (
            <button type="button" aria-label={`Reboot ${m.CacheClusterId}`}
              onClick={() => setDialog({ kind: "reboot", node: m.CacheClusterId })}>Reboot</button>) },
          { title: "Metrics", render: (m) => (
            <Link to={`/cloudwatch/metrics?group=${encodeURIComponent(group.ReplicationGroupId)}&node=${encodeURIComponent(m.CacheClusterId)}`}
              aria-label={`Metrics of ${m.CacheClusterId}`}>Metrics</Link>) },
        ]}
        rows={shards.flatMap((s) => (s.NodeGroupMembers || []).map((m) => ({ ...m, shard: s.NodeGroupId })))}
      />
      <div class="page-head">
        <h2>Events</h2>
        <Link to={`/cloudwatch/metrics?group=${encodeURIComponent(group.ReplicationGroupId)}`}>View metrics</Link>
      </div>
      <EventTable events={events.data || []} />
      {dialog && dialog.kind === "failover" ? (
        <Dialog title="Failover primary" action="Failover" busy={busy} error={actionError}
          onCancel={close} onConfirm={failover}>
          <p>Fail over the primary of <b>{group.ReplicationGroupId}</b>: a replica is promoted,
            and the primary endpoint follows it.</p>
          {shards.length > 1 ? (
            <Field label="Shard">
              <select value={failoverShard} onChange={(e) => setFailoverShard(e.currentTarget.value)}>
                {shards.map((s) => <option key={s.NodeGroupId} value={s.NodeGroupId}>{s.NodeGroupId}</option>)}
              </select>
            </Field>
          ) : null}
        </Dialog>
      ) : null}
      {dialog && dialog.kind === "modify" ? (
        <Dialog title={`Modify ${group.ReplicationGroupId}`} action="Modify" busy={busy}
          error={actionError} onCancel={close} onConfirm={modify}>
          <p>Changes apply immediately.</p>
          <Field label="Number of replicas"
            hint={shards.length > 1 ? "per shard (0-5); IncreaseReplicaCount / DecreaseReplicaCount"
              : "0-5; IncreaseReplicaCount / DecreaseReplicaCount"}>
            <input type="number" min="0" max="5" value={dialog.values.replicas} onInput={setValue("replicas")} />
          </Field>
          <Field label="Description">
            <input value={dialog.values.description} onInput={setValue("description")} />
          </Field>
          <Field label="Node type">
            <select value={dialog.values.nodeType} onChange={setValue("nodeType")}>
              {[...new Set([group.CacheNodeType, ...NODE_TYPES])].filter(Boolean).map((t) => (
                <option key={t} value={t}>{t}</option>))}
            </select>
          </Field>
          <Field label="Backup retention period" hint="days; 0 turns automatic backups off">
            <input type="number" min="0" max="35" value={dialog.values.retention} onInput={setValue("retention")} />
          </Field>
          <Field label="Maintenance window" hint="ddd:hh24:mi-ddd:hh24:mi; empty keeps the current one">
            <input value={dialog.values.maintenanceWindow} onInput={setValue("maintenanceWindow")} />
          </Field>
          <label class="inline"><input type="checkbox" checked={dialog.values.multiAz}
            onChange={setValue("multiAz")} /> Multi-AZ</label>
          <label class="inline"><input type="checkbox" checked={dialog.values.automaticFailover}
            onChange={setValue("automaticFailover")} /> Automatic failover</label>
        </Dialog>
      ) : null}
      {dialog && dialog.kind === "tags" ? (
        <Dialog title={`Manage tags of ${group.ReplicationGroupId}`} action="Save changes" busy={busy}
          error={actionError} onCancel={close} onConfirm={saveTags}>
          <p>Tags are key-value labels on the cluster (AddTagsToResource /
            RemoveTagsFromResource). Keys starting with <code>aws:</code> are reserved.</p>
          {dialog.tags.map((t, i) => (
            <div class="rule-row" key={i}>
              <Field label={`Tag key ${i + 1}`}><input value={t.Key} onInput={setTag(i, "Key")} /></Field>
              <Field label={`Tag value ${i + 1}`}><input value={t.Value} onInput={setTag(i, "Value")} /></Field>
              <button type="button" aria-label={`Remove tag ${i + 1}`}
                onClick={() => setDialog({ ...dialog, tags: dialog.tags.filter((_, j) => j !== i) })}>Remove</button>
            </div>
          ))}
          <button type="button" onClick={() =>
            setDialog({ ...dialog, tags: [...dialog.tags, { Key: "", Value: "" }] })}>Add tag</button>
        </Dialog>
      ) : null}
      {dialog && dialog.kind === "reboot" ? (
        <Dialog title={`Reboot ${dialog.node}`} action="Reboot" busy={busy} error={actionError}
          onCancel={close} onConfirm={reboot}>
          <p>Reboot node {dialog.node}? Its connections are closed while it restarts.</p>
        </Dialog>
      ) : null}
      {dialog && dialog.kind === "delete" ? (
        <Dialog title={`Delete ${group.ReplicationGroupId}`} action="Delete" busy={busy}
          error={actionError} onCancel={close} onConfirm={remove}
          confirmWord={group.ReplicationGroupId}>
          <p>Deleting the cluster deletes its nodes and their data.</p>
        </Dialog>
      ) : null}
    </section>
  );
}

export function EventTable({ events }) {
  return (
    <Table
      label="Events"
      empty="No events"
      columns={[
        { title: "Date", render: (e) => when(e.Date) },
        { title: "Source", render: (e) => e.SourceIdentifier },
        { title: "Type", render: (e) => e.SourceType },
        { title: "Message", render: (e) => e.Message },
      ]}
      rows={[...events].sort((a, b) => new Date(b.Date) - new Date(a.Date))}
    />
  );
}

const NODE_TYPES = [
  "cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium",
  "cache.t3.micro", "cache.t3.small", "cache.t3.medium",
  "cache.t2.micro", "cache.t2.small", "cache.t2.medium",
  "cache.m7g.large", "cache.m7g.xlarge", "cache.m6g.large", "cache.m6g.xlarge",
  "cache.m5.large", "cache.m5.xlarge",
  "cache.r7g.large", "cache.r7g.xlarge", "cache.r6g.large", "cache.r6g.xlarge",
  "cache.r5.large", "cache.r5.xlarge",
];

async function loadCreateChoices() {
  const [subnetGroups, securityGroups, versions, parameterGroups] = await Promise.all([
    all(ec, DescribeCacheSubnetGroupsCommand, {}, "CacheSubnetGroups"),
    ec2(new DescribeSecurityGroupsCommand({})).then((o) => o.SecurityGroups || []),
    ec(new DescribeCacheEngineVersionsCommand({ Engine: "redis" }))
      // The console offers the family ("7.0"), as AWS's does; the API takes either form.
      .then((o) => [...new Set((o.CacheEngineVersions || [])
        .map((v) => (v.EngineVersion || "").split(".").slice(0, 2).join("."))
        .filter(Boolean))])
      .catch(() => ["7.0"]),
    all(ec, DescribeCacheParameterGroupsCommand, {}, "CacheParameterGroups"),
  ]);
  return {
    subnetGroups, securityGroups, parameterGroups,
    versions: versions.length ? versions : ["7.0"],
  };
}

// Which form field an API refusal is about, from the parameter its message names (AWS's
// messages name the request member: "Invalid parameter ReplicationGroupId …").
const FIELD_OF_PARAMETER = [
  ["ReplicationGroupDescription", "description"],
  ["ReplicationGroupId", "name"],
  ["replication group", "name"],
  ["EngineVersion", "engineVersion"],
  ["CacheNodeType", "nodeType"],
  ["node type", "nodeType"],
  ["NumCacheClusters", "replicas"],
  ["ReplicasPerNodeGroup", "replicas"],
  ["NumNodeGroups", "shards"],
  ["CacheSubnetGroup", "subnetGroup"],
  ["subnet group", "subnetGroup"],
  ["SecurityGroup", "securityGroups"],
  ["security group", "securityGroups"],
  ["MultiAZ", "multiAz"],
  ["AutomaticFailover", "automaticFailover"],
  ["SnapshotRetentionLimit", "retention"],
  ["PreferredMaintenanceWindow", "maintenanceWindow"],
  ["maintenance window", "maintenanceWindow"],
  ["CacheParameterGroup", "parameterGroup"],
  ["parameter group", "parameterGroup"],
  ["Port", "port"],
];

function fieldOf(error) {
  const text = `${(error && error.message) || ""}`;
  const hit = FIELD_OF_PARAMETER.find(([name]) => text.toLowerCase().includes(name.toLowerCase()));
  return hit ? hit[1] : null;
}

export function CreateCluster() {
  const choices = usePoll(loadCreateChoices, 0);
  const [form, setForm] = useState({
    clusterMode: "disabled",
    name: "",
    description: "",
    engineVersion: "7.0",
    port: "6379",
    nodeType: "cache.t3.micro",
    replicas: "2",
    shards: "3",
    subnetGroup: "",
    securityGroups: [],
    multiAz: true,
    automaticFailover: true,
    transitEncryption: false,
    parameterGroup: "",
    backups: false,
    retention: "1",
    maintenanceWindow: "",
  });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (key) => (e) => {
    const t = e.currentTarget;
    setForm({ ...form, [key]: t.type === "checkbox" ? t.checked : t.value });
  };
  // The API's refusal, shown next to the field it names (and always under the form).
  const errorField = fieldOf(error);
  const at = (field) => (error && errorField === field
    ? <div class="alert error field-error">{errorText(error)}</div> : null);
  const toggleSg = (id) => (e) => {
    const on = e.currentTarget.checked;
    setForm({
      ...form,
      securityGroups: on ? [...form.securityGroups, id] : form.securityGroups.filter((x) => x !== id),
    });
  };
  const data = choices.data
    || { subnetGroups: [], securityGroups: [], parameterGroups: [], versions: ["7.0"] };
  const subnetGroup = data.subnetGroups.find((g) => g.CacheSubnetGroupName === form.subnetGroup);
  const vpc = subnetGroup ? subnetGroup.VpcId : null;
  const securityGroups = data.securityGroups.filter((g) => !vpc || g.VpcId === vpc);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const enabled = form.clusterMode === "enabled";
    const input = {
      ReplicationGroupId: form.name.trim(),
      ReplicationGroupDescription: form.description,
      Engine: "redis",
      EngineVersion: form.engineVersion || undefined,
      CacheNodeType: form.nodeType,
      Port: form.port ? Number(form.port) : undefined,
      CacheSubnetGroupName: form.subnetGroup || undefined,
      SecurityGroupIds: form.securityGroups.length ? form.securityGroups : undefined,
      MultiAZEnabled: form.multiAz,
      AutomaticFailoverEnabled: form.automaticFailover,
      TransitEncryptionEnabled: form.transitEncryption || undefined,
      SnapshotRetentionLimit: form.backups ? Number(form.retention) : 0,
      PreferredMaintenanceWindow: form.maintenanceWindow.trim() || undefined,
    };
    if (enabled) {
      input.NumNodeGroups = Number(form.shards);
      input.ReplicasPerNodeGroup = Number(form.replicas);
      input.CacheParameterGroupName = form.parameterGroup || "default.redis7.cluster.on";
    } else {
      input.CacheParameterGroupName = form.parameterGroup || undefined;
      input.NumCacheClusters = Number(form.replicas) + 1;
    }
    try {
      await ec(new CreateReplicationGroupCommand(input));
      navigate("/elasticache/redis");
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Create Redis cluster</h1>
      <ErrorBox error={choices.error} />
      <form class="form" onSubmit={submit}>
        <fieldset>
          <legend>Cluster mode</legend>
          <label class="inline"><input type="radio" name="cluster-mode" value="disabled"
            checked={form.clusterMode === "disabled"} onChange={set("clusterMode")} /> Disabled</label>
          <label class="inline"><input type="radio" name="cluster-mode" value="enabled"
            checked={form.clusterMode === "enabled"} onChange={set("clusterMode")} /> Enabled</label>
        </fieldset>
        <h2>Cluster info</h2>
        <Field label="Name" hint="1-40 characters: letters, digits and hyphens; starts with a letter.">
          <input value={form.name} onInput={set("name")} required />
        </Field>
        {at("name")}
        <Field label="Description">
          <input value={form.description} onInput={set("description")} />
        </Field>
        {at("description")}
        <h2>Cluster settings</h2>
        <Field label="Engine version">
          <select value={form.engineVersion} onChange={set("engineVersion")}>
            {data.versions.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </Field>
        {at("engineVersion")}
        <Field label="Parameter group">
          <select value={form.parameterGroup} onChange={set("parameterGroup")}>
            <option value="">default</option>
            {data.parameterGroups.map((g) => (
              <option key={g.CacheParameterGroupName} value={g.CacheParameterGroupName}>
                {g.CacheParameterGroupName}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Port"><input value={form.port} onInput={set("port")} inputMode="numeric" /></Field>
        <Field label="Node type">
          <select value={form.nodeType} onChange={set("nodeType")}>
            {NODE_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </Field>
        {at("nodeType")}
        {form.clusterMode === "enabled" ? (
          <>
            <Field label="Number of shards">
              <input type="number" min="1" max="500" value={form.shards} onInput={set("shards")} />
            </Field>
            {at("shards")}
          </>
        ) : null}
        <Field label="Number of replicas" hint="0-5 replicas per shard">
          <input type="number" min="0" max="5" value={form.replicas} onInput={set("replicas")} />
        </Field>
        {at("replicas")}
        <h2>Connectivity</h2>
        <Field label="Subnet group">
          <select value={form.subnetGroup} onChange={set("subnetGroup")}>
            <option value="">default</option>
            {data.subnetGroups.map((g) => (
              <option key={g.CacheSubnetGroupName} value={g.CacheSubnetGroupName}>
                {g.CacheSubnetGroupName}
              </option>
            ))}
          </select>
        </Field>
        {at("subnetGroup")}
        <fieldset>
          <legend>Security groups</legend>
          {securityGroups.length === 0 ? <p class="hint">No security groups in this VPC.</p> : null}
          {securityGroups.map((g) => (
            <label class="inline" key={g.GroupId}>
              <input type="checkbox" checked={form.securityGroups.includes(g.GroupId)}
                onChange={toggleSg(g.GroupId)} /> {g.GroupName} ({g.GroupId})
            </label>
          ))}
        </fieldset>
        {at("securityGroups")}
        <h2>Availability</h2>
        <label class="inline"><input type="checkbox" checked={form.multiAz} onChange={set("multiAz")} /> Multi-AZ</label>
        <label class="inline"><input type="checkbox" checked={form.automaticFailover}
          onChange={set("automaticFailover")} /> Automatic failover</label>
        <h2>Security</h2>
        <label class="inline"><input type="checkbox" checked={form.transitEncryption}
          onChange={set("transitEncryption")} /> Encryption in transit</label>
        <h2>Backup and maintenance</h2>
        <label class="inline"><input type="checkbox" checked={form.backups} onChange={set("backups")} /> Enable automatic backups</label>
        {form.backups ? (
          <Field label="Backup retention period" hint="days (1-35)">
            <input type="number" min="1" max="35" value={form.retention} onInput={set("retention")} />
          </Field>
        ) : null}
        <Field label="Maintenance window" hint="ddd:hh24:mi-ddd:hh24:mi (UTC), e.g. sun:05:00-sun:06:00; empty for no preference">
          <input value={form.maintenanceWindow} onInput={set("maintenanceWindow")} />
        </Field>
        {at("maintenanceWindow")}
        <ErrorBox error={error} />
        <div class="buttons">
          <Link to="/elasticache/redis" class="button">Cancel</Link>
          <button type="submit" class="primary" disabled={busy}>Create</button>
        </div>
      </form>
    </section>
  );
}

export { errorText };
