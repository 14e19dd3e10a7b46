// ElastiCache → Events; CloudWatch → Metrics (uPlot charts of a group's nodes, with the
// group's events drawn on the time axis) and Alarms.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { DescribeEventsCommand } from "@aws-sdk/client-elasticache";
import {
  GetMetricDataCommand, DescribeAlarmsCommand, PutMetricAlarmCommand, DeleteAlarmsCommand,
  ListMetricsCommand,
} from "@aws-sdk/client-cloudwatch";
import { ec, cw, errorText } from "../aws.js";
import { all, describeGroups, groupEvents, EventTable } from "./clusters.jsx";
import {
  usePoll, ErrorBox, Field, Table, Status, when, Link, navigate, Dialog, Notice,
} from "../ui.jsx";

// ---- ElastiCache → Events ------------------------------------------------------------------

const SOURCE_TYPES = [
  "", "replication-group", "cache-cluster", "cache-subnet-group", "cache-parameter-group",
  "cache-security-group", "user", "user-group", "serverless-cache",
];

const WINDOWS = [
  ["60", "Last hour"], ["180", "Last 3 hours"], ["1440", "Last day"], ["20160", "Last 14 days"],
];

export function EventList() {
  const [filter, setFilter] = useState({ sourceType: "", sourceId: "", minutes: "1440" });
  const { data, error, loaded } = usePoll(() => {
    const input = { Duration: Number(filter.minutes) };
    if (filter.sourceType) input.SourceType = filter.sourceType;
    if (filter.sourceType && filter.sourceId.trim()) input.SourceIdentifier = filter.sourceId.trim();
    return all(ec, DescribeEventsCommand, input, "Events", 20);
  }, 5000, [filter.sourceType, filter.sourceId, filter.minutes]);
  const set = (key) => (e) => setFilter({ ...filter, [key]: e.currentTarget.value });
  let events = data || [];
  if (!filter.sourceType && filter.sourceId.trim()) {
    const id = filter.sourceId.trim();
    events = events.filter((e) => (e.SourceIdentifier || "").includes(id));
  }
  return (
    <section>
      <h1>Events</h1>
      <form class="form row" onSubmit={(e) => e.preventDefault()}>
        <Field label="Source type">
          <select value={filter.sourceType} onChange={set("sourceType")}>
            {SOURCE_TYPES.map((t) => <option key={t} value={t}>{t || "All"}</option>)}
          </select>
        </Field>
        <Field label="Source ID"><input value={filter.sourceId} onInput={set("sourceId")} /></Field>
        <Field label="Time range">
          <select value={filter.minutes} onChange={set("minutes")}>
            {WINDOWS.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
          </select>
        </Field>
      </form>
      <ErrorBox error={error} />
      {loaded ? <EventTable events={events} /> : <p>Loading…</p>}
    </section>
  );
}

// ---- CloudWatch → Metrics ------------------------------------------------------------------

export const CHARTS = [
  ["EngineCPUUtilization", "Percent"],
  ["CurrConnections", "Count"],
  ["ReplicationLag", "Seconds"],
  ["DatabaseMemoryUsagePercentage", "Percent"],
  ["CacheHitRate", "Percent"],
  ["NetworkBytesIn", "Bytes"],
  ["SwapUsage", "Bytes"],
];

const RANGES = { "1h": [3600, 10], "3h": [3 * 3600, 60], "1d": [86400, 300] };
const COLORS = ["#0073bb", "#ec7211", "#1d8102", "#8c4fff", "#d13212", "#687078"];

async function loadMetrics(group, node, range) {
  const [seconds, period] = RANGES[range];
  const end = new Date();
  const start = new Date(end.getTime() - seconds * 1000);
  const members = group.MemberClusters || [];
  const nodes = node && members.includes(node) ? [node] : members;
  const queries = [];
  CHARTS.forEach(([metric], m) => nodes.forEach((node, n) => queries.push({
    Id: `m${m}_${n}`,
    MetricStat: {
      Metric: {
        Namespace: "AWS/ElastiCache",
        MetricName: metric,
        Dimensions: [{ Name: "CacheClusterId", Value: node }],
      },
      Period: period,
      Stat: "Average",
    },
    ReturnData: true,
  })));
  const results = new Map();
  let token;
  for (let page = 0; page < 20; page++) {
    const out = await cw(new GetMetricDataCommand({
      MetricDataQueries: queries, StartTime: start, EndTime: end, NextToken: token,
    }));
    for (const r of out.MetricDataResults || []) {
      const prev = results.get(r.Id) || { t: [], v: [] };
      (r.Timestamps || []).forEach((t, i) => {
        prev.t.push(new Date(t).getTime() / 1000);
        prev.v.push(r.Values[i]);
      });
      results.set(r.Id, prev);
    }
    token = out.NextToken;
    if (!token) break;
  }
  const events = await groupEvents(group, Math.ceil(seconds / 60));
  return { start: start.getTime() / 1000, end: end.getTime() / 1000, nodes, results, events };
}

// uPlot's columns for one metric: the union of every node's timestamps, the window's ends
// included (so the axis always spans the whole window), and one column per node.
function columns(data, m) {
  const times = new Set([data.start, data.end]);
  const series = data.nodes.map((_, n) => data.results.get(`m${m}_${n}`) || { t: [], v: [] });
  series.forEach((s) => s.t.forEach((t) => times.add(t)));
  const xs = [...times].sort((a, b) => a - b);
  const ys = series.map((s) => {
    const at = new Map(s.t.map((t, i) => [t, s.v[i]]));
    return xs.map((t) => (at.has(t) ? at.get(t) : null));
  });
  return [xs, ...ys];
}

// A failover's own events ("Test Failover API called …", "Failover from primary node …"),
// not events that only mention the setting.
function isFailover(event) {
  return /^(test failover|failover from|failover to)/i.test(event.Message || "");
}

// A uPlot plugin drawing each event as a vertical line across the plot.
function eventMarkers(events) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        // Failovers last, so they stay on top of other events at the same moment.
        const ordered = [...events].sort((a, b) => isFailover(a) - isFailover(b));
        for (const e of ordered) {
          const x = Math.round(u.valToPos(new Date(e.Date).getTime() / 1000, "x", true));
          if (x < bbox.left || x > bbox.left + bbox.width) continue;
          ctx.strokeStyle = isFailover(e) ? "#d13212" : "#aab7b8";
          ctx.lineWidth = isFailover(e) ? 2 : 1;
          ctx.setLineDash([5, 4]);
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}

// A uPlot plugin drawing each alarm's threshold as a horizontal line (red while in ALARM).
function thresholdLines(alarms) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        for (const a of alarms) {
          const y = Math.round(u.valToPos(a.Threshold, "y", true));
          if (!Number.isFinite(y) || y < bbox.top || y > bbox.top + bbox.height) continue;
          ctx.strokeStyle = a.StateValue === "ALARM" ? "#d13212" : "#ec7211";
          ctx.lineWidth = 1.5;
          ctx.setLineDash([2, 3]);
          ctx.beginPath();
          ctx.moveTo(bbox.left, y);
          ctx.lineTo(bbox.left + bbox.width, y);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}

function Chart({ title, unit, data, m, alarms }) {
  const box = useRef(null);
  const lines = (alarms || []).filter((a) => Number.isFinite(a.Threshold));
  const linesKey = lines.map((a) => `${a.AlarmName}:${a.Threshold}:${a.StateValue}`).join("|");
  useEffect(() => {
    if (!box.current) return undefined;
    const thresholds = lines.map((a) => a.Threshold);
    const opts = {
      title: `${title} (${unit})`,
      width: Math.max(360, box.current.clientWidth - 12),
      height: 220,
      scales: {
        x: { time: true, range: () => [data.start, data.end] },
        // The y axis reaches every threshold, so its line is always in view.
        ...(thresholds.length ? {
          y: {
            range: (u, min, max) => uPlot.rangeNum(
              Math.min(min ?? thresholds[0], ...thresholds), Math.max(max ?? thresholds[0], ...thresholds),
              0.1, true),
          },
        } : {}),
      },
      series: [{}, ...data.nodes.map((node, n) => ({
        label: node, stroke: COLORS[n % COLORS.length], width: 1.5, spanGaps: true,
      }))],
      axes: [{}, { size: 60 }],
      plugins: [eventMarkers(data.events), thresholdLines(lines)],
    };
    const plot = new uPlot(opts, columns(data, m), box.current);
    return () => plot.destroy();
  }, [data, m, linesKey]);
  return (
    <div class="chart-box">
      <div class="chart" ref={box} data-metric={title} />
      {(alarms || []).map((a) => (
        <p class="chart-alarm" key={a.AlarmName}>
          <Status value={a.StateValue} /> {a.AlarmName}: {alarmCondition(a)}
        </p>
      ))}
    </div>
  );
}

export function Metrics({ query }) {
  const groups = usePoll(describeGroups, 0);
  const [groupId, setGroupId] = useState(query.get("group") || "");
  const [range, setRange] = useState("1h");
  const [node, setNode] = useState(query.get("node") || "");
  const list = groups.data || [];
  const chosen = list.find((g) => g.ReplicationGroupId === groupId) || list[0];
  const metrics = usePoll(
    () => (chosen ? loadMetrics(chosen, node, range) : Promise.resolve(null)), 10000,
    [chosen && chosen.ReplicationGroupId, chosen && (chosen.MemberClusters || []).join(), node,
      range]);
  const data = metrics.data;
  const alarms = usePoll(describeAlarms, 5000);
  const members = new Set(chosen ? chosen.MemberClusters || [] : []);
  const groupAlarms = (alarms.data || []).filter((a) => chosen && (a.Dimensions || []).some((d) =>
    (d.Name === "CacheClusterId" && members.has(d.Value))
    || (d.Name === "ReplicationGroupId" && d.Value === chosen.ReplicationGroupId)));
  return (
    <section>
      <div class="page-head">
        <h1>Metrics</h1>
        {chosen ? (
          <Link class="button" to={`/cloudwatch/alarms/create?group=${encodeURIComponent(chosen.ReplicationGroupId)}${node ? `&node=${encodeURIComponent(node)}` : ""}`}>
            Create alarm</Link>) : null}
      </div>
      <p class="sub">AWS/ElastiCache, by CacheClusterId (one line per node). Dashed lines mark
        the cluster's events; red ones are failovers. Dotted horizontal lines are alarm
        thresholds.</p>
      <form class="form row" onSubmit={(e) => e.preventDefault()}>
        <Field label="Redis cluster">
          <select value={chosen ? chosen.ReplicationGroupId : ""}
            onChange={(e) => { setGroupId(e.currentTarget.value); setNode(""); }}>
            {list.map((g) => <option key={g.ReplicationGroupId} value={g.ReplicationGroupId}>
              {g.ReplicationGroupId}</option>)}
          </select>
        </Field>
        <Field label="Node">
          <select value={node} onChange={(e) => setNode(e.currentTarget.value)}>
            <option value="">All nodes</option>
            {(chosen ? chosen.MemberClusters || [] : []).map((id) => (
              <option key={id} value={id}>{id}</option>))}
          </select>
        </Field>
        <div class="segmented" role="group" aria-label="Time range">
          {Object.keys(RANGES).map((r) => (
            <button type="button" key={r} class={r === range ? "on" : ""}
              aria-pressed={r === range} onClick={() => setRange(r)}>{r}</button>
          ))}
        </div>
      </form>
      <ErrorBox error={groups.error || metrics.error} />
      {!chosen && groups.loaded ? <p>No Redis clusters.</p> : null}
      {data ? (
        <>
          <div class="charts">
            {CHARTS.map(([metric, unit], m) => (
              <Chart key={metric} title={metric} unit={unit} data={data} m={m}
                alarms={groupAlarms.filter((a) => a.MetricName === metric)} />
            ))}
          </div>
          <h2>Alarms</h2>
          <AlarmTable alarms={groupAlarms} label="Alarms of this cluster" />
          <h2>Marked events</h2>
          <ul class="markers" aria-label="Marked events">
            {data.events.length === 0 ? <li>No events in this window.</li> : null}
            {data.events.map((e, i) => (
              <li key={i} class={isFailover(e) ? "failover" : ""}>
                <time>{when(e.Date)}</time> {e.SourceIdentifier}: {e.Message}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}

// ---- CloudWatch → Alarms -------------------------------------------------------------------

export async function describeAlarms() {
  const alarms = [];
  let token;
  for (let page = 0; page < 100; page++) {
    const out = await cw(new DescribeAlarmsCommand({ NextToken: token, MaxRecords: 100 }));
    for (const a of out.MetricAlarms || []) alarms.push(a);
    token = out.NextToken;
    if (!token) break;
  }
  return alarms;
}

const OPERATORS = [
  ["GreaterThanThreshold", ">"],
  ["GreaterThanOrEqualToThreshold", ">="],
  ["LessThanThreshold", "<"],
  ["LessThanOrEqualToThreshold", "<="],
];

function alarmCondition(a) {
  const op = (OPERATORS.find(([o]) => o === a.ComparisonOperator) || [null, a.ComparisonOperator])[1];
  const points = a.DatapointsToAlarm && a.DatapointsToAlarm !== a.EvaluationPeriods
    ? `${a.DatapointsToAlarm} of ${a.EvaluationPeriods}` : `${a.EvaluationPeriods}`;
  return `${a.MetricName} ${op} ${a.Threshold} for ${points} datapoints within ${a.Period}s (${a.Statistic || a.ExtendedStatistic || ""})`;
}

function AlarmTable({ alarms, label, onDelete }) {
  const columns = [
    { title: "Name", render: (a) => a.AlarmName },
    { title: "State", render: (a) => <Status value={a.StateValue} /> },
    { title: "Last state update", render: (a) => when(a.StateUpdatedTimestamp) },
    { title: "Conditions", render: alarmCondition },
    { title: "Dimensions", render: (a) =>
      (a.Dimensions || []).map((d) => `${d.Name}=${d.Value}`).join(", ") },
  ];
  if (onDelete) {
    columns.push({ title: "Actions", render: (a) => (
      <button type="button" aria-label={`Delete alarm ${a.AlarmName}`} onClick={() => onDelete(a)}>
        Delete</button>) });
  }
  return <Table label={label} empty="No alarms" rowKey={(a) => a.AlarmName} columns={columns}
    rows={alarms} />;
}

export function Alarms({ query }) {
  const { data, error, loaded, reload } = usePoll(describeAlarms, 5000);
  const [doomed, setDoomed] = useState(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState(null);
  const [notice, setNotice] = useState(query && query.get("created")
    ? `Created alarm ${query.get("created")}.` : null);
  const close = () => { setDoomed(null); setDeleteError(null); setBusy(false); };
  const remove = async () => {
    setBusy(true);
    try {
      await cw(new DeleteAlarmsCommand({ AlarmNames: [doomed.AlarmName] }));
      setNotice(`Deleted alarm ${doomed.AlarmName}.`);
      close();
      reload();
    } catch (err) {
      setBusy(false);
      setDeleteError(err);
    }
  };
  return (
    <section>
      <div class="page-head">
        <h1>Alarms</h1>
        <Link to="/cloudwatch/alarms/create" class="button primary">Create alarm</Link>
      </div>
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBox error={error} />
      {loaded ? (
        <AlarmTable alarms={data || []} label="Alarms"
          onDelete={(a) => { setNotice(null); setDoomed(a); }} />
      ) : <p>Loading…</p>}
      {doomed ? (
        <Dialog title={`Delete alarm ${doomed.AlarmName}`} action="Delete" busy={busy}
          error={deleteError} onCancel={close} onConfirm={remove}>
          <p>Delete alarm {doomed.AlarmName}? Its history goes with it.</p>
        </Dialog>
      ) : null}
    </section>
  );
}

// The metrics a node publishes (ListMetrics), or the lab's figures when it has none yet.
async function nodeMetrics(node) {
  if (!node) return [];
  const names = new Set();
  let token;
  for (let page = 0; page < 20; page++) {
    const out = await cw(new ListMetricsCommand({
      Namespace: "AWS/ElastiCache",
      Dimensions: [{ Name: "CacheClusterId", Value: node }],
      NextToken: token,
    }));
    for (const m of out.Metrics || []) names.add(m.MetricName);
    token = out.NextToken;
    if (!token) break;
  }
  const list = [...names].sort();
  return list.length ? list : CHARTS.map(([metric]) => metric);
}

const STATISTICS = ["Average", "Minimum", "Maximum", "Sum", "SampleCount"];
const PERIODS = [["10", "10 seconds"], ["30", "30 seconds"], ["60", "1 minute"],
  ["300", "5 minutes"], ["900", "15 minutes"], ["3600", "1 hour"]];
const MISSING = [
  ["missing", "Treat missing data as missing"],
  ["notBreaching", "Treat missing data as good (not breaching threshold)"],
  ["breaching", "Treat missing data as bad (breaching threshold)"],
  ["ignore", "Ignore (maintain the alarm state)"],
];

// Which field an API refusal is about, from the parameter its message names (the first that
// matches: "DatapointsToAlarm must be less than or equal to EvaluationPeriods" is about the
// datapoints).
const ALARM_FIELDS = [
  ["DatapointsToAlarm", "datapoints"],
  ["EvaluationPeriods", "evaluationPeriods"],
  ["Period", "period"],
  ["Threshold", "threshold"],
  ["TreatMissingData", "missing"],
  ["AlarmName", "name"],
  ["AlarmDescription", "description"],
  ["Statistic", "statistic"],
  ["MetricName", "metric"],
  ["Dimension", "node"],
];

export function CreateAlarm({ query }) {
  const groups = usePoll(describeGroups, 0);
  const [form, setForm] = useState({
    name: "", description: "", group: query.get("group") || "", node: query.get("node") || "",
    metric: "EngineCPUUtilization", statistic: "Average", period: "60",
    operator: "GreaterThanThreshold", threshold: "", evaluationPeriods: "1", datapoints: "1",
    missing: "missing",
  });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const list = groups.data || [];
  const chosen = list.find((g) => g.ReplicationGroupId === form.group) || list[0];
  const nodes = chosen ? chosen.MemberClusters || [] : [];
  const node = nodes.includes(form.node) ? form.node : nodes[0] || "";
  const metrics = usePoll(() => nodeMetrics(node), 0, [node]);
  const names = metrics.data && metrics.data.length ? metrics.data : CHARTS.map(([m]) => m);
  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.value });
  const errorField = (() => {
    const text = `${(error && error.message) || ""}`;
    const hit = ALARM_FIELDS.find(([name]) => text.includes(name));
    return hit ? hit[1] : null;
  })();
  const at = (field) => (error && errorField === field
    ? <div class="alert error field-error">{errorText(error)}</div> : null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const name = form.name.trim();
    try {
      await cw(new PutMetricAlarmCommand({
        AlarmName: name,
        AlarmDescription: form.description || undefined,
        Namespace: "AWS/ElastiCache",
        MetricName: form.metric,
        Dimensions: node ? [{ Name: "CacheClusterId", Value: node }] : undefined,
        Statistic: form.statistic,
        Period: Number(form.period),
        Threshold: Number(form.threshold),
        ComparisonOperator: form.operator,
        EvaluationPeriods: Number(form.evaluationPeriods),
        DatapointsToAlarm: Number(form.datapoints),
        TreatMissingData: form.missing,
      }));
      navigate(`/cloudwatch/alarms?created=${encodeURIComponent(name)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <section>
      <h1>Create alarm</h1>
      <ErrorBox error={groups.error} />
      <form class="form" onSubmit={submit}>
        <h2>Metric</h2>
        <p class="hint">Namespace AWS/ElastiCache, dimension CacheClusterId (one node).</p>
        <Field label="Redis cluster">
          <select value={chosen ? chosen.ReplicationGroupId : ""}
            onChange={(e) => setForm({ ...form, group: e.currentTarget.value, node: "" })}>
            {list.map((g) => <option key={g.ReplicationGroupId} value={g.ReplicationGroupId}>
              {g.ReplicationGroupId}</option>)}
          </select>
        </Field>
        <Field label="Node (CacheClusterId)">
          <select value={node} onChange={set("node")}>
            {nodes.map((id) => <option key={id} value={id}>{id}</option>)}
          </select>
        </Field>
        {at("node")}
        <Field label="Metric name">
          <select value={form.metric} onChange={set("metric")}>
            {[...new Set([form.metric, ...names])].map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </Field>
        {at("metric")}
        <Field label="Statistic">
          <select value={form.statistic} onChange={set("statistic")}>
            {STATISTICS.map((x) => <option key={x} value={x}>{x}</option>)}
          </select>
        </Field>
        {at("statistic")}
        <Field label="Period">
          <select value={form.period} onChange={set("period")}>
            {PERIODS.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
          </select>
        </Field>
        {at("period")}
        <h2>Conditions</h2>
        <Field label="Comparison" hint={`Whenever ${form.metric} is …`}>
          <select value={form.operator} onChange={set("operator")}>
            {OPERATORS.map(([o, sign]) => <option key={o} value={o}>{`${o} (${sign})`}</option>)}
          </select>
        </Field>
        <Field label="Threshold">
          <input type="number" step="any" value={form.threshold} onInput={set("threshold")} required />
        </Field>
        {at("threshold")}
        <Field label="Evaluation periods">
          <input type="number" min="1" value={form.evaluationPeriods} onInput={set("evaluationPeriods")} required />
        </Field>
        {at("evaluationPeriods")}
        <Field label="Datapoints to alarm" hint="out of the evaluation periods">
          <input type="number" min="1" value={form.datapoints} onInput={set("datapoints")} required />
        </Field>
        {at("datapoints")}
        <Field label="Missing data treatment">
          <select value={form.missing} onChange={set("missing")}>
            {MISSING.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
          </select>
        </Field>
        {at("missing")}
        <h2>Name and description</h2>
        <Field label="Alarm name"><input value={form.name} onInput={set("name")} required /></Field>
        {at("name")}
        <Field label="Alarm description"><input value={form.description} onInput={set("description")} /></Field>
        {at("description")}
        <ErrorBox error={error} />
        <div class="buttons">
          <Link to="/cloudwatch/alarms" class="button">Cancel</Link>
          <button type="submit" class="primary" disabled={busy}>Create alarm</button>
        </div>
      </form>
    </section>
  );
}
