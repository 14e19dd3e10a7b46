#!/bin/bash
# wait_for_snapshot.sh

SNAPSHOT_NAME="$1"

echo "Waiting for snapshot: $SNAPSHOT_NAME"

while true; do
  STATUS=$(aws elasticache describe-snapshots \
    --snapshot-name "$SNAPSHOT_NAME" \
    --query 'Snapshots[0].SnapshotStatus' \
    --output text)
  
  echo "Status: $STATUS"
  
  if [ "$STATUS" = "available" ]; then
    echo "✅ Snapshot ready!"
    break
  elif [ "$STATUS" = "failed" ]; then
    echo "❌ Snapshot failed!"
    exit 1
  fi
  
  sleep 10
done

# Get snapshot details
aws elasticache describe-snapshots \
  --snapshot-name "$SNAPSHOT_NAME" \
  --output json | jq '{
    SnapshotName,
    SnapshotStatus,
    CacheClusterId,
    ARN
  }'
