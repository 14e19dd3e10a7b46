// ElastiCache → Parameter groups (view, create, edit user values, pending reboots), Backups
// (create, copy, restore into a new cluster, delete) and User management (users and user
// groups: create, delete).
import { useState } from "preact/hooks";
import {
  DescribeCacheParameterGroupsCommand,
  CreateCacheParameterGroupCommand,
  DeleteCacheParameterGroupCommand,
  DescribeCacheParametersCommand,
  ModifyCacheParameterGroupCommand,
  DescribeCacheClustersCommand,
  DescribeSnapshotsCommand,
  CreateSnapshotCommand,
  CopySnapshotCommand,
  DeleteSnapshotCommand,
  CreateReplicationGroupCommand,
  DescribeUsersCommand,
  CreateUserCommand,
  DeleteUserCommand,
  DescribeUserGroupsCommand,
  CreateUserGroupCommand,
  DeleteUserGroupCommand,
} from "@aws-sdk/client-elasticache";
import { ec } from "../aws.js";
import { all, describeGroups } from "./clusters.jsx";
import {
  usePoll, ErrorBox, Table, Status, when, Link, navigate, Field, Dialog, Notice,
} from "../ui.jsx";

// ---- Parameter groups ----------------------------------------------------------------------

const FAMILIES = ["redis7"];

export function ParameterGroups() {
  const { data, error, loaded, reload } = usePoll(
    () => all(ec, DescribeCacheParameterGroupsCommand, {}, "CacheParameterGroups"), 10000);
  const [form, setForm] = useState({ name: "", family: "redis7", description: "" });
  const [createError, setCreateError] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    setCreateError(null);
    try {
      await ec(new CreateCacheParameterGroupCommand({
        CacheParameterGroupName: form.name.trim(),
        CacheParameterGroupFamily: form.family,
        Description: form.description,
      }));
      setForm({ ...form, name: "", description: "" });
      reload();
    } catch (err) {
      setCreateError(err);
    }
  };
  return (
    <section>
      <h1>Parameter groups</h1>
      <ErrorBox error={error} />
      {loaded ? (
        <Table label="Parameter groups" rowKey={(g) => g.CacheParameterGroupName}
          columns={[
            { title: "Name", render: (g) => (
              <Link to={`/elasticache/parameter-groups/${encodeURIComponent(g.CacheParameterGroupName)}`}>
                {g.CacheParameterGroupName}</Link>) },
            { title: "Family", render: (g) => g.CacheParameterGroupFamily },
            { title: "Description", render: (g) => g.Description },
            { title: "Type", render: (g) => (g.CacheParameterGroupName.startsWith("default.") ? "Default" : "Custom") },
          ]}
          rows={data || []} />
      ) : <p>Loading…</p>}
      <h2>Create parameter group</h2>
      <form class="form row" onSubmit={create}>
        <Field label="Name"><input value={form.name} required
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} /></Field>
        <Field label="Description"><input value={form.description}
          onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} /></Field>
        <Field label="Family">
          <select value={form.family} onChange={(e) => setForm({ ...form, family: e.currentTarget.value })}>
            {FAMILIES.map((f) => <option key={f} value={f}>{f}</option>)}
          </select>
        </Field>
        <div class="buttons"><button type="submit" class="primary">Create parameter group</button></div>
      </form>
      <ErrorBox error={createError} />
    </section>
  );
}

async function loadParameterGroup(name) {
  const [groups, parameters, clusters] = await Promise.all([
    ec(new DescribeCacheParameterGroupsCommand({ CacheParameterGroupName: name })),
    all(ec, DescribeCacheParametersCommand, { CacheParameterGroupName: name }, "Parameters"),
    all(ec, DescribeCacheClustersCommand, {}, "CacheClusters", 500, 100),
  ]);
  const users = clusters.filter((c) =>
    c.CacheParameterGroup && c.CacheParameterGroup.CacheParameterGroupName === name);
  return { group: (groups.CacheParameterGroups || [])[0], parameters, users };
}

export function ParameterGroupDetails({ id }) {
  const { data, error, loaded, reload } = usePoll(() => loadParameterGroup(id), 5000, [id]);
  const [edits, setEdits] = useState({});
  const [filter, setFilter] = useState("");
  const [saveError, setSaveError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [confirm, setConfirm] = useState(false);
  const [deleteError, setDeleteError] = useState(null);
  if (!loaded) return <p>Loading…</p>;
  if (!data || !data.group) return <section><h1>{id}</h1><ErrorBox error={error || "Not found"} /></section>;
  const isDefault = id.startsWith("default.");
  const changed = Object.entries(edits);
  const save = async () => {
    setSaveError(null);
    try {
      await ec(new ModifyCacheParameterGroupCommand({
        CacheParameterGroupName: id,
        ParameterNameValues: changed.map(([ParameterName, ParameterValue]) => ({ ParameterName, ParameterValue })),
      }));
      setEdits({});
      setNotice(`Saved ${changed.length} parameter value(s).`);
      reload();
    } catch (err) {
      setSaveError(err);
    }
  };
  const remove = async () => {
    try {
      await ec(new DeleteCacheParameterGroupCommand({ CacheParameterGroupName: id }));
      navigate("/elasticache/parameter-groups");
    } catch (err) {
      setDeleteError(err);
    }
  };
  const shown = data.parameters.filter((p) => p.ParameterName.includes(filter.trim()));
  return (
    <section>
      <div class="page-head">
        <h1>{id}</h1>
        {isDefault ? null : <button type="button" onClick={() => setConfirm(true)}>Delete</button>}
      </div>
      <p class="sub">{data.group.Description} ({data.group.CacheParameterGroupFamily})
        {isDefault ? " — a default parameter group cannot be modified." : ""}</p>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBox error={error} />
      <h2>Nodes using this group</h2>
      <Table label="Nodes using this group" empty="No nodes use this group"
        columns={[
          { title: "Node", render: (c) => c.CacheClusterId },
          { title: "Cluster", render: (c) => c.ReplicationGroupId || "-" },
          { title: "Parameter status", render: (c) => <Status value={c.CacheParameterGroup.ParameterApplyStatus} /> },
        ]}
        rows={data.users} />
      <div class="page-head">
        <h2>Parameters</h2>
        <div class="buttons">
          <button type="button" class="primary" disabled={!changed.length || isDefault} onClick={save}>
            Save changes{changed.length ? ` (${changed.length})` : ""}</button>
        </div>
      </div>
      <ErrorBox error={saveError} />
      <Field label="Find parameters"><input value={filter} onInput={(e) => setFilter(e.currentTarget.value)} /></Field>
      <Table label="Parameters" rowKey={(p) => p.ParameterName}
        columns={[
          { title: "Name", render: (p) => p.ParameterName },
          { title: "Value", render: (p) => (isDefault || !p.IsModifiable ? (p.ParameterValue || "") : (
            <input class="value" aria-label={`Value of ${p.ParameterName}`}
              value={p.ParameterName in edits ? edits[p.ParameterName] : (p.ParameterValue || "")}
              onInput={(e) => setEdits({ ...edits, [p.ParameterName]: e.currentTarget.value })} />)) },
          { title: "Allowed values", render: (p) => p.AllowedValues || "" },
          { title: "Source", render: (p) => p.Source },
          { title: "Apply type", render: (p) => (p.ChangeType === "requires-reboot" ? "Requires reboot" : "Immediate") },
          { title: "Description", render: (p) => p.Description || "" },
        ]}
        rows={shown} />
      {confirm ? (
        <Dialog title={`Delete ${id}`} action="Delete" confirmWord={id} error={deleteError}
          onCancel={() => { setConfirm(false); setDeleteError(null); }} onConfirm={remove}>
          <p>Delete the parameter group {id}?</p>
        </Dialog>
      ) : null}
    </section>
  );
}

// ---- Backups -------------------------------------------------------------------------------

export function Snapshots() {
  const { data, error, loaded, reload } = usePoll(
    () => all(ec, DescribeSnapshotsCommand, {}, "Snapshots"), 3000);
  const groups = usePoll(describeGroups, 0);
  const [form, setForm] = useState({ group: "", name: "" });
  const [createError, setCreateError] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [dialogError, setDialogError] = useState(null);
  const [notice, setNotice] = useState(null);
  const groupList = groups.data || [];
  const source = form.group || (groupList[0] && groupList[0].ReplicationGroupId) || "";
  const create = async (e) => {
    e.preventDefault();
    setCreateError(null);
    try {
      await ec(new CreateSnapshotCommand({ ReplicationGroupId: source, SnapshotName: form.name.trim() }));
      setForm({ ...form, name: "" });
      reload();
    } catch (err) {
      setCreateError(err);
    }
  };
  const close = () => { setDialog(null); setDialogError(null); };
  const act = async () => {
    setDialogError(null);
    try {
      const s = dialog.snapshot;
      if (dialog.kind === "copy") {
        await ec(new CopySnapshotCommand({ SourceSnapshotName: s.SnapshotName, TargetSnapshotName: dialog.value.trim() }));
        setNotice(`Copying ${s.SnapshotName} to ${dialog.value.trim()}.`);
      } else if (dialog.kind === "restore") {
        await ec(new CreateReplicationGroupCommand({
          ReplicationGroupId: dialog.value.trim(),
          ReplicationGroupDescription: `Restored from ${s.SnapshotName}`,
          SnapshotName: s.SnapshotName,
          CacheNodeType: s.CacheNodeType,
          Engine: "redis",
          NumCacheClusters: (s.NodeSnapshots || []).length > 1 ? undefined : 1,
        }));
        setNotice(`Restoring ${s.SnapshotName} into ${dialog.value.trim()}.`);
      } else {
        await ec(new DeleteSnapshotCommand({ SnapshotName: s.SnapshotName }));
        setNotice(`Deleting ${s.SnapshotName}.`);
      }
      close();
      reload();
    } catch (err) {
      setDialogError(err);
    }
  };
  const open = (kind, snapshot) => setDialog({ kind, snapshot, value: "" });
  return (
    <section>
      <h1>Backups</h1>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBox error={error} />
      {loaded ? (
        <Table label="Backups" rowKey={(s) => s.SnapshotName} empty="No backups"
          columns={[
            { title: "Name", render: (s) => s.SnapshotName },
            { title: "Status", render: (s) => <Status value={s.SnapshotStatus} /> },
            { title: "Type", render: (s) => s.SnapshotSource },
            { title: "Source", render: (s) => s.ReplicationGroupId || s.CacheClusterId },
            { title: "Created", render: (s) => when(((s.NodeSnapshots || [])[0] || {}).SnapshotCreateTime) },
            { title: "Node type", render: (s) => s.CacheNodeType },
            { title: "Actions", render: (s) => (
              <span class="row-actions">
                <button type="button" aria-label={`Restore ${s.SnapshotName}`} onClick={() => open("restore", s)}>Restore</button>
                <button type="button" aria-label={`Copy ${s.SnapshotName}`} onClick={() => open("copy", s)}>Copy</button>
                <button type="button" aria-label={`Delete ${s.SnapshotName}`} onClick={() => open("delete", s)}>Delete</button>
              </span>) },
          ]}
          rows={data || []} />
      ) : <p>Loading…</p>}
      <h2>Create backup</h2>
      <form class="form row" onSubmit={create}>
        <Field label="Cluster">
          <select value={source} onChange={(e) => setForm({ ...form, group: e.currentTarget.value })}>
            {groupList.map((g) => <option key={g.ReplicationGroupId} value={g.ReplicationGroupId}>{g.ReplicationGroupId}</option>)}
          </select>
        </Field>
        <Field label="Backup name"><input value={form.name} required
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} /></Field>
        <div class="buttons"><button type="submit" class="primary">Create backup</button></div>
      </form>
      <ErrorBox error={createError} />
      {dialog ? (
        <Dialog
          title={dialog.kind === "copy" ? `Copy ${dialog.snapshot.SnapshotName}`
            : dialog.kind === "restore" ? `Restore ${dialog.snapshot.SnapshotName}`
              : `Delete ${dialog.snapshot.SnapshotName}`}
          action={dialog.kind === "copy" ? "Copy" : dialog.kind === "restore" ? "Restore" : "Delete"}
          confirmWord={dialog.kind === "delete" ? dialog.snapshot.SnapshotName : undefined}
          error={dialogError} onCancel={close} onConfirm={act}>
          {dialog.kind === "delete" ? <p>The backup's data is deleted.</p> : (
            <Field label={dialog.kind === "copy" ? "New backup name" : "New cluster name"}>
              <input value={dialog.value} onInput={(e) => setDialog({ ...dialog, value: e.currentTarget.value })} />
            </Field>
          )}
        </Dialog>
      ) : null}
    </section>
  );
}

// ---- User management -----------------------------------------------------------------------

export function Users() {
  const users = usePoll(() => all(ec, DescribeUsersCommand, {}, "Users"), 5000);
  const groups = usePoll(() => all(ec, DescribeUserGroupsCommand, {}, "UserGroups"), 5000);
  const [user, setUser] = useState({ id: "", name: "", access: "on ~* +@all", password: "" });
  const [group, setGroup] = useState({ id: "", users: "default" });
  const [userError, setUserError] = useState(null);
  const [groupError, setGroupError] = useState(null);
  const createUser = async (e) => {
    e.preventDefault();
    setUserError(null);
    try {
      const password = user.password;
      await ec(new CreateUserCommand({
        UserId: user.id.trim(),
        UserName: user.name.trim() || user.id.trim(),
        Engine: "redis",
        AccessString: user.access,
        Passwords: password ? [password] : undefined,
        NoPasswordRequired: password ? undefined : true,
      }));
      setUser({ ...user, id: "", name: "", password: "" });
      users.reload();
    } catch (err) {
      setUserError(err);
    }
  };
  const createGroup = async (e) => {
    e.preventDefault();
    setGroupError(null);
    try {
      await ec(new CreateUserGroupCommand({
        UserGroupId: group.id.trim(),
        Engine: "redis",
        UserIds: group.users.split(",").map((s) => s.trim()).filter(Boolean),
      }));
      setGroup({ ...group, id: "" });
      groups.reload();
    } catch (err) {
      setGroupError(err);
    }
  };
  const deleteUser = async (id) => {
    setUserError(null);
    try { await ec(new DeleteUserCommand({ UserId: id })); users.reload(); } catch (err) { setUserError(err); }
  };
  const deleteGroup = async (id) => {
    setGroupError(null);
    try { await ec(new DeleteUserGroupCommand({ UserGroupId: id })); groups.reload(); } catch (err) { setGroupError(err); }
  };
  return (
    <section>
      <h1>User management</h1>
      <h2>Users</h2>
      <ErrorBox error={users.error} />
      <Table label="Users" rowKey={(u) => u.UserId}
        columns={[
          { title: "User ID", render: (u) => u.UserId },
          { title: "User name", render: (u) => u.UserName },
          { title: "Status", render: (u) => <Status value={u.Status} /> },
          { title: "Access string", render: (u) => u.AccessString },
          { title: "Authentication", render: (u) => (u.Authentication || {}).Type },
          { title: "", render: (u) => (u.UserId === "default" ? null : (
            <button type="button" aria-label={`Delete user ${u.UserId}`} onClick={() => deleteUser(u.UserId)}>Delete</button>)) },
        ]}
        rows={users.data || []} />
      <form class="form row" onSubmit={createUser}>
        <Field label="User ID"><input value={user.id} required onInput={(e) => setUser({ ...user, id: e.currentTarget.value })} /></Field>
        <Field label="User name"><input value={user.name} onInput={(e) => setUser({ ...user, name: e.currentTarget.value })} /></Field>
        <Field label="Access string"><input value={user.access} onInput={(e) => setUser({ ...user, access: e.currentTarget.value })} /></Field>
        <Field label="Password" hint="16-128 characters; empty for no password">
          <input type="password" value={user.password} autoComplete="new-password"
            onInput={(e) => setUser({ ...user, password: e.currentTarget.value })} />
        </Field>
        <div class="buttons"><button type="submit" class="primary">Create user</button></div>
      </form>
      <ErrorBox error={userError} />
      <h2>User groups</h2>
      <ErrorBox error={groups.error} />
      <Table label="User groups" rowKey={(g) => g.UserGroupId} empty="No user groups"
        columns={[
          { title: "User group ID", render: (g) => g.UserGroupId },
          { title: "Status", render: (g) => <Status value={g.Status} /> },
          { title: "Users", render: (g) => (g.UserIds || []).join(", ") },
          { title: "Clusters", render: (g) => (g.ReplicationGroups || []).join(", ") },
          { title: "", render: (g) => (
            <button type="button" aria-label={`Delete user group ${g.UserGroupId}`} onClick={() => deleteGroup(g.UserGroupId)}>Delete</button>) },
        ]}
        rows={groups.data || []} />
      <form class="form row" onSubmit={createGroup}>
        <Field label="User group ID"><input value={group.id} required onInput={(e) => setGroup({ ...group, id: e.currentTarget.value })} /></Field>
        <Field label="User IDs" hint="comma-separated; must include a user named default">
          <input value={group.users} onInput={(e) => setGroup({ ...group, users: e.currentTarget.value })} /></Field>
        <div class="buttons"><button type="submit" class="primary">Create user group</button></div>
      </form>
      <ErrorBox error={groupError} />
    </section>
  );
}
