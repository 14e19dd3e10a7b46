// The AWS clients the console uses, and the credentials they sign with.
//
// The console has no side door: every call is an ordinary SigV4-signed request to the same
// API on this origin, as the aws CLI or boto3 send. Without `--credentials` Ferrocache
// accepts any key, and the console signs with the fixed pair test/test; with it, the person
// signs in and the keys stay in this tab's sessionStorage only.
import {
  ElastiCacheClient,
  DescribeCacheClustersCommand,
} from "@aws-sdk/client-elasticache";
import { EC2Client } from "@aws-sdk/client-ec2";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";

export const TEST_KEYS = { accessKeyId: "test", secretAccessKey: "test" };
const KEYS_ITEM = "ferrocache.console.keys";
const REGION_ITEM = "ferrocache.console.region";
export const DEFAULT_REGION = "us-east-1";

let clients = null;

export function storedKeys() {
  try {
    const keys = JSON.parse(sessionStorage.getItem(KEYS_ITEM) || "null");
    if (keys && typeof keys.accessKeyId === "string" && typeof keys.secretAccessKey === "string") {
      return keys;
    }
  } catch (_) {
    // a damaged item is the same as none
  }
  return null;
}

export function region() {
  return sessionStorage.getItem(REGION_ITEM) || DEFAULT_REGION;
}

export function setRegion(name) {
  sessionStorage.setItem(REGION_ITEM, name);
  clients = null;
}

function build(keys) {
  const config = {
    region: region(),
    endpoint: window.location.origin,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
    // A refused call is shown at once; the console's own polling is its retry.
    maxAttempts: 1,
  };
  return {
    keys,
    elasticache: new ElastiCacheClient(config),
    ec2: new EC2Client(config),
    cloudwatch: new CloudWatchClient(config),
  };
}

// `built`: the clients tryKeys made for these keys (so they are not built twice).
export function adoptKeys(keys, remember, built = null) {
  clients = built && built.keys === keys ? built : build(keys);
  if (remember) {
    sessionStorage.setItem(KEYS_ITEM, JSON.stringify(keys));
  }
}

export function signOut() {
  sessionStorage.removeItem(KEYS_ITEM);
  clients = null;
}

export function signedInWithKeys() {
  return storedKeys() !== null;
}

function current() {
  if (!clients) {
    clients = build(storedKeys() || TEST_KEYS);
  }
  return clients;
}

export const ec = (command) => current().elasticache.send(command);
export const ec2 = (command) => current().ec2.send(command);
export const cw = (command) => current().cloudwatch.send(command);

// A cheap signed call with `keys`: resolves when the API accepts them, rejects with the
// API's error otherwise (resolving to the clients, for adoptKeys). This is how the console
// learns whether keys are needed.
export async function tryKeys(keys) {
  const probe = build(keys);
  await probe.elasticache.send(new DescribeCacheClustersCommand({ MaxRecords: 20 }));
  return probe;
}

// The words to show for a failed call: the API's own code and message.
export function errorText(error) {
  if (!error) return "";
  const code = error.Code || error.name || "Error";
  const message = error.message || String(error);
  return message && message !== code ? `${code}: ${message}` : code;
}

// Errors that mean "these keys are not accepted".
export function isAuthError(error) {
  const code = error && (error.Code || error.name);
  const status = error && error.$metadata && error.$metadata.httpStatusCode;
  return (
    status === 403 ||
    ["InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationToken",
      "UnrecognizedClientException", "AuthFailure", "AccessDenied"].includes(code)
  );
}
