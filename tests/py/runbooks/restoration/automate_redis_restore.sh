#!/bin/bash
# automate_redis_restore.sh

set -e

SOURCE_CLUSTER="$1"
TARGET_NAME="$2"

if [ $# -ne 2 ]; then
  echo "Usage: $0 <source-cluster> <target-name>"
  exit 1
fi

echo "=== Automated Redis Restoration ==="
echo "Source: $SOURCE_CLUSTER"
echo "Target: $TARGET_NAME"
echo ""

# Step 1: Get cache cluster ID
CACHE_CLUSTER=$(aws elasticache describe-replication-groups \
  --replication-group-id "$SOURCE_CLUSTER" \
  --query 'ReplicationGroups[0].MemberClusters[0]' \
  --output text)

echo "Cache Cluster: $CACHE_CLUSTER"

# Step 2: Wait for availability
echo "Checking cluster status..."
while [ "$(aws elasticache describe-cache-clusters \
  --cache-cluster-id "$CACHE_CLUSTER" \
  --query 'CacheClusters[0].CacheClusterStatus' \
  --output text)" != "available" ]; do
  echo "  Waiting for cluster to be available..."
  sleep 10
done

# Step 3: Create snapshot
SNAPSHOT_NAME="${TARGET_NAME}-snapshot-$(date +%Y%m%d-%H%M%S)"
echo "Creating snapshot: $SNAPSHOT_NAME"

aws elasticache create-snapshot \
  --cache-cluster-id "$CACHE_CLUSTER" \
  --snapshot-name "$SNAPSHOT_NAME"

# Step 4: Wait for snapshot
echo "Waiting for snapshot completion..."
while [ "$(aws elasticache describe-snapshots \
  --snapshot-name "$SNAPSHOT_NAME" \
  --query 'Snapshots[0].SnapshotStatus' \
  --output text)" != "available" ]; do
  echo "  Snapshot in progress..."
  sleep 10
done

echo "✅ Snapshot ready: $SNAPSHOT_NAME"

# Step 5: Output configuration
cat << EOF

=== FACETS CONFIGURATION ===
Use these settings in the control plane:

Restore Operations:
  ✅ Restore from Snapshot: true
  Snapshot Name: $SNAPSHOT_NAME

Deploy the $TARGET_NAME resource with this configuration.
EOF
