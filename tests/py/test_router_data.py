"""The endpoints move bytes faithfully: large values, deep pipelines, many connections, and
long-lived subscriptions through the primary and reader endpoints."""

import os
import threading

import redis

from harness import wait_group_available, wait_until


# Goal: an 8 MiB value and a 20 000-command pipeline go through the primary endpoint intact
# and replicate to the reader endpoint; 300 simultaneous connections to the reader endpoint
# all work. Method: redis-py against a 2-node group's endpoints.
def test_large_values_pipelines_and_many_connections(fc, ec):
    ec.create_replication_group(ReplicationGroupId="bytes", ReplicationGroupDescription="b",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    group = wait_group_available(ec, "bytes")
    node_group = group["NodeGroups"][0]
    primary = redis.Redis(host=node_group["PrimaryEndpoint"]["Address"], socket_timeout=30)
    reader_address = node_group["ReaderEndpoint"]["Address"]

    big = os.urandom(8 * 1024 * 1024)
    assert primary.set("big", big)
    assert primary.get("big") == big
    pipe = primary.pipeline(transaction=False)
    for _ in range(20000):
        pipe.incr("counter")
    assert pipe.execute()[-1] == 20000
    reader = redis.Redis(host=reader_address, socket_timeout=30)
    wait_until(lambda: reader.get("big") == big and reader.get("counter") == b"20000",
               timeout=30, what="replicated to the reader endpoint")

    clients = [redis.Redis(host=reader_address, socket_timeout=30) for _ in range(300)]
    try:
        assert all(c.ping() for c in clients)
    finally:
        for c in clients:
            c.close()


# Goal: a subscriber connected through the primary endpoint receives what is published
# through another connection (a long-lived, server-pushed stream through the router).
# Method: SUBSCRIBE on one connection, PUBLISH 100 messages on another.
def test_pubsub_through_primary_endpoint(fc, ec):
    ec.create_replication_group(ReplicationGroupId="pubsub", ReplicationGroupDescription="p",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    group = wait_group_available(ec, "pubsub")
    address = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    subscriber = redis.Redis(host=address, socket_timeout=30).pubsub()
    subscriber.subscribe("news")
    assert subscriber.get_message(timeout=10)["type"] == "subscribe"
    received = []

    def listen():
        while len(received) < 100:
            message = subscriber.get_message(timeout=10)
            if message is None:
                return
            received.append(message["data"])

    thread = threading.Thread(target=listen)
    thread.start()
    publisher = redis.Redis(host=address, socket_timeout=30)
    for n in range(100):
        publisher.publish("news", str(n))
    thread.join(timeout=30)
    assert received == [str(n).encode() for n in range(100)]
    subscriber.close()
