// The console's shell: how it learns whether keys are needed (a signed call with the test
// pair), the sign-in form, the left navigation and the hash router.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import {
  storedKeys, tryKeys, adoptKeys, signOut, TEST_KEYS, errorText, isAuthError, region, setRegion,
} from "./aws.js";
import { ErrorBox, Field } from "./ui.jsx";
import { ClusterList, ClusterDetails, CreateCluster } from "./pages/clusters.jsx";
import {
  SubnetGroupList, CreateSubnetGroup, VpcList, SubnetList, SecurityGroupList,
  CreateSecurityGroup, SecurityGroupDetails,
} from "./pages/network.jsx";
import { EventList, Metrics, Alarms, CreateAlarm } from "./pages/monitoring.jsx";
import { ParameterGroups, ParameterGroupDetails, Snapshots, Users } from "./pages/more.jsx";
import "./app.css";

const NAV = [
  ["ElastiCache", [
    ["/elasticache/redis", "Redis OSS caches"],
    ["/elasticache/subnet-groups", "Subnet groups"],
    ["/elasticache/parameter-groups", "Parameter groups"],
    ["/elasticache/backups", "Backups"],
    ["/elasticache/events", "Events"],
    ["/elasticache/users", "User management"],
  ]],
  ["VPC", [["/vpc/vpcs", "Your VPCs"], ["/vpc/subnets", "Subnets"]]],
  ["EC2", [["/ec2/security-groups", "Security Groups"]]],
  ["CloudWatch", [["/cloudwatch/metrics", "Metrics"], ["/cloudwatch/alarms", "Alarms"]]],
];

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/elasticache/redis";
  const [path, search] = raw.split("?");
  return { path, query: new URLSearchParams(search || "") };
}

function page({ path, query }) {
  const parts = path.split("/").filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch (_) { return p; }
  });
  const [service, section, id] = parts;
  const key = `${service}/${section}`;
  switch (key) {
    case "elasticache/redis":
      if (id === "create") return <CreateCluster />;
      if (id) return <ClusterDetails key={id} id={id} />;
      return <ClusterList />;
    case "elasticache/subnet-groups":
      return id === "create" ? <CreateSubnetGroup /> : <SubnetGroupList />;
    case "elasticache/parameter-groups":
      return id ? <ParameterGroupDetails key={id} id={id} /> : <ParameterGroups />;
    case "elasticache/backups": return <Snapshots />;
    case "elasticache/events": return <EventList />;
    case "elasticache/users": return <Users />;
    case "vpc/vpcs": return <VpcList />;
    case "vpc/subnets": return <SubnetList />;
    case "ec2/security-groups":
      if (id === "create") return <CreateSecurityGroup />;
      if (id) return <SecurityGroupDetails key={id} id={id} query={query} />;
      return <SecurityGroupList />;
    case "cloudwatch/metrics": return <Metrics key={query.toString()} query={query} />;
    case "cloudwatch/alarms":
      return id === "create" ? <CreateAlarm key={query.toString()} query={query} />
        : <Alarms key={query.toString()} query={query} />;
    default: return <section><h1>Not found</h1><p>No console page at {path}.</p></section>;
  }
}

function SignIn({ onSignedIn, reason }) {
  const [keyId, setKeyId] = useState("");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState(reason);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const keys = { accessKeyId: keyId.trim(), secretAccessKey: secret };
    try {
      const built = await tryKeys(keys);
      adoptKeys(keys, true, built);
      onSignedIn();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <div class="signin">
      <form class="form" onSubmit={submit}>
        <h1>Sign in to Ferrocache</h1>
        <p>This Ferrocache verifies request signatures (<code>--credentials</code>). Enter one
          of its access keys; the console keeps it in this tab only.</p>
        <Field label="Access key ID">
          <input value={keyId} onInput={(e) => setKeyId(e.currentTarget.value)} required
            autoComplete="username" />
        </Field>
        <Field label="Secret access key">
          <input type="password" value={secret} onInput={(e) => setSecret(e.currentTarget.value)}
            required autoComplete="current-password" />
        </Field>
        <ErrorBox error={error} />
        <div class="buttons"><button type="submit" class="primary" disabled={busy}>Sign in</button></div>
      </form>
    </div>
  );
}

function App() {
  const [route, setRoute] = useState(parseHash());
  // "ready" at once, with the keys this tab has (or the test pair), so the page's own calls
  // start without waiting for the probe below; "signin" once the probe shows keys are needed
  // (until then every call a page makes is refused by the API like any unsigned one).
  const [mode, setMode] = useState(() => {
    adoptKeys(storedKeys() || TEST_KEYS, false);
    return "ready";
  });
  const [reason, setReason] = useState(null);
  const [regionName, setRegionName] = useState(region());

  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    const keys = storedKeys() || TEST_KEYS;
    tryKeys(keys).catch((err) => {
      // Anything but a refusal of the keys (the API down, say) leaves the console as it is,
      // with the error on its pages rather than a sign-in form that cannot help.
      if (isAuthError(err)) {
        if (keys !== TEST_KEYS) signOut();
        setReason(keys !== TEST_KEYS ? errorText(err) : null);
        setMode("signin");
      }
    });
  }, []);

  if (mode === "signin") return <SignIn reason={reason} onSignedIn={() => setMode("ready")} />;

  const active = route.path;
  return (
    <div class="shell">
      <header class="top">
        <span class="brand">Ferrocache console</span>
        <label class="region">Region
          <input value={regionName} size="12"
            onChange={(e) => {
              const name = e.currentTarget.value.trim();
              if (name) { setRegion(name); setRegionName(name); setRoute(parseHash()); }
            }} />
        </label>
        {storedKeys() ? (
          <span class="who">{storedKeys().accessKeyId}
            <button type="button" onClick={() => { signOut(); setMode("signin"); setReason(null); }}>
              Sign out</button>
          </span>
        ) : null}
      </header>
      <nav class="side" aria-label="Navigation">
        {NAV.map(([service, links]) => (
          <div key={service}>
            <h2>{service}</h2>
            <ul>
              {links.map(([to, title]) => (
                <li key={to}>
                  <a href={`#${to}`} class={active.startsWith(to) ? "active" : ""}>{title}</a>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <main key={`${regionName}`}>{page(route)}</main>
    </div>
  );
}

render(<App />, document.getElementById("app"));
