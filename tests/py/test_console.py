"""The web console (`/console/`), driven in Debian's headless Chromium through Playwright for
Python, against a real `ferrocache up`: the failover lab's console steps followed by their
visible words and labels, then checked through boto3 and redis-cli; plus the console's edges
(the redirect from `GET /`, its headers, escaping, the sign-in with `--credentials`, and the
cross-site refusal of API requests).

Screenshots of the main pages go to tests/py/artifacts/console/ (git-ignored); the details
page after the failover also goes to docs/images/console.png for the README when that file is
missing or FERROCACHE_UPDATE_README_IMAGE=1 (so test runs do not churn a committed file).
"""

import os
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from harness import REGION, Ferrocache, redis_cli, wait_group_available, wait_until

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=60_000)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(HERE, "artifacts", "console")
README_IMAGE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "images",
                            "console.png")

GROUP = "practice-redis-replication-multi"
SUBNET_GROUP = "practice-redis-subnet-group-multi"
SECURITY_GROUP = "practice-redis-multi-sg"
# Waits for the UI to show what the API already did: generous, never a threshold.
UI_WAIT_MS = 60_000

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(UI_WAIT_MS)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # The security policy must never have to block anything the console itself does.
    page.on("console", lambda message: page.errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    # Nothing is loaded from anywhere but the instance under test (loopback).
    page.on("request", lambda request: None if request.url.startswith(
        ("http://127.0.0.1:", "data:")) else page.errors.append(f"request to {request.url}"))
    # An alert() would mean a user string ran as script.
    page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"),
                                      dialog.dismiss()))
    yield page
    context.close()
    assert not page.errors, page.errors


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


def nav(page, section, link):
    """Click `link` under `section` in the left navigation."""
    page.get_by_role("navigation", name="Navigation").get_by_role(
        "link", name=link, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def row(page, table, text):
    return page.get_by_role("table", name=table).get_by_role("row").filter(has_text=text)


def role_rows(page, nodes, role):
    """The rows of the Nodes table whose role cell is exactly `role`."""
    return nodes.get_by_role("row").filter(has=page.get_by_role("cell", name=role, exact=True))


def ec2_client(fc):
    return boto3.client("ec2", endpoint_url=fc.endpoint_url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


# Goal: a person can follow the lab's console steps 1-5 and 10-12 in the browser, by the
# lab's words: VPC and subnets, subnet group, security group with its 6379 rule, the cluster
# with 2 replicas and Multi-AZ, its details, Actions → Failover, the events and the marked
# moment on the metrics charts; the result is then what boto3 and redis-cli see.
# Method: Playwright clicks links and buttons and fills fields found by their visible names
# and labels; the VPC and subnets are made on the console's VPC pages too (lab step 1).
def test_failover_lab_in_the_browser(fc, ec, page):
    base = fc.endpoint_url
    page.goto(base + "/")
    assert page.url == base + "/console/"
    expect(page.get_by_role("heading", name="Redis OSS caches")).to_be_visible()
    shot(page, "01-redis-clusters-empty")

    # Step 1: VPC → Your VPCs, then VPC → Subnets (two private subnets in two zones).
    nav(page, "VPC", "Your VPCs")
    page.get_by_label("Name tag").fill("practice-vpc-q1")
    page.get_by_label("IPv4 CIDR block").fill("10.0.0.0/16")
    page.get_by_role("button", name="Create VPC").click()
    vpc_row = row(page, "VPCs", "practice-vpc-q1")
    expect(vpc_row).to_have_count(1)
    vpc_id = vpc_row.get_by_role("cell").nth(1).inner_text().strip()
    assert vpc_id.startswith("vpc-")

    nav(page, "VPC", "Subnets")
    for name, zone, cidr in [("practice-private-1a", "us-east-1a", "10.0.11.0/24"),
                             ("practice-private-1b", "us-east-1b", "10.0.12.0/24")]:
        page.get_by_label("VPC ID").select_option(vpc_id)
        page.get_by_label("Subnet name").fill(name)
        page.get_by_label("Availability Zone").fill(zone)
        page.get_by_label("IPv4 subnet CIDR block").fill(cidr)
        page.get_by_role("button", name="Create subnet").click()
        expect(row(page, "Subnets", name)).to_contain_text(zone)
    shot(page, "02-subnets")

    # Step 2: ElastiCache → Subnet groups → Create.
    nav(page, "ElastiCache", "Subnet groups")
    page.get_by_role("link", name="Create subnet group").click()
    page.get_by_label("Name").fill(SUBNET_GROUP)
    page.get_by_label("Description").fill("Multi-AZ Redis subnet group")
    page.get_by_label("VPC ID").select_option(vpc_id)
    page.get_by_label(re.compile(r"10\.0\.11\.0/24 us-east-1a")).check()
    page.get_by_label(re.compile(r"10\.0\.12\.0/24 us-east-1b")).check()
    page.get_by_role("button", name="Create").click()
    expect(row(page, "Subnet groups", SUBNET_GROUP)).to_contain_text(vpc_id)
    shot(page, "03-subnet-groups")

    # Step 3: EC2 → Security Groups → Create, with the inbound rule on 6379. Clients here
    # are local processes, so the rule's source is the loopback range.
    nav(page, "EC2", "Security Groups")
    page.get_by_role("link", name="Create security group").click()
    page.get_by_label("Security group name").fill(SECURITY_GROUP)
    page.get_by_label("Description").fill("Redis from the app tier")
    page.get_by_label("VPC").select_option(vpc_id)
    page.get_by_role("button", name="Add rule").click()
    page.get_by_label("Protocol 1").select_option(label="TCP")
    page.get_by_label("Port range 1").fill("6379")
    page.get_by_label("Source 1").fill("127.0.0.0/8")
    page.get_by_role("button", name="Create security group").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(SECURITY_GROUP)
    rules = page.get_by_role("table", name="Inbound rules")
    expect(rules).to_contain_text("127.0.0.0/8")
    expect(rules).to_contain_text("6379")
    sg_id = page.get_by_role("heading", level=1).inner_text().split(" ")[0]
    assert sg_id.startswith("sg-")
    # The lab's other kind of source, a security group (here the group itself), added and
    # removed again on the group's page.
    page.get_by_label("Source", exact=True).fill(sg_id)
    page.get_by_role("button", name="Add rule").click()
    expect(rules.get_by_role("row")).to_have_count(3)
    expect(rules).to_contain_text(sg_id)
    page.get_by_role("button", name=f"Remove rule {sg_id} 6379").click()
    expect(rules.get_by_role("row")).to_have_count(2)
    expect(rules).not_to_contain_text(sg_id)
    shot(page, "04-security-group")

    # Step 4: ElastiCache → Redis clusters → Create cluster. A bad name first: the API's own
    # refusal shows next to the form.
    nav(page, "ElastiCache", "Redis OSS caches")
    page.get_by_role("link", name="Create Redis cluster").click()
    page.get_by_label("Disabled").check()
    page.get_by_label("Name", exact=True).fill("1-not-a-valid--name")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("InvalidParameterValue")
    # ... and next to the field it is about.
    name_error = page.locator(".field").filter(has=page.get_by_label("Name", exact=True)).locator(
        "xpath=following-sibling::*[1]")
    expect(name_error).to_contain_text("InvalidParameterValue")
    page.get_by_label("Name", exact=True).fill(GROUP)
    page.get_by_label("Description").fill("Redis replication with failover")
    page.get_by_label("Engine version").select_option("7.0")
    page.get_by_label("Node type").select_option("cache.t3.micro")
    page.get_by_label("Number of replicas").fill("2")
    page.get_by_label("Subnet group").select_option(SUBNET_GROUP)
    page.get_by_label(f"{SECURITY_GROUP} ({sg_id})").check()
    page.get_by_label("Multi-AZ").check()
    page.get_by_label("Automatic failover").check()
    page.get_by_label("Enable automatic backups").uncheck()
    shot(page, "05-create-cluster")
    page.get_by_role("button", name="Create").click()

    # "Wait for cluster to be Available": the list polls; no reload.
    expect(page.get_by_role("heading", name="Redis OSS caches")).to_be_visible()
    group_row = row(page, "Redis clusters", GROUP)
    expect(group_row).to_contain_text("available", timeout=120_000)
    expect(group_row).to_contain_text("cache.t3.micro")
    expect(group_row).to_contain_text("Disabled")
    shot(page, "06-redis-clusters")

    # Step 5: the details.
    group_row.get_by_role("link", name=GROUP).click()
    details = page.locator("dl.kv")
    for label, value in [("Status", "available"), ("Cluster mode", "Disabled"),
                         ("Number of replicas", "2"), ("Multi-AZ", "Enabled"),
                         ("Automatic failover", "Enabled")]:
        term = page.locator("dt", has_text=re.compile(f"^{re.escape(label)}$"))
        expect(details.locator("div").filter(has=term)).to_contain_text(value)
    nodes = page.get_by_role("table", name="Nodes")
    expect(role_rows(page, nodes, "Primary")).to_have_count(1)
    expect(role_rows(page, nodes, "Replica")).to_have_count(2)
    expect(nodes).to_contain_text("us-east-1a")
    expect(nodes).to_contain_text("us-east-1b")
    primary_box = page.locator(".endpoint").filter(has_text="Primary endpoint")
    reader_box = page.locator(".endpoint").filter(has_text="Reader endpoint")
    primary_endpoint = primary_box.locator("code").first.inner_text()
    reader_endpoint = reader_box.locator("code").first.inner_text()
    primary_host = primary_endpoint.rsplit(":", 1)[0]
    expect(primary_box).to_contain_text(f"redis-cli -h {primary_host} -p 6379")
    expect(primary_box.get_by_role("button", name="Copy Primary endpoint")).to_be_visible()
    old_primary = role_rows(page, nodes, "Primary").get_by_role(
        "cell").first.inner_text().strip()
    shot(page, "07-cluster-details")

    # Lab step 7 through the endpoint the page shows (the security group's rule admits us).
    assert redis_cli(primary_host, "SET", "counter", "100").stdout.strip() == "OK"
    assert redis_cli(primary_host, "SET", "message", "Hello Replication").stdout.strip() == "OK"
    reader_host = reader_endpoint.rsplit(":", 1)[0]
    wait_until(lambda: redis_cli(reader_host, "GET", "counter").stdout.strip() == "100",
               timeout=30, what="counter replicated to the reader endpoint")

    # Step 10: Actions → Failover, confirmed.
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Failover").click()
    dialog = page.get_by_role("dialog", name="Failover primary")
    expect(dialog).to_contain_text(GROUP)
    dialog.get_by_role("button", name="Failover").click()
    expect(page.get_by_role("status")).to_contain_text("Failover started")

    # Step 11 in the browser: a new primary, and the failover in the events.
    new_primary_row = role_rows(page, nodes, "Primary").filter(
        has_not_text=old_primary)
    expect(new_primary_row).to_have_count(1, timeout=120_000)
    new_primary = new_primary_row.get_by_role("cell").first.inner_text().strip()
    events = page.get_by_role("table", name="Events")
    expect(events).to_contain_text("Test Failover API called")
    expect(events).to_contain_text(
        f"Failover from primary node {old_primary} to replica node {new_primary} completed")
    expect(details).to_contain_text("available")
    shot(page, "08-cluster-after-failover")
    shot(page, "readme")
    if os.environ.get("FERROCACHE_UPDATE_README_IMAGE") or not os.path.exists(README_IMAGE):
        os.makedirs(os.path.dirname(README_IMAGE), exist_ok=True)
        page.screenshot(path=README_IMAGE, full_page=False)

    # Step 12: CloudWatch → Metrics for the cluster: the charts, with the failover marked.
    page.get_by_role("link", name=f"Metrics of {new_primary}").click()
    # The metrics page first: until it renders, the cluster page's "Nodes" table answers to
    # the label too (not an input: the expectation fails at once rather than waiting).
    expect(page.get_by_role("group", name="Time range")).to_be_visible()
    expect(page.get_by_label("Node")).to_have_value(new_primary)
    page.go_back()
    page.get_by_role("link", name="View metrics").click()
    expect(page.get_by_role("heading", name="Metrics")).to_be_visible()
    expect(page.get_by_label("Redis cluster")).to_have_value(GROUP)
    for metric in ["EngineCPUUtilization", "CurrConnections", "ReplicationLag",
                   "DatabaseMemoryUsagePercentage", "CacheHitRate", "NetworkBytesIn"]:
        expect(page.locator(f'.chart[data-metric="{metric}"] canvas')).to_have_count(1)
    markers = page.get_by_role("list", name="Marked events")
    completed = f"Failover from primary node {old_primary} to replica node {new_primary} completed"
    expect(markers.locator("li.failover").filter(has_text=completed).first).to_be_visible()
    page.get_by_role("button", name="3h").click()
    expect(page.get_by_role("button", name="3h")).to_have_attribute("aria-pressed", "true")
    expect(markers.locator("li.failover").filter(has_text=completed).first).to_be_visible()
    # One node's charts.
    page.get_by_label("Node").select_option(new_primary)
    connections = page.locator('.chart[data-metric="CurrConnections"]')
    expect(connections).to_contain_text(new_primary)
    expect(connections).not_to_contain_text(old_primary)
    page.get_by_label("Node").select_option("")
    page.get_by_role("button", name="1h").click()
    expect(connections).to_contain_text(old_primary)
    shot(page, "09-metrics")

    # ElastiCache → Events, filtered by the cluster.
    nav(page, "ElastiCache", "Events")
    page.get_by_label("Source type").select_option("replication-group")
    page.get_by_label("Source ID").fill(GROUP)
    expect(page.get_by_role("table", name="Events")).to_contain_text("Test Failover API called")
    shot(page, "10-events")
    nav(page, "CloudWatch", "Alarms")
    expect(page.get_by_role("table", name="Alarms")).to_be_visible()

    # The result through the API and redis-cli (lab step 11's commands).
    group = wait_group_available(ec, GROUP)
    assert group["MultiAZ"] == "enabled" and group["AutomaticFailover"] == "enabled"
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    primaries = [m["CacheClusterId"] for m in members if m["CurrentRole"] == "primary"]
    assert primaries == [new_primary] and new_primary != old_primary
    cluster = ec.describe_cache_clusters(CacheClusterId=new_primary)["CacheClusters"][0]
    assert cluster["CacheSubnetGroupName"] == SUBNET_GROUP
    assert [g["SecurityGroupId"] for g in cluster["SecurityGroups"]] == [sg_id]
    sg = ec2_client(fc).describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
    assert [(p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]])
            for p in sg["IpPermissions"]] == [(6379, ["127.0.0.0/8"])]
    wait_until(lambda: "connected_slaves:2" in redis_cli(primary_host, "INFO",
                                                         "replication").stdout,
               timeout=60, what="two replicas attached to the new primary")
    info = redis_cli(primary_host, "INFO", "replication").stdout
    assert "role:master" in info
    assert redis_cli(primary_host, "GET", "counter").stdout.strip() == "100"
    assert redis_cli(primary_host, "GET", "message").stdout.strip() == "Hello Replication"

    # Actions → Delete asks for the name before it deletes.
    nav(page, "ElastiCache", "Redis OSS caches")
    row(page, "Redis clusters", GROUP).get_by_role("link", name=GROUP).click()
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog")
    delete = dialog.get_by_role("button", name="Delete")
    expect(delete).to_be_disabled()
    dialog.get_by_label("Confirmation").fill(GROUP)
    delete.click()
    expect(page.get_by_role("heading", name="Redis OSS caches")).to_be_visible()
    wait_until(lambda: not [g for g in ec.describe_replication_groups()["ReplicationGroups"]
                            if g["ReplicationGroupId"] == GROUP],
               timeout=120, what="group deleted")
    expect(row(page, "Redis clusters", GROUP)).to_have_count(0)


# Goal: user-supplied strings are shown as text, never run or parsed as HTML.
# Method: a group whose description is a script tag, made through boto3; the list and the
# details show the literal string, no alert fires (the page fixture fails on any dialog), and
# no script element carries it.
def test_strings_are_escaped(fc, ec, page):
    text = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    ec.create_replication_group(ReplicationGroupId="xss", ReplicationGroupDescription=text,
                                Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheClusters=1)
    page.goto(fc.endpoint_url + "/console/")
    cell = row(page, "Redis clusters", "xss").get_by_role("cell").last
    expect(cell).to_have_text(text)
    row(page, "Redis clusters", "xss").get_by_role("link", name="xss").click()
    expect(page.locator("dl.kv")).to_contain_text(text)
    assert page.locator("img[src=x]").count() == 0
    assert all("alert" not in s for s in page.locator("script").evaluate_all(
        "els => els.map(e => e.textContent)"))


@pytest.fixture
def signed_fc(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[default]\naws_access_key_id = AKIDCONSOLE\n"
                    "aws_secret_access_key = console-secret\n")
    os.chmod(path, 0o600)
    instance = Ferrocache(extra_args=["--credentials", str(path)])
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


# Goal: with --credentials the console does nothing until valid keys are given, shows the
# API's refusal for wrong ones, and then signs its calls with the keys given.
# Method: open the console (and a deep link) without keys: the sign-in form, no list; the
# test pair and a wrong secret: the API's error text; the right keys: the list, also after a
# reload (sessionStorage), and the SDK's calls carry the signed-in key.
def test_credentials_sign_in(signed_fc, page):
    page.goto(signed_fc.endpoint_url + "/console/#/elasticache/redis/create")
    expect(page.get_by_role("heading", name="Sign in to Ferrocache")).to_be_visible()
    expect(page.get_by_role("heading", name="Create Redis cluster")).to_have_count(0)
    page.get_by_label("Access key ID").fill("test")
    page.get_by_label("Secret access key").fill("test")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("InvalidClientTokenId")
    page.get_by_label("Access key ID").fill("AKIDCONSOLE")
    page.get_by_label("Secret access key").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("SignatureDoesNotMatch")
    shot(page, "11-sign-in")
    page.get_by_label("Secret access key").fill("console-secret")
    with page.expect_request(lambda r: r.method == "POST" and "AKIDCONSOLE" in (
            r.headers.get("authorization") or "")):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Create Redis cluster")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Create Redis cluster")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Ferrocache")).to_be_visible()


def http(url, method="GET", data=None, headers=None):
    """(status, headers, body) of one plain HTTP request; no redirects followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


QUERY = b"Action=DescribeCacheClusters&Version=2015-02-02"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# Goal: the console's own HTTP: a browser's GET / goes to /console/, the API on / is
# unchanged for tools, the files carry their type, caching and security policy, and API
# requests a browser sends from another origin are refused with AccessDenied (403).
# Method: plain HTTP requests with and without the headers browsers add.
def test_http_edges(fc):
    base = fc.endpoint_url
    status, headers, _ = http(base + "/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert status == 303 and headers["Location"] == "/console/"
    status, headers, _ = http(base + "/console")
    assert status == 303 and headers["Location"] == "/console/"
    # Tools: POST, and GET with a query string, answer as before.
    status, _, body = http(base + "/", "POST", QUERY, FORM)
    assert status == 200 and b"<DescribeCacheClustersResponse" in body
    status, _, body = http(base + "/?" + QUERY.decode(), headers={"Accept": "text/html"})
    assert status == 200 and b"<DescribeCacheClustersResponse" in body
    status, _, body = http(base + "/")
    assert status == 400 and b"<ErrorResponse" in body

    status, headers, page = http(base + "/console/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    policy = headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self';") and "unsafe-inline" not in policy
    assert b"<script>" not in page and b'src="app.js"' in page
    status, headers, _ = http(base + "/console/app.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    status, _, _ = http(base + "/console/app.js", headers={"If-None-Match": headers["ETag"]})
    assert status == 304
    status, headers, _ = http(base + "/console/app.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    for path in ["/console/nope", "/console/../Cargo.toml", "/console/%2e%2e/x"]:
        status, _, _ = http(base + path)
        assert status == 404, path
    status, _, _ = http(base + "/console/", "POST", b"x=1", FORM)
    assert status == 405

    # Cross-site: refused in AWS's error form; same-origin browser requests pass.
    for extra in [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                  {"Origin": f"http://127.0.0.1:{fc.port + 1}", "Sec-Fetch-Site": "same-site"},
                  {"Origin": "null"}]:
        status, _, body = http(base + "/", "POST", QUERY, {**FORM, **extra})
        assert status == 403, extra
        assert b"<Code>AccessDenied</Code>" in body, body
    status, _, body = http(base + "/", "POST", QUERY, {
        **FORM, "Origin": base, "Sec-Fetch-Site": "same-origin"})
    assert status == 200, body



# Goal: the rest of ElastiCache's pages work by their words: Backups (create, copy, restore
# into a new cluster, delete with the name typed), Parameter groups (create, edit a user value
# with the allowed values shown, the API's refusal of a bad value) and User management (a user
# and a user group). Method: one small group made with boto3, everything else in the browser,
# results read back through boto3.
def test_backups_parameters_and_users(fc, ec, page):
    ec.create_replication_group(ReplicationGroupId="src", ReplicationGroupDescription="source",
                                Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheClusters=1)
    wait_group_available(ec, "src")
    page.goto(fc.endpoint_url + "/console/")

    nav(page, "ElastiCache", "Backups")
    page.get_by_label("Cluster").select_option("src")
    page.get_by_label("Backup name").fill("src-backup")
    page.get_by_role("button", name="Create backup").click()
    expect(row(page, "Backups", "src-backup")).to_contain_text("available")
    page.get_by_role("button", name="Copy src-backup").click()
    page.get_by_label("New backup name").fill("src-copy")
    page.get_by_role("dialog").get_by_role("button", name="Copy").click()
    expect(row(page, "Backups", "src-copy")).to_contain_text("available")
    page.get_by_role("button", name="Restore src-backup").click()
    page.get_by_label("New cluster name").fill("restored")
    page.get_by_role("dialog").get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("Restoring src-backup into restored")
    page.get_by_role("button", name="Delete src-copy").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Confirmation").fill("src-copy")
    dialog.get_by_role("button", name="Delete").click()
    expect(row(page, "Backups", "src-copy")).to_have_count(0)
    shot(page, "12-backups")
    restored = wait_group_available(ec, "restored")
    assert restored["Status"] == "available"

    nav(page, "ElastiCache", "Parameter groups")
    page.get_by_label("Name").fill("app-params")
    page.get_by_label("Description").fill("app parameters")
    page.get_by_role("button", name="Create parameter group").click()
    page.get_by_role("link", name="app-params").click()
    page.get_by_label("Find parameters").fill("maxmemory-policy")
    parameters = page.get_by_role("table", name="Parameters")
    expect(parameters).to_contain_text("allkeys-lru")  # the allowed values
    page.get_by_label("Value of maxmemory-policy").fill("no-such-policy")
    page.get_by_role("button", name=re.compile("Save changes")).click()
    expect(page.get_by_role("alert")).to_contain_text("InvalidParameterValue")
    page.get_by_label("Value of maxmemory-policy").fill("allkeys-lru")
    page.get_by_role("button", name=re.compile("Save changes")).click()
    expect(page.get_by_role("status")).to_contain_text("Saved 1 parameter value")
    shot(page, "13-parameter-group")
    pages = ec.get_paginator("describe_cache_parameters").paginate(
        CacheParameterGroupName="app-params")
    values = {p["ParameterName"]: p.get("ParameterValue")
              for p in pages.build_full_result()["Parameters"]}
    assert values["maxmemory-policy"] == "allkeys-lru"

    nav(page, "ElastiCache", "User management")
    page.get_by_label("User ID", exact=True).fill("app-user")
    page.get_by_label("Access string").fill("on ~app:* +@read")
    page.get_by_label("Password").fill("a-long-enough-password")
    page.get_by_role("button", name="Create user", exact=True).click()
    expect(page.get_by_role("table", name="Users")).to_contain_text("on ~app:* +@read")
    page.get_by_label("User group ID").fill("app-group")
    page.get_by_label("User IDs").fill("default, app-user")
    page.get_by_role("button", name="Create user group").click()
    expect(page.get_by_role("table", name="User groups")).to_contain_text("app-group")
    shot(page, "14-users")
    group = ec.describe_user_groups(UserGroupId="app-group")["UserGroups"][0]
    assert sorted(group["UserIds"]) == ["app-user", "default"]

    # A cluster's Actions → Modify, and a node's Reboot.
    nav(page, "ElastiCache", "Redis OSS caches")
    row(page, "Redis clusters", "src").get_by_role("link", name="src").click()
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Modify").click()
    dialog = page.get_by_role("dialog", name="Modify src")
    dialog.get_by_label("Description").fill("modified in the console")
    dialog.get_by_label("Backup retention period").fill("3")
    dialog.get_by_role("button", name="Modify").click()
    expect(page.get_by_role("status")).to_contain_text("Modifying src")
    expect(page.locator("dl.kv")).to_contain_text("modified in the console")
    expect(page.locator("dl.kv")).to_contain_text("3 days")
    page.get_by_role("button", name="Reboot src-001").click()
    page.get_by_role("dialog", name="Reboot src-001").get_by_role("button", name="Reboot").click()
    expect(page.get_by_role("status")).to_contain_text("Rebooting src-001")
    modified = wait_group_available(ec, "src")
    assert modified["Description"] == "modified in the console"
    assert modified["SnapshotRetentionLimit"] == 3


# Goal: the create form's other mode: cluster mode enabled with 2 shards of 1 replica gives a
# group with a configuration endpoint, and the failover dialog offers each shard.
# Method: the form by its labels, then the details page and boto3.
def test_create_cluster_mode_enabled(fc, ec, page):
    page.goto(fc.endpoint_url + "/console/#/elasticache/redis/create")
    page.get_by_label("Enabled").check()
    page.get_by_label("Name", exact=True).fill("sharded")
    page.get_by_label("Description").fill("two shards")
    page.get_by_label("Number of shards").fill("2")
    page.get_by_label("Number of replicas").fill("1")
    page.get_by_role("button", name="Create").click()
    group_row = row(page, "Redis clusters", "sharded")
    expect(group_row).to_contain_text("available", timeout=120_000)
    expect(group_row).to_contain_text("Enabled")
    group_row.get_by_role("link", name="sharded").click()
    config = page.locator(".endpoint").filter(has_text="Configuration endpoint")
    expect(config).to_contain_text("redis-cli -h")
    expect(page.get_by_role("table", name="Nodes").get_by_role("row")).to_have_count(5)
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Failover").click()
    dialog = page.get_by_role("dialog", name="Failover primary")
    expect(dialog.get_by_label("Shard").locator("option")).to_have_count(2)
    dialog.get_by_role("button", name="Cancel").click()
    group = ec.describe_replication_groups(ReplicationGroupId="sharded")["ReplicationGroups"][0]
    assert group["ClusterEnabled"] is True and len(group["NodeGroups"]) == 2


# A /20 of endpoint addresses for the test that makes 120 groups (each takes three: the
# node's, the primary and the reader endpoint); the usual /24 holds 128. Outside the
# harness's 127.150-199 range, so parallel tests never share it.
MANY_CIDR = "127.226.0.0/20"


@pytest.fixture
def many_fc(request):
    instance = Ferrocache(cidr=MANY_CIDR)
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


# Goal: the Redis clusters list reads every group through the API's paging (MaxRecords=100,
# Marker) and shows them a page at a time with the total, as the AWS console does; finding
# narrows the list. Method: 120 one-node groups made with boto3 (not waited for: the list
# shows them in any state), then the list page by its words; the requests the page sent are
# checked for the paging. No timing (bench/console.sh measures 1000 groups).
def test_list_pages_through_many_groups(many_fc, page):
    ec = many_fc.client()
    n = 120
    ids = [f"many-{i:03d}" for i in range(n)]

    def create(group_id):
        ec.create_replication_group(ReplicationGroupId=group_id, ReplicationGroupDescription="many",
                                    Engine="redis", CacheNodeType="cache.t3.micro",
                                    NumCacheClusters=1)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, ids))
    calls = []
    page.on("request", lambda r: calls.append(r.post_data or "") if r.method == "POST" and
            "Action=DescribeReplicationGroups" in (r.post_data or "") else None)
    page.goto(many_fc.endpoint_url + "/console/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Redis OSS caches ({n})")
    table = page.get_by_role("table", name="Redis clusters")
    expect(table.get_by_role("row")).to_have_count(51)  # the header and the first 50
    expect(page.get_by_text(f"1-50 of {n}")).to_be_visible()
    assert any("MaxRecords=100" in c and "Marker=" in c for c in calls), calls
    seen = []
    for number in (1, 2, 3):
        if number > 1:
            page.get_by_role("button", name="Next page").click()
        expect(page.get_by_role("button", name=f"Page {number}")).to_have_attribute(
            "aria-current", "page")
        expect(table.get_by_role("row")).to_have_count(51 if number < 3 else 21)
        seen += table.get_by_role("link").all_inner_texts()
    assert sorted(seen) == ids
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_label("Page size").select_option("100")
    expect(table.get_by_role("row")).to_have_count(101)
    page.get_by_label("Find clusters").fill("many-11")
    expect(table.get_by_role("row")).to_have_count(11)
    expect(page.get_by_text("1-10 of 10")).to_be_visible()
    shot(page, "15-many-clusters")


def wait_members(ec, group_id, count):
    def check():
        group = ec.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
        return group["Status"] == "available" and len(group["MemberClusters"]) == count
    wait_until(check, timeout=120, poll=0.2, what=f"{group_id} available with {count} nodes")


# Goal: the cluster page's Modify changes the number of replicas (IncreaseReplicaCount /
# DecreaseReplicaCount), Manage tags adds, changes and removes tags, and CloudWatch → Alarms
# creates an alarm on one of the cluster's nodes and deletes it; each shows the API's refusal
# in its form, and the alarm and its state show on the cluster's metrics page. Method: one
# one-node group made with boto3; everything else by the pages' words and labels, the results
# read back through boto3.
def test_replicas_tags_and_alarms(fc, ec, page):
    ec.create_replication_group(ReplicationGroupId="acts", ReplicationGroupDescription="actions",
                                Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheClusters=1)
    wait_group_available(ec, "acts")
    page.goto(fc.endpoint_url + "/console/#/elasticache/redis/acts")
    nodes = page.get_by_role("table", name="Nodes")
    expect(nodes.get_by_role("row")).to_have_count(2)

    # Modify → Number of replicas: the API's limit first, then one replica.
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Modify").click()
    dialog = page.get_by_role("dialog", name="Modify acts")
    dialog.get_by_label("Number of replicas").fill("6")
    dialog.get_by_role("button", name="Modify").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        "InvalidParameterValue: Invalid value 6 for NewReplicaCount")
    dialog.get_by_label("Number of replicas").fill("1")
    dialog.get_by_role("button", name="Modify").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Changing the number of replicas of acts to 1")
    wait_members(ec, "acts", 2)
    expect(nodes.get_by_role("row")).to_have_count(3)
    expect(role_rows(page, nodes, "Replica")).to_have_count(1)
    shot(page, "16-replicas")

    # Actions → Manage tags: two tags (one with markup, shown as text), the API's refusal of a
    # reserved key, then one changed and one removed.
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Manage tags").click()
    dialog = page.get_by_role("dialog", name="Manage tags of acts")
    dialog.get_by_label("Tag key 1").fill("team")
    dialog.get_by_label("Tag value 1").fill("<b>cache</b>")
    dialog.get_by_role("button", name="Add tag").click()
    dialog.get_by_label("Tag key 2").fill("aws:owner")
    dialog.get_by_label("Tag value 2").fill("me")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog.get_by_role("alert")).to_contain_text("reserved for system use")
    dialog.get_by_label("Tag key 2").fill("env")
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the tags of acts")
    tags = page.get_by_role("table", name="Tags")
    expect(row(page, "Tags", "team")).to_contain_text("<b>cache</b>")
    expect(row(page, "Tags", "env")).to_contain_text("me")
    arn = ec.describe_replication_groups(ReplicationGroupId="acts")["ReplicationGroups"][0]["ARN"]
    listed = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]}
    assert listed == {"team": "<b>cache</b>", "env": "me"}
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Manage tags").click()
    dialog = page.get_by_role("dialog", name="Manage tags of acts")
    expect(dialog.get_by_label("Tag key 2")).to_have_value(re.compile("team|env"))
    key1 = dialog.get_by_label("Tag key 1").input_value()
    dialog.get_by_role("button", name="Remove tag 1").click()
    dialog.get_by_label("Tag value 1").fill("changed")
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the tags of acts")
    expect(tags.get_by_role("row")).to_have_count(2)
    kept = "env" if key1 == "team" else "team"
    listed = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]}
    assert listed == {kept: "changed"}

    # Modify → back to no replicas.
    page.get_by_role("button", name="Actions").click()
    page.get_by_role("menuitem", name="Modify").click()
    dialog = page.get_by_role("dialog", name="Modify acts")
    dialog.get_by_label("Number of replicas").fill("0")
    dialog.get_by_role("button", name="Modify").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Changing the number of replicas of acts to 0")
    wait_members(ec, "acts", 1)
    expect(nodes.get_by_role("row")).to_have_count(2)

    # CloudWatch → Alarms → Create alarm on the node's EngineCPUUtilization.
    nav(page, "CloudWatch", "Alarms")
    page.get_by_role("link", name="Create alarm").click()
    page.get_by_label("Redis cluster").select_option("acts")
    page.get_by_label("Node (CacheClusterId)").select_option("acts-001")
    page.get_by_label("Metric name").select_option("EngineCPUUtilization")
    page.get_by_label("Statistic").select_option("Maximum")
    page.get_by_label(re.compile("^Period")).select_option(label="1 minute")
    page.get_by_label("Comparison").select_option("GreaterThanThreshold")
    page.get_by_role("spinbutton", name="Threshold").fill("90")
    page.get_by_label("Evaluation periods").fill("2")
    page.get_by_label("Datapoints to alarm").fill("3")
    page.get_by_label("Missing data treatment").select_option("notBreaching")
    page.get_by_label("Alarm name").fill("acts-<cpu>")
    page.get_by_role("button", name="Create alarm").click()
    datapoints_error = page.locator(".field").filter(
        has=page.get_by_label("Datapoints to alarm")).locator("xpath=following-sibling::*[1]")
    expect(datapoints_error).to_contain_text(
        "DatapointsToAlarm must be less than or equal to EvaluationPeriods")
    page.get_by_label("Datapoints to alarm").fill("2")
    page.get_by_role("button", name="Create alarm").click()
    expect(page.get_by_role("status")).to_contain_text("Created alarm acts-<cpu>")
    alarm_row = row(page, "Alarms", "acts-<cpu>")
    expect(alarm_row).to_contain_text("EngineCPUUtilization > 90 for 2 datapoints within 60s")
    expect(alarm_row).to_contain_text("CacheClusterId=acts-001")
    cw = boto3.client("cloudwatch", endpoint_url=fc.endpoint_url, region_name=REGION,
                      aws_access_key_id="test", aws_secret_access_key="test")
    alarm = cw.describe_alarms(AlarmNames=["acts-<cpu>"])["MetricAlarms"][0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"],
            alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"],
            alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (
        "AWS/ElastiCache", "EngineCPUUtilization", "Maximum", 60, 90.0,
        "GreaterThanThreshold", 2, 2, "notBreaching")
    assert alarm["Dimensions"] == [{"Name": "CacheClusterId", "Value": "acts-001"}]
    state = alarm["StateValue"]
    shot(page, "17-alarms")

    # The cluster's metrics page lists the alarm with its state, also under its chart.
    page.goto(fc.endpoint_url + "/console/#/cloudwatch/metrics?group=acts")
    expect(row(page, "Alarms of this cluster", "acts-<cpu>")).to_contain_text(
        re.compile("OK|ALARM|INSUFFICIENT_DATA"))
    expect(page.locator(".chart-box").filter(
        has=page.locator('[data-metric="EngineCPUUtilization"]'))).to_contain_text("acts-<cpu>")
    assert state in {"OK", "ALARM", "INSUFFICIENT_DATA"}
    shot(page, "18-metrics-alarms")

    # Delete the alarm from the list.
    nav(page, "CloudWatch", "Alarms")
    page.get_by_role("button", name="Delete alarm acts-<cpu>").click()
    page.get_by_role("dialog", name="Delete alarm acts-<cpu>").get_by_role(
        "button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted alarm acts-<cpu>")
    expect(row(page, "Alarms", "acts-<cpu>")).to_have_count(0)
    assert cw.describe_alarms(AlarmNames=["acts-<cpu>"])["MetricAlarms"] == []


# Goal: ElastiCache → Subnet groups edits a group (description, subnets) and deletes one once
# its name is typed, with the API's refusals shown (the default group cannot be modified).
# Method: a subnet group over one of the default VPC's subnets made with boto3; the page's
# Edit and Delete by their labels; the result read back through boto3.
def test_subnet_group_edit_and_delete(fc, ec, page):
    vpc = ec.describe_cache_subnet_groups(CacheSubnetGroupName="default")[
        "CacheSubnetGroups"][0]["VpcId"]
    subnets = sorted((s for s in ec2_client(fc).describe_subnets()["Subnets"]
                      if s["VpcId"] == vpc), key=lambda s: s["AvailabilityZone"])
    first, second = subnets[0], subnets[1]
    ec.create_cache_subnet_group(CacheSubnetGroupName="edit-me",
                                 CacheSubnetGroupDescription="before",
                                 SubnetIds=[first["SubnetId"]])
    page.goto(fc.endpoint_url + "/console/#/elasticache/subnet-groups")

    page.get_by_role("button", name="Edit default").click()
    dialog = page.get_by_role("dialog", name="Edit default")
    dialog.get_by_label("Description").fill("changed")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        "The default cache subnet group cannot be modified")
    dialog.get_by_role("button", name="Cancel").click()

    page.get_by_role("button", name="Edit edit-me").click()
    dialog = page.get_by_role("dialog", name="Edit edit-me")
    dialog.get_by_label("Description").fill("after <i>edit</i>")
    dialog.get_by_label(re.compile(re.escape(second["SubnetId"]))).check()
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved subnet group edit-me")
    edited = row(page, "Subnet groups", "edit-me")
    expect(edited).to_contain_text("after <i>edit</i>")
    expect(edited).to_contain_text(second["SubnetId"])
    group = ec.describe_cache_subnet_groups(
        CacheSubnetGroupName="edit-me")["CacheSubnetGroups"][0]
    assert group["CacheSubnetGroupDescription"] == "after <i>edit</i>"
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(
        [first["SubnetId"], second["SubnetId"]])
    shot(page, "19-subnet-group-edit")

    page.get_by_role("button", name="Delete edit-me").click()
    dialog = page.get_by_role("dialog", name="Delete edit-me")
    delete = dialog.get_by_role("button", name="Delete")
    expect(delete).to_be_disabled()
    dialog.get_by_label("Confirmation").fill("edit-me")
    delete.click()
    expect(page.get_by_role("status")).to_contain_text("Deleted subnet group edit-me")
    expect(row(page, "Subnet groups", "edit-me")).to_have_count(0)
    names = [g["CacheSubnetGroupName"]
             for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"]]
    assert names == ["default"]
