#!/bin/bash
# verify_restoration.sh

ORIGINAL_CLUSTER="test-redis-b0607058"
RESTORED_CLUSTER="test-redis-new-67006b9f"
SNAPSHOT_NAME="redis-restore-snapshot-20250908-221412"

echo "=== REDIS ELASTICACHE RESTORATION VERIFICATION ==="
echo ""

# 1. Check both clusters exist and are available
echo "1. CLUSTER STATUS:"
for cluster in $ORIGINAL_CLUSTER $RESTORED_CLUSTER; do
  STATUS=$(aws elasticache describe-replication-groups \
    --replication-group-id "$cluster" \
    --query 'ReplicationGroups[0].Status' \
    --output text)
  echo "   $cluster: $STATUS"
done

# 2. Compare configurations
echo ""
echo "2. CONFIGURATION COMPARISON:"
echo "   Original:"
aws elasticache describe-replication-groups \
  --replication-group-id "$ORIGINAL_CLUSTER" \
  --query 'ReplicationGroups[0].{
    NodeType:CacheNodeType,
    Engine:Engine,
    NumNodes:MemberClusters|length(@),
    Auth:AuthTokenEnabled,
    Encryption:TransitEncryptionEnabled
  }' --output json | jq -c

echo "   Restored:"
aws elasticache describe-replication-groups \
  --replication-group-id "$RESTORED_CLUSTER" \
  --query 'ReplicationGroups[0].{
    NodeType:CacheNodeType,
    Engine:Engine,
    NumNodes:MemberClusters|length(@),
    Auth:AuthTokenEnabled,
    Encryption:TransitEncryptionEnabled
  }' --output json | jq -c

# 3. Verify restoration events
echo ""
echo "3. RESTORATION EVENTS:"
aws elasticache describe-events \
  --source-identifier "$RESTORED_CLUSTER-001" \
  --source-type "cache-cluster" \
  --duration 120 \
  --query 'Events[?contains(Message, `Restore`)].[Date,Message]' \
  --output text

# 4. Get endpoints
echo ""
echo "4. CONNECTION ENDPOINTS:"
echo "   Original: $(aws elasticache describe-replication-groups \
  --replication-group-id "$ORIGINAL_CLUSTER" \
  --query 'ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address' \
  --output text):6379"

echo "   Restored: $(aws elasticache describe-replication-groups \
  --replication-group-id "$RESTORED_CLUSTER" \
  --query 'ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint.Address' \
  --output text):6379"

echo ""
echo "=== VERIFICATION COMPLETE ==="
