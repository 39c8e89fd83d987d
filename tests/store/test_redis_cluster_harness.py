"""The EmbeddedCluster harness (tests/redis_cluster.py) is a real Redis Cluster: redis-py's cluster
client spreads keys over its three masters, and the servers refuse multi-key commands across slots."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError


@pytest.fixture
def cluster(redis_cluster_url):
    # redis-py knows no redis+cluster:// scheme; the cluster client takes a plain redis:// seed.
    client = RedisCluster.from_url(redis_cluster_url.replace("+cluster", ""), decode_responses=True)
    yield client
    client.close()


def one_key_per_node(client: RedisCluster) -> dict[int, str]:
    by_port: dict[int, str] = {}
    for n in range(1000):
        by_port.setdefault(client.get_node_from_key(f"k{n}").port, f"k{n}")
    return by_port


def test_keys_spread_over_three_masters(cluster):
    by_port = one_key_per_node(cluster)
    assert len(by_port) == 3 == len(cluster.get_primaries())
    for port, key in by_port.items():
        assert cluster.set(key, f"v-{port}")
        assert cluster.get(key) == f"v-{port}"
        # Read back from the owning node alone: the value really lives where the slot map says.
        with redis.Redis(host="127.0.0.1", port=port, decode_responses=True) as node:
            assert node.get(key) == f"v-{port}"
            assert node.execute_command("CLUSTER KEYSLOT", key) == cluster.keyslot(key)


def test_multi_key_commands_need_one_slot(cluster):
    assert cluster.keyslot("a") != cluster.keyslot("b")
    with pytest.raises(RedisClusterException, match="same key slot"):
        cluster.mset({"a": "1", "b": "2"})

    # The server refuses too (CROSSSLOT; redis-py drops that prefix): two slots one node owns.
    port = cluster.get_node_from_key("a").port
    other = next(
        k
        for k in (f"a{n}" for n in range(1000))
        if cluster.get_node_from_key(k).port == port and cluster.keyslot(k) != cluster.keyslot("a")
    )
    with redis.Redis(host="127.0.0.1", port=port) as node, pytest.raises(ResponseError, match="hash to the same slot"):
        node.mset({"a": "1", other: "2"})

    tagged = {"{x}one": "1", "{x}two": "2", "{x}three": "3"}
    assert len({cluster.keyslot(k) for k in tagged}) == 1
    assert cluster.mset(tagged)
    assert cluster.mget(list(tagged)) == ["1", "2", "3"]
