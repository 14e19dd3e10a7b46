"""Automatic snapshots with a driven clock: `SnapshotRetentionLimit` > 0 takes one snapshot per
`SnapshotWindow` occurrence, named `automatic.<group>-YYYY-MM-DD-HH-MM`, `SnapshotSource`
`automated`, from `SnapshottingClusterId`; the oldest beyond the limit are deleted, and the rest
go with their group. The clock is moved through FERROCACHE_TEST_CLOCK_FILE (test-only: the
automatic-snapshot scheduler adds the seconds that file holds to the real UTC time)."""

import datetime
import json

from harness import Ferrocache, redis_cli, wait_until

REGION = "us-east-1"
GROUP = "nightly-group"
DAY = 24 * 3600


def started(monkeypatch, request, clock_file) -> Ferrocache:
    clock_file.write_text("0")
    monkeypatch.setenv("FERROCACHE_TEST_CLOCK_FILE", str(clock_file))
    fc = Ferrocache()
    request.addfinalizer(fc.close)
    fc.start()
    return fc


def snapshots(fc, *args: str) -> list[dict]:
    out = fc.aws("elasticache", "describe-snapshots", *args, "--region", REGION,
                 "--output", "json").stdout
    return json.loads(out)["Snapshots"]


def automatic(fc) -> list[dict]:
    return snapshots(fc, "--replication-group-id", GROUP, "--snapshot-source", "system")


def group_status(fc) -> str:
    return fc.aws("elasticache", "describe-replication-groups", "--replication-group-id", GROUP,
                  "--region", REGION, "--query", "ReplicationGroups[0].Status",
                  "--output", "text").stdout.strip()


# Goal: outside the window nothing is taken; moved into the window, exactly one automatic
# snapshot appears per window occurrence, named after the driven clock's minute, `automated`,
# taken from SnapshottingClusterId (a replica we name) with the group's keys; three daily
# windows with SnapshotRetentionLimit 2 leave the two newest; deleting the group deletes them.
# Method: a window starting 3 h after the real now (so the real clock is outside it, whatever
# the hour), the clock file moved to 3 h + 5 min, then one day and two days further; bounded
# polls on describe-snapshots.
def test_window_retention_and_group_delete(monkeypatch, request, tmp_path):
    clock = tmp_path / "clock-offset"
    fc = started(monkeypatch, request, clock)
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)).replace(
        second=0, microsecond=0)
    end = start + datetime.timedelta(hours=1)
    window = f"{start:%H:%M}-{end:%H:%M}"
    fc.aws("elasticache", "create-replication-group", "--replication-group-id", GROUP,
           "--replication-group-description", "automatic snapshots", "--engine", "redis",
           "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "2",
           "--snapshot-retention-limit", "2", "--snapshot-window", window, "--region", REGION)
    wait_until(lambda: group_status(fc) == "available", timeout=120, poll=0.2,
               what="group available")
    primary = fc.aws("elasticache", "describe-replication-groups", "--replication-group-id",
                     GROUP, "--region", REGION, "--output", "text", "--query",
                     "ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address").stdout.strip()
    for i in range(20):
        assert redis_cli(primary, "SET", f"k{i}", str(i)).stdout.strip() == "OK"
    # Take them from the replica we name (the primary is -001).
    fc.aws("elasticache", "modify-replication-group", "--replication-group-id", GROUP,
           "--snapshotting-cluster-id", f"{GROUP}-002", "--apply-immediately",
           "--region", REGION)
    wait_until(lambda: group_status(fc) == "available", timeout=120, poll=0.2,
               what="group available after modify")
    assert automatic(fc) == []

    taken = []
    for day in range(3):
        offset = int((start - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) \
            + 300 + day * DAY
        clock.write_text(str(offset))

        def newest_available():
            found = [s for s in automatic(fc) if s["SnapshotName"] not in taken]
            return found and found[0]["SnapshotStatus"] == "available" and found[0]

        snap = wait_until(newest_available, timeout=120, poll=0.2,
                          what=f"automatic snapshot of day {day}")
        driven = start + datetime.timedelta(days=day)
        assert snap["SnapshotName"].startswith(f"automatic.{GROUP}-{driven:%Y-%m-%d}-"), snap
        assert snap["SnapshotSource"] == "automated"
        assert snap["NodeSnapshots"][0]["CacheClusterId"] == f"{GROUP}-002"
        taken.append(snap["SnapshotName"])
        # Still in the same window occurrence: no second snapshot of it.
        assert [s["SnapshotName"] for s in automatic(fc)].count(snap["SnapshotName"]) == 1

    # Retention 2: the first is deleted, the two newest stay.
    wait_until(lambda: sorted(s["SnapshotName"] for s in automatic(fc)) == sorted(taken[1:]),
               timeout=60, poll=0.2, what="oldest automatic snapshot pruned")
    assert len([s for s in automatic(fc) if s["SnapshotName"] in taken]) == 2

    # A manual copy of an automatic snapshot is the user's and stays when the group goes.
    fc.aws("elasticache", "copy-snapshot", "--source-snapshot-name", taken[2],
           "--target-snapshot-name", "kept-copy", "--region", REGION)
    wait_until(lambda: snapshots(fc, "--snapshot-name", "kept-copy")[0]["SnapshotStatus"]
               == "available", timeout=60, poll=0.2, what="copy available")
    assert snapshots(fc, "--snapshot-name", "kept-copy")[0]["SnapshotSource"] == "manual"
    fc.aws("elasticache", "delete-replication-group", "--replication-group-id", GROUP,
           "--region", REGION)
    wait_until(lambda: automatic(fc) == [], timeout=120, poll=0.2,
               what="automatic snapshots deleted with the group")
    assert [s["SnapshotName"] for s in snapshots(fc)] == ["kept-copy"]
