// ElastiCache → Subnet groups; VPC → Your VPCs, Subnets; EC2 → Security Groups (with their
// inbound rules).
import { useState } from "preact/hooks";
import {
  DescribeCacheSubnetGroupsCommand,
  CreateCacheSubnetGroupCommand,
  ModifyCacheSubnetGroupCommand,
  DeleteCacheSubnetGroupCommand,
} from "@aws-sdk/client-elasticache";
import {
  DescribeVpcsCommand,
  CreateVpcCommand,
  DescribeSubnetsCommand,
  CreateSubnetCommand,
  DescribeSecurityGroupsCommand,
  CreateSecurityGroupCommand,
  AuthorizeSecurityGroupIngressCommand,
  RevokeSecurityGroupIngressCommand,
  DeleteSecurityGroupCommand,
} from "@aws-sdk/client-ec2";
import { ec, ec2 } from "../aws.js";
import { all } from "./clusters.jsx";
import {
  usePoll, ErrorBox, Link, navigate, Table, Field, KeyValue, Dialog, nameTag, Notice,
} from "../ui.jsx";

const vpcs = () => ec2(new DescribeVpcsCommand({})).then((o) => o.Vpcs || []);
const subnets = () => ec2(new DescribeSubnetsCommand({})).then((o) => o.Subnets || []);
const securityGroups = () =>
  ec2(new DescribeSecurityGroupsCommand({})).then((o) => o.SecurityGroups || []);

function vpcLabel(v) {
  const name = nameTag(v);
  return `${v.VpcId}${name ? ` (${name})` : ""} ${v.CidrBlock || ""}`.trim();
}

function subnetLabel(s) {
  const name = nameTag(s);
  return `${s.SubnetId} ${s.CidrBlock} ${s.AvailabilityZone}${name ? ` ${name}` : ""}`;
}

// ---- ElastiCache → Subnet groups -----------------------------------------------------------

export function SubnetGroupList() {
  const { data, error, loaded, reload } = usePoll(
    () => all(ec, DescribeCacheSubnetGroupsCommand, {}, "CacheSubnetGroups", 50, 100), 5000);
  // {kind: "edit", group, description, subnets} or {kind: "delete", group}.
  const [dialog, setDialog] = useState(null);
  const [dialogError, setDialogError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState(null);
  const choices = usePoll(() => (dialog && dialog.kind === "edit" ? subnets() : Promise.resolve([])),
    0, [dialog && dialog.kind === "edit" ? dialog.group.CacheSubnetGroupName : ""]);
  const close = () => { setDialog(null); setDialogError(null); setBusy(false); };
  const act = (call, message) => async () => {
    setBusy(true);
    setDialogError(null);
    try {
      await call();
      close();
      setNotice(message);
      reload();
    } catch (err) {
      setBusy(false);
      setDialogError(err);
    }
  };
  const edit = dialog && dialog.kind === "edit" ? dialog : null;
  const name = dialog ? dialog.group.CacheSubnetGroupName : "";
  const inVpc = edit ? (choices.data || []).filter((s) => s.VpcId === edit.group.VpcId) : [];
  const toggle = (id) => (e) => {
    const on = e.currentTarget.checked;
    setDialog({ ...edit, subnets: on ? [...edit.subnets, id] : edit.subnets.filter((x) => x !== id) });
  };
  return (
    <section>
      <div class="page-head">
        <h1>Subnet groups</h1>
        <Link to="/elasticache/subnet-groups/create" class="button primary">Create subnet group</Link>
      </div>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBox error={error} />
      {loaded ? (
        <Table
          label="Subnet groups"
          rowKey={(g) => g.CacheSubnetGroupName}
          empty="No subnet groups"
          columns={[
            { title: "Name", render: (g) => g.CacheSubnetGroupName },
            { title: "Description", render: (g) => g.CacheSubnetGroupDescription },
            { title: "VPC ID", render: (g) => g.VpcId },
            { title: "Subnets", render: (g) => (g.Subnets || []).map((s) =>
              `${s.SubnetIdentifier} (${(s.SubnetAvailabilityZone || {}).Name || "-"})`).join(", ") },
            { title: "Actions", render: (g) => (
              <span class="row-actions">
                <button type="button" aria-label={`Edit ${g.CacheSubnetGroupName}`} onClick={() => {
                  setNotice(null);
                  setDialog({ kind: "edit", group: g, description: g.CacheSubnetGroupDescription || "",
                    subnets: (g.Subnets || []).map((s) => s.SubnetIdentifier) });
                }}>Edit</button>
                <button type="button" aria-label={`Delete ${g.CacheSubnetGroupName}`} onClick={() => {
                  setNotice(null);
                  setDialog({ kind: "delete", group: g });
                }}>Delete</button>
              </span>) },
          ]}
          rows={data || []}
        />
      ) : <p>Loading…</p>}
      {edit ? (
        <Dialog title={`Edit ${name}`} action="Save changes" busy={busy} error={dialogError}
          onCancel={close} onConfirm={act(() => ec(new ModifyCacheSubnetGroupCommand({
            CacheSubnetGroupName: name,
            CacheSubnetGroupDescription: edit.description,
            SubnetIds: edit.subnets,
          })), `Saved subnet group ${name}.`)}>
          <KeyValue items={[["Name", name], ["VPC ID", edit.group.VpcId]]} />
          <Field label="Description"><input value={edit.description}
            onInput={(e) => setDialog({ ...edit, description: e.currentTarget.value })} /></Field>
          <fieldset>
            <legend>Subnets</legend>
            <ErrorBox error={choices.error} />
            {choices.loaded && inVpc.length === 0 ? <p class="hint">No subnets in this VPC.</p> : null}
            {inVpc.map((s) => (
              <label class="inline" key={s.SubnetId}>
                <input type="checkbox" checked={edit.subnets.includes(s.SubnetId)}
                  onChange={toggle(s.SubnetId)} /> {subnetLabel(s)}
              </label>
            ))}
          </fieldset>
        </Dialog>
      ) : null}
      {dialog && dialog.kind === "delete" ? (
        <Dialog title={`Delete ${name}`} action="Delete" busy={busy} error={dialogError}
          confirmWord={name} onCancel={close}
          onConfirm={act(() => ec(new DeleteCacheSubnetGroupCommand({ CacheSubnetGroupName: name })),
            `Deleted subnet group ${name}.`)}>
          <p>Delete subnet group {name}? A subnet group that clusters use cannot be deleted.</p>
        </Dialog>
      ) : null}
    </section>
  );
}

export function CreateSubnetGroup() {
  const choices = usePoll(async () => ({ vpcs: await vpcs(), subnets: await subnets() }), 0);
  const [form, setForm] = useState({ name: "", description: "", vpc: "", subnets: [] });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const data = choices.data || { vpcs: [], subnets: [] };
  const vpc = form.vpc || (data.vpcs[0] && data.vpcs[0].VpcId) || "";
  const inVpc = data.subnets.filter((s) => s.VpcId === vpc);
  const toggle = (id) => (e) => {
    const on = e.currentTarget.checked;
    setForm({ ...form, subnets: on ? [...form.subnets, id] : form.subnets.filter((x) => x !== id) });
  };
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await ec(new CreateCacheSubnetGroupCommand({
        CacheSubnetGroupName: form.name.trim(),
        CacheSubnetGroupDescription: form.description,
        SubnetIds: form.subnets.filter((id) => inVpc.some((s) => s.SubnetId === id)),
      }));
      navigate("/elasticache/subnet-groups");
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>Create subnet group</h1>
      <ErrorBox error={choices.error} />
      <form class="form" onSubmit={submit}>
        <Field label="Name"><input value={form.name} required
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} /></Field>
        <Field label="Description"><input value={form.description}
          onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} /></Field>
        <Field label="VPC ID">
          <select value={vpc} onChange={(e) => setForm({ ...form, vpc: e.currentTarget.value, subnets: [] })}>
            {data.vpcs.map((v) => <option key={v.VpcId} value={v.VpcId}>{vpcLabel(v)}</option>)}
          </select>
        </Field>
        <fieldset>
          <legend>Subnets</legend>
          {inVpc.length === 0 ? <p class="hint">No subnets in this VPC.</p> : null}
          {inVpc.map((s) => (
            <label class="inline" key={s.SubnetId}>
              <input type="checkbox" checked={form.subnets.includes(s.SubnetId)}
                onChange={toggle(s.SubnetId)} /> {subnetLabel(s)}
            </label>
          ))}
        </fieldset>
        <ErrorBox error={error} />
        <div class="buttons">
          <Link to="/elasticache/subnet-groups" class="button">Cancel</Link>
          <button type="submit" class="primary" disabled={busy}>Create</button>
        </div>
      </form>
    </section>
  );
}

// ---- VPC → Your VPCs, Subnets --------------------------------------------------------------

export function VpcList() {
  const { data, error, loaded, reload } = usePoll(vpcs, 5000);
  const [form, setForm] = useState({ cidr: "", name: "" });
  const [createError, setCreateError] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    setCreateError(null);
    try {
      await ec2(new CreateVpcCommand({
        CidrBlock: form.cidr.trim(),
        TagSpecifications: form.name.trim()
          ? [{ ResourceType: "vpc", Tags: [{ Key: "Name", Value: form.name.trim() }] }]
          : undefined,
      }));
      setForm({ cidr: "", name: "" });
      reload();
    } catch (err) {
      setCreateError(err);
    }
  };
  return (
    <section>
      <h1>Your VPCs</h1>
      <ErrorBox error={error} />
      {loaded ? (
        <Table
          label="VPCs"
          rowKey={(v) => v.VpcId}
          columns={[
            { title: "Name", render: nameTag },
            { title: "VPC ID", render: (v) => v.VpcId },
            { title: "State", render: (v) => v.State },
            { title: "IPv4 CIDR", render: (v) => v.CidrBlock },
            { title: "Default VPC", render: (v) => (v.IsDefault ? "Yes" : "No") },
          ]}
          rows={data || []}
        />
      ) : <p>Loading…</p>}
      <h2>Create VPC</h2>
      <form class="form row" onSubmit={create}>
        <Field label="Name tag"><input value={form.name}
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} /></Field>
        <Field label="IPv4 CIDR block"><input value={form.cidr} placeholder="10.0.0.0/16" required
          onInput={(e) => setForm({ ...form, cidr: e.currentTarget.value })} /></Field>
        <div class="buttons"><button type="submit" class="primary">Create VPC</button></div>
      </form>
      <ErrorBox error={createError} />
    </section>
  );
}

export function SubnetList() {
  const { data, error, loaded, reload } = usePoll(
    async () => ({ subnets: await subnets(), vpcs: await vpcs() }), 5000);
  const [form, setForm] = useState({ vpc: "", cidr: "", az: "", name: "" });
  const [createError, setCreateError] = useState(null);
  const d = data || { subnets: [], vpcs: [] };
  const vpc = form.vpc || (d.vpcs[0] && d.vpcs[0].VpcId) || "";
  const create = async (e) => {
    e.preventDefault();
    setCreateError(null);
    try {
      await ec2(new CreateSubnetCommand({
        VpcId: vpc,
        CidrBlock: form.cidr.trim(),
        AvailabilityZone: form.az.trim() || undefined,
        TagSpecifications: form.name.trim()
          ? [{ ResourceType: "subnet", Tags: [{ Key: "Name", Value: form.name.trim() }] }]
          : undefined,
      }));
      setForm({ ...form, cidr: "", name: "" });
      reload();
    } catch (err) {
      setCreateError(err);
    }
  };
  return (
    <section>
      <h1>Subnets</h1>
      <ErrorBox error={error} />
      {loaded ? (
        <Table
          label="Subnets"
          rowKey={(s) => s.SubnetId}
          columns={[
            { title: "Name", render: nameTag },
            { title: "Subnet ID", render: (s) => s.SubnetId },
            { title: "VPC", render: (s) => s.VpcId },
            { title: "IPv4 CIDR", render: (s) => s.CidrBlock },
            { title: "Availability Zone", render: (s) => s.AvailabilityZone },
          ]}
          rows={d.subnets}
        />
      ) : <p>Loading…</p>}
      <h2>Create subnet</h2>
      <form class="form row" onSubmit={create}>
        <Field label="VPC ID">
          <select value={vpc} onChange={(e) => setForm({ ...form, vpc: e.currentTarget.value })}>
            {d.vpcs.map((v) => <option key={v.VpcId} value={v.VpcId}>{vpcLabel(v)}</option>)}
          </select>
        </Field>
        <Field label="Subnet name"><input value={form.name}
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} /></Field>
        <Field label="Availability Zone"><input value={form.az} placeholder="us-east-1a"
          onInput={(e) => setForm({ ...form, az: e.currentTarget.value })} /></Field>
        <Field label="IPv4 subnet CIDR block"><input value={form.cidr} placeholder="10.0.11.0/24" required
          onInput={(e) => setForm({ ...form, cidr: e.currentTarget.value })} /></Field>
        <div class="buttons"><button type="submit" class="primary">Create subnet</button></div>
      </form>
      <ErrorBox error={createError} />
    </section>
  );
}

// ---- EC2 → Security Groups -----------------------------------------------------------------

export function SecurityGroupList() {
  const { data, error, loaded } = usePoll(securityGroups, 5000);
  return (
    <section>
      <div class="page-head">
        <h1>Security Groups</h1>
        <Link to="/ec2/security-groups/create" class="button primary">Create security group</Link>
      </div>
      <ErrorBox error={error} />
      {loaded ? (
        <Table
          label="Security Groups"
          rowKey={(g) => g.GroupId}
          columns={[
            { title: "Security group ID", render: (g) => (
              <Link to={`/ec2/security-groups/${encodeURIComponent(g.GroupId)}`}>{g.GroupId}</Link>) },
            { title: "Security group name", render: (g) => g.GroupName },
            { title: "VPC ID", render: (g) => g.VpcId },
            { title: "Description", render: (g) => g.Description },
            { title: "Inbound rules", render: (g) => ruleCount(g) },
          ]}
          rows={data || []}
        />
      ) : <p>Loading…</p>}
    </section>
  );
}

function ruleCount(group) {
  return (group.IpPermissions || []).reduce(
    (n, p) => n + (p.IpRanges || []).length + (p.UserIdGroupPairs || []).length, 0);
}

// The inbound rules of a group, one row per source.
function rulesOf(group) {
  const rows = [];
  for (const p of group.IpPermissions || []) {
    const ports = p.FromPort === undefined || p.FromPort === -1 ? "All"
      : p.FromPort === p.ToPort ? String(p.FromPort) : `${p.FromPort}-${p.ToPort}`;
    const protocol = p.IpProtocol === "-1" ? "All" : (p.IpProtocol || "").toUpperCase();
    for (const r of p.IpRanges || []) {
      rows.push({ permission: p, protocol, ports, source: r.CidrIp, description: r.Description,
        revoke: { ...base(p), IpRanges: [{ CidrIp: r.CidrIp }] } });
    }
    for (const g of p.UserIdGroupPairs || []) {
      rows.push({ permission: p, protocol, ports, source: g.GroupId, description: g.Description,
        revoke: { ...base(p), UserIdGroupPairs: [{ GroupId: g.GroupId }] } });
    }
  }
  return rows;
}

function base(p) {
  return { IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort };
}

// One inbound rule as the API takes it, from the form's fields.
function permission(rule) {
  const [from, to] = rule.port.includes("-") ? rule.port.split("-") : [rule.port, rule.port];
  const p = { IpProtocol: rule.protocol, FromPort: Number(from), ToPort: Number(to) };
  const source = rule.source.trim();
  if (source.startsWith("sg-")) {
    p.UserIdGroupPairs = [{ GroupId: source }];
  } else {
    p.IpRanges = [{ CidrIp: source }];
  }
  return p;
}

function RuleFields({ rule, onChange, groups, index }) {
  const set = (key) => (e) => onChange({ ...rule, [key]: e.currentTarget.value });
  const n = index === undefined ? "" : ` ${index + 1}`;
  return (
    <div class="rule">
      <Field label={`Protocol${n}`}>
        <select value={rule.protocol} onChange={set("protocol")}>
          <option value="tcp">TCP</option>
          <option value="udp">UDP</option>
        </select>
      </Field>
      <Field label={`Port range${n}`}><input value={rule.port} onInput={set("port")} /></Field>
      <Field label={`Source${n}`} hint="a CIDR block (10.0.0.0/16) or a security group ID (sg-…)">
        <input value={rule.source} onInput={set("source")} list="security-group-ids" />
      </Field>
      <datalist id="security-group-ids">
        {groups.map((g) => <option key={g.GroupId} value={g.GroupId}>{g.GroupName}</option>)}
      </datalist>
    </div>
  );
}

const NEW_RULE = { protocol: "tcp", port: "6379", source: "" };

export function CreateSecurityGroup() {
  const choices = usePoll(async () => ({ vpcs: await vpcs(), groups: await securityGroups() }), 0);
  const [form, setForm] = useState({ name: "", description: "", vpc: "", rules: [] });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const d = choices.data || { vpcs: [], groups: [] };
  const vpc = form.vpc || (d.vpcs[0] && d.vpcs[0].VpcId) || "";
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await ec2(new CreateSecurityGroupCommand({
        GroupName: form.name.trim(),
        Description: form.description,
        VpcId: vpc,
      }));
      const rules = form.rules.filter((r) => r.source.trim());
      if (rules.length) {
        try {
          await ec2(new AuthorizeSecurityGroupIngressCommand({
            GroupId: created.GroupId, IpPermissions: rules.map(permission),
          }));
        } catch (err) {
          // The group exists: show its page, where the rule can be fixed.
          navigate(`/ec2/security-groups/${encodeURIComponent(created.GroupId)}?error=${encodeURIComponent(String(err.name || "") + ": " + String(err.message || ""))}`);
          return;
        }
      }
      navigate(`/ec2/security-groups/${encodeURIComponent(created.GroupId)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>Create security group</h1>
      <ErrorBox error={choices.error} />
      <form class="form" onSubmit={submit}>
        <h2>Basic details</h2>
        <Field label="Security group name"><input value={form.name} required
          onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} /></Field>
        <Field label="Description"><input value={form.description} required
          onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} /></Field>
        <Field label="VPC">
          <select value={vpc} onChange={(e) => setForm({ ...form, vpc: e.currentTarget.value })}>
            {d.vpcs.map((v) => <option key={v.VpcId} value={v.VpcId}>{vpcLabel(v)}</option>)}
          </select>
        </Field>
        <h2>Inbound rules</h2>
        {form.rules.map((rule, i) => (
          <div key={i} class="rule-row">
            <RuleFields rule={rule} index={i} groups={d.groups}
              onChange={(r) => setForm({ ...form, rules: form.rules.map((x, j) => (j === i ? r : x)) })} />
            <button type="button" onClick={() =>
              setForm({ ...form, rules: form.rules.filter((_, j) => j !== i) })}>Delete</button>
          </div>
        ))}
        <button type="button" onClick={() => setForm({ ...form, rules: [...form.rules, { ...NEW_RULE }] })}>
          Add rule
        </button>
        <ErrorBox error={error} />
        <div class="buttons">
          <Link to="/ec2/security-groups" class="button">Cancel</Link>
          <button type="submit" class="primary" disabled={busy}>Create security group</button>
        </div>
      </form>
    </section>
  );
}

export function SecurityGroupDetails({ id, query }) {
  const { data, error, loaded, reload } = usePoll(async () => ({
    group: (await ec2(new DescribeSecurityGroupsCommand({ GroupIds: [id] }))).SecurityGroups[0],
    groups: await securityGroups(),
  }), 5000, [id]);
  const [rule, setRule] = useState({ ...NEW_RULE });
  const [ruleError, setRuleError] = useState(query.get("error"));
  const [confirm, setConfirm] = useState(false);
  const [deleteError, setDeleteError] = useState(null);
  if (!loaded) return <p>Loading…</p>;
  if (!data || !data.group) {
    return <section><h1>{id}</h1><ErrorBox error={error || "Not found"} /></section>;
  }
  const group = data.group;
  const add = async (e) => {
    e.preventDefault();
    setRuleError(null);
    try {
      await ec2(new AuthorizeSecurityGroupIngressCommand({
        GroupId: group.GroupId, IpPermissions: [permission(rule)],
      }));
      setRule({ ...NEW_RULE });
      reload();
    } catch (err) {
      setRuleError(err);
    }
  };
  const revoke = async (row) => {
    setRuleError(null);
    try {
      await ec2(new RevokeSecurityGroupIngressCommand({
        GroupId: group.GroupId, IpPermissions: [row.revoke],
      }));
      reload();
    } catch (err) {
      setRuleError(err);
    }
  };
  const remove = async () => {
    try {
      await ec2(new DeleteSecurityGroupCommand({ GroupId: group.GroupId }));
      navigate("/ec2/security-groups");
    } catch (err) {
      setDeleteError(err);
    }
  };
  return (
    <section>
      <div class="page-head">
        <h1>{group.GroupId} - {group.GroupName}</h1>
        <button type="button" onClick={() => setConfirm(true)}>Delete security group</button>
      </div>
      <ErrorBox error={error} />
      <KeyValue items={[
        ["Security group name", group.GroupName],
        ["Security group ID", group.GroupId],
        ["Description", group.Description],
        ["VPC ID", group.VpcId],
        ["Owner", group.OwnerId],
      ]} />
      <h2>Inbound rules</h2>
      <Table
        label="Inbound rules"
        empty="No inbound rules"
        columns={[
          { title: "Protocol", render: (r) => r.protocol },
          { title: "Port range", render: (r) => r.ports },
          { title: "Source", render: (r) => r.source },
          { title: "Description", render: (r) => r.description || "" },
          { title: "", render: (r) => (
            <button type="button" onClick={() => revoke(r)} aria-label={`Remove rule ${r.source} ${r.ports}`}>Remove</button>) },
        ]}
        rows={rulesOf(group)}
      />
      <h2>Add inbound rule</h2>
      <form class="form row" onSubmit={add}>
        <RuleFields rule={rule} onChange={setRule} groups={data.groups} />
        <div class="buttons"><button type="submit" class="primary">Add rule</button></div>
      </form>
      <ErrorBox error={ruleError} />
      {confirm ? (
        <Dialog title={`Delete ${group.GroupName}`} action="Delete" error={deleteError}
          confirmWord="delete" onCancel={() => { setConfirm(false); setDeleteError(null); }}
          onConfirm={remove}>
          <p>Delete security group {group.GroupId}?</p>
        </Dialog>
      ) : null}
      {query.get("error") ? <Notice>The group was created; its inbound rule was refused (above).</Notice> : null}
    </section>
  );
}
