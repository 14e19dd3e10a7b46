// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// Connect-time redirection of Ferrocache endpoints (see ../src/lib.rs for the whole design).
//
// `cgroup/connect4` runs before the kernel connects a socket. When the destination is an
// endpoint this program was told about, and the socket's source is admitted, the destination is
// rewritten to the chosen node's own address: the socket becomes a direct connection to the
// node, and no byte of it ever passes through user space. `cgroup/getpeername4` puts the
// endpoint's address back, so the client still sees the address it dialled.
//
// Everything else is left to the user-space router, which still listens on every endpoint:
// sources no rule admits (it refuses and counts them), an endpoint with no backend (it waits for
// the failover to publish one), a socket whose storage cannot be allocated.
//
// The license must be GPL-compatible: bpf_sk_storage_get is a GPL-only helper.

#include <linux/bpf.h>
#include <linux/in.h>
// From <sys/socket.h>, which is not for the BPF target.
#define SOCK_STREAM 1
#include <bpf/bpf_helpers.h>

#define MAX_BACKENDS 8

// Flags of an endpoint.
// Spread connections over the backends (a reader endpoint); otherwise take the first.
#define ENDPOINT_SPREAD 1u
// A socket with no bound source address is admitted: its source will be the host's own
// address towards the node, and the admission rules admit that address.
#define ENDPOINT_ADMITS_UNBOUND 2u

// All addresses and ports in network byte order, as the kernel gives them.
struct address {
	__u32 ip;
	__u16 port;
	__u16 zero;
};

struct endpoint {
	// Grows whenever connections made earlier must be closed (user space closes them).
	__u32 fence;
	__u32 flags;
	__u32 backend_count;
	__u32 zero;
	struct address backends[MAX_BACKENDS];
};

// Key of the admission trie: the endpoint, then the source network.
struct admission_key {
	__u32 prefixlen;
	struct address endpoint;
	__u32 source;
};

// What a redirected socket remembers: where it was meant to go, where it went, and under which
// fence. Freed by the kernel with the socket.
struct redirected {
	struct address endpoint;
	struct address backend;
	__u32 fence;
	__u32 zero;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct address);
	__type(value, struct endpoint);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct admission_key);
	__type(value, __u8);
} admissions SEC(".maps");

// Connections redirected per endpoint, and the round-robin position of spreading endpoints;
// kept apart from `endpoints` so that user space replacing a route does not reset them.
struct counters {
	__u64 redirected;
	__u64 next;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct address);
	__type(value, struct counters);
} endpoint_counters SEC(".maps");

// The network namespace whose endpoints these are (its cookie), set by user space before the
// programs are attached: the hook sees the connects of every namespace on the host, and an
// endpoint address means something only in Ferrocache's own.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} home_netns SEC(".maps");

static __always_inline int at_home(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	__u64 *home = bpf_map_lookup_elem(&home_netns, &zero);

	return home && *home == bpf_get_netns_cookie(ctx);
}

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct redirected);
} redirects SEC(".maps");

static __always_inline int admitted(const struct endpoint *ep, const struct address *key,
				    __u32 source)
{
	struct admission_key probe = {
		.prefixlen = 96,
		.endpoint = *key,
		.source = source,
	};
	if (source == 0)
		return ep->flags & ENDPOINT_ADMITS_UNBOUND;
	return bpf_map_lookup_elem(&admissions, &probe) != NULL;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	struct address key = {};
	struct endpoint *ep;
	struct counters *counters;
	struct redirected *record;
	struct bpf_sock *sk;
	__u32 index = 0, count;

	if (ctx->type != SOCK_STREAM)
		return 1;
	key.ip = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	ep = bpf_map_lookup_elem(&endpoints, &key);
	if (!ep || !at_home(ctx))
		return 1;
	count = ep->backend_count;
	if (count == 0 || count > MAX_BACKENDS)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	if (!admitted(ep, &key, sk->src_ip4))
		return 1;
	counters = bpf_map_lookup_elem(&endpoint_counters, &key);
	if ((ep->flags & ENDPOINT_SPREAD) && counters)
		index = __sync_fetch_and_add(&counters->next, 1) % count;
	// A no-op (count <= MAX_BACKENDS, a power of two) that shows the verifier the bound.
	index &= MAX_BACKENDS - 1;
	record = bpf_sk_storage_get(&redirects, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!record)
		return 1;
	record->endpoint = key;
	record->backend = ep->backends[index];
	record->fence = ep->fence;
	// User space may have replaced the route (and swept the redirected sockets) between the
	// lookup above and the record: look again, and leave the socket to the router if so.
	ep = bpf_map_lookup_elem(&endpoints, &key);
	if (!ep || ep->fence != record->fence) {
		bpf_sk_storage_delete(&redirects, sk);
		return 1;
	}
	ctx->user_ip4 = record->backend.ip;
	ctx->user_port = record->backend.port;
	if (counters)
		__sync_fetch_and_add(&counters->redirected, 1);
	return 1;
}

SEC("cgroup/getpeername4")
int getpeername4(struct bpf_sock_addr *ctx)
{
	struct redirected *record;
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return 1;
	record = bpf_sk_storage_get(&redirects, sk, 0, 0);
	if (!record)
		return 1;
	if (ctx->user_ip4 == record->backend.ip && (__u16)ctx->user_port == record->backend.port) {
		ctx->user_ip4 = record->endpoint.ip;
		ctx->user_port = record->endpoint.port;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
