// SPDX-License-Identifier: MIT OR GPL-2.0
//
// The eBPF fast path of one multipoint GRE tunnel (dmvpnd's `ebpf` data
// plane; holo-dmvpn/src/dataplane/fastpath.rs loads it and fills its maps).
//
//   tunnel TUN device, tc egress (`egress`): an IP packet the kernel routed
//   into the tunnel (IPv4; IPv6 goes on to userspace). Longest-prefix match
//   of its destination (routes4, which mirrors the userspace plane's table), the next hop's NBMA address
//   (bindings, fed by NHRP), outer IPv4 + GRE (key) added in place with the
//   GRE encapsulation flags, so a TCP GSO super-packet stays one (the
//   underlay, or its NIC, segments GRE), and out of the underlay interface
//   with the kernel's neighbour resolution (bpf_redirect_neigh).
//
//   underlay interface, tc ingress (`ingress`): GRE to our NBMA address with
//   our key from a peer we have a binding for, carrying IPv4, is
//   decapsulated and delivered to the TUN device as if received there.
//
// Whatever this program does not decide goes on unchanged (TC_ACT_OK): to
// the TUN device and so to the userspace plane on egress, to the IP stack
// and the userspace plane's raw GRE socket on ingress. That is every miss
// (Phase 2 resolution), multicast and broadcast, TCP SYNs (MSS clamping),
// packets above the tunnel MTU, NHRP, unknown peers, wrong keys, GRE with
// checksum or sequence numbers, IP options and fragments, and a sample of
// what the userspace plane must see to send events: a hairpinned packet per
// source and destination every 100 ms (Phase 3 Traffic Indication), a
// packet per NHRP route every 5 s (the shortcut is in use).
//
// Counters are per CPU: per peer NBMA address (peer_stats, entries made and
// removed by the loader) and per reason (reasons); the loader sums them.
// Written against the kernel's UAPI headers only (no libbpf headers).

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>

#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#define htons(x) ((__u16)__builtin_bswap16(x))
#define htonl(x) ((__u32)__builtin_bswap32(x))
#define ntohs(x) htons(x)

static void *(*bpf_map_lookup_elem)(void *, const void *) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *, const void *, const void *, __u64) = (void *)BPF_FUNC_map_update_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_skb_load_bytes)(const void *, __u32, void *, __u32) = (void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_skb_store_bytes)(void *, __u32, const void *, __u32, __u64) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_skb_adjust_room)(void *, __s32, __u32, __u64) = (void *)BPF_FUNC_skb_adjust_room;
static long (*bpf_skb_change_head)(void *, __u32, __u64) = (void *)BPF_FUNC_skb_change_head;
static long (*bpf_redirect)(__u32, __u64) = (void *)BPF_FUNC_redirect;
static long (*bpf_redirect_neigh)(__u32, void *, int, __u64) = (void *)BPF_FUNC_redirect_neigh;
static long (*bpf_fib_lookup)(void *, struct bpf_fib_lookup *, int, __u32) = (void *)BPF_FUNC_fib_lookup;

// Kernel 6.3+ (not in older UAPI headers).
#define ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)

#define GRE_KEY_PRESENT 0x2000
#define USED_INTERVAL_NS (5ULL * 1000 * 1000 * 1000)
#define HAIRPIN_INTERVAL_NS (100ULL * 1000 * 1000)

// The tunnel's settings: one entry, written by the loader. Addresses and
// the key in network byte order. Layout shared with fastpath.rs (CONFIG_*).
struct config {
	__u32 tun_ifindex;     // 0
	__u32 underlay_ifindex; // 4
	__u32 source;          // 8: our NBMA address
	__u32 key;             // 12
	__u32 tunnel4;         // 16: our tunnel address (IPv4), or 0
	__u32 broadcast4;      // 20: the tunnel subnet's broadcast, or 0
	__u16 mtu;             // 24: tunnel MTU
	__u8 ttl;              // 26
	__u8 flags;            // 27: CONFIG_*
	__u8 tunnel6[16];      // 28: our tunnel address (IPv6), or zeros
};                             // 44

#define CONFIG_ENABLED 1
#define CONFIG_KEY 2
#define CONFIG_REDIRECT 4
#define CONFIG_TUNNEL6 8

// A route's value: its next hop (IPv4 mapped into IPv6 for IPv4), or the
// destination itself when on-link.
struct route {
	__u8 next_hop[16]; // 0
	__u32 flags;       // 16: ROUTE_*
	__u32 pad;         // 20
	__u64 last_slow;   // 24: ns; the last packet handed to userspace
};                         // 32
#define ROUTE_ON_LINK 1
#define ROUTE_NHRP 2

struct lpm4 { __u32 prefixlen; __u8 addr[4]; };

struct binding {
	__u32 nbma;  // network byte order
	__u32 flags; // BINDING_*
};
#define BINDING_SLOW 1

struct stats {
	__u64 packets_in;
	__u64 bytes_in;
	__u64 packets_out;
	__u64 bytes_out;
};

struct pair { __u8 src[16]; __u8 dst[16]; };

// Why a packet went to userspace or was dropped here (reasons map index).
// Shared with fastpath.rs (Reason).
enum reason {
	R_FAST_OUT,       // forwarded out by this program
	R_FAST_IN,        // delivered in by this program
	R_SLOW_MULTICAST, // multicast or broadcast: replication is userspace's
	R_SLOW_SYN,       // TCP SYN: MSS clamping
	R_SLOW_NO_ROUTE,
	R_SLOW_MISS,      // next hop without a binding: Phase 2
	R_SLOW_PEER,      // the peer is userspace's (IPsec)
	R_SLOW_HAIRPIN,   // sampled hairpin: Phase 3
	R_SLOW_USED,      // sampled use of an NHRP route
	R_SLOW_TOO_BIG,   // above the tunnel MTU
	R_SLOW_ENCAP,     // the kernel refused the encapsulation
	R_SLOW_GSO_FORWARD, // coalesced GRE for another host: userspace
	R_SLOW_OTHER,     // not IP, IP options, bad length
	R_DROP_SPOOFED,   // inner source is our tunnel address
	R_DROP_ERROR,     // a helper failed after the packet was changed
	R_FAST_IN_COALESCED, // of R_FAST_IN: coalesced by the underlay (GRO)
	R_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm4);
	__type(value, struct route);
} routes4 SEC(".maps");

// Tunnel (protocol) address, IPv4 mapped into IPv6 -> NBMA address.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u8[16]);
	__type(value, struct binding);
} bindings SEC(".maps");

// NBMA addresses we have a binding for: GRE from them may be decapsulated.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u32);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct stats);
} peer_stats SEC(".maps");

// The tunnel's totals of what this program forwarded (one entry).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct pair);
	__type(value, __u64);
} hairpins SEC(".maps");

static __always_inline void count(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&reasons, &reason);
	if (n)
		*n += 1;
}

static __always_inline int slow(__u32 reason)
{
	count(reason);
	return TC_ACT_OK;
}

static __always_inline __u64 segments(struct __sk_buff *skb)
{
	return skb->gso_segs > 1 ? skb->gso_segs : 1;
}

static __always_inline void map4(__u8 out[16], __u32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &addr, 4);
}

static __always_inline int is_syn(struct __sk_buff *skb, __u32 l4)
{
	__u8 flags;
	if (bpf_skb_load_bytes(skb, l4 + 13, &flags, 1) < 0)
		return 0;
	return flags & 0x02;
}

static __always_inline __u16 ip_checksum(const void *header)
{
	const __u16 *w = header;
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("classifier/egress")
int egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !(cfg->flags & CONFIG_ENABLED))
		return TC_ACT_OK;

	struct route *route;
	struct pair pair = {};
	__u8 next_hop[16];
	__u16 inner_proto;
	__u32 inner_len = skb->len;

	if (skb->protocol == htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0 || ip.version != 4 || ip.ihl < 5)
			return slow(R_SLOW_OTHER);
		__u8 first = ((__u8 *)&ip.daddr)[0];
		if (first >= 224 || ip.daddr == 0xffffffff ||
		    (cfg->broadcast4 && ip.daddr == cfg->broadcast4))
			return slow(R_SLOW_MULTICAST);
		if (ip.protocol == IPPROTO_TCP && !(ip.frag_off & htons(0x1fff)) &&
		    is_syn(skb, ip.ihl * 4))
			return slow(R_SLOW_SYN);
		struct lpm4 key = { .prefixlen = 32 };
		__builtin_memcpy(key.addr, &ip.daddr, 4);
		route = bpf_map_lookup_elem(&routes4, &key);
		map4(pair.src, ip.saddr);
		map4(pair.dst, ip.daddr);
		inner_proto = ETH_P_IP;
	} else {
		// IPv6 inside the tunnel: the userspace plane's (untested here).
		return slow(R_SLOW_OTHER);
	}
	if (!route)
		return slow(R_SLOW_NO_ROUTE);
	if (route->flags & ROUTE_ON_LINK)
		__builtin_memcpy(next_hop, pair.dst, 16);
	else
		__builtin_memcpy(next_hop, route->next_hop, 16);

	__u64 now = bpf_ktime_get_ns();
	if (route->flags & ROUTE_NHRP && now - route->last_slow > USED_INTERVAL_NS) {
		route->last_slow = now;
		return slow(R_SLOW_USED);
	}
	struct binding *binding = bpf_map_lookup_elem(&bindings, next_hop);
	if (!binding)
		return slow(R_SLOW_MISS);
	if (binding->flags & BINDING_SLOW)
		return slow(R_SLOW_PEER);
	__u32 nbma = binding->nbma;
	// A packet that came in on the tunnel and leaves on it: a hub hairpin.
	// The kernel forwards it here; userspace sees a sample, for Phase 3.
	if (cfg->flags & CONFIG_REDIRECT && skb->ingress_ifindex == cfg->tun_ifindex) {
		__u64 *last = bpf_map_lookup_elem(&hairpins, &pair);
		if (!last || now - *last > HAIRPIN_INTERVAL_NS) {
			bpf_map_update_elem(&hairpins, &pair, &now, BPF_ANY);
			return slow(R_SLOW_HAIRPIN);
		}
	}
	if (skb->gso_segs <= 1 && skb->len > cfg->mtu)
		return slow(R_SLOW_TOO_BIG);
	struct stats *stats = bpf_map_lookup_elem(&peer_stats, &nbma);
	if (!stats)
		return slow(R_SLOW_PEER);

	int keyed = cfg->flags & CONFIG_KEY;
	__u32 room = sizeof(struct iphdr) + (keyed ? 8 : 4);
	__u64 encap = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE |
		      BPF_F_ADJ_ROOM_FIXED_GSO;
	if (bpf_skb_adjust_room(skb, room, BPF_ADJ_ROOM_MAC, encap) < 0) {
		// A packet this program decapsulated (a hub hairpin) still carries
		// the kernel's encapsulation mark, which the flags refuse; a
		// single IPv4 packet needs none of it.
		if (skb->gso_segs > 1 || inner_proto != ETH_P_IP ||
		    bpf_skb_adjust_room(skb, room, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
			return slow(R_SLOW_ENCAP);
	}
	struct {
		struct iphdr ip;
		__u16 gre_flags;
		__u16 gre_proto;
		__u32 gre_key;
	} __attribute__((packed)) h = {};
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.ttl = cfg->ttl;
	h.ip.protocol = IPPROTO_GRE;
	h.ip.frag_off = htons(0x4000);
	h.ip.tot_len = htons(inner_len + room);
	h.ip.saddr = cfg->source;
	h.ip.daddr = nbma;
	h.ip.check = ip_checksum(&h.ip);
	h.gre_flags = keyed ? htons(GRE_KEY_PRESENT) : 0;
	h.gre_proto = htons(inner_proto);
	h.gre_key = cfg->key;
	if (bpf_skb_store_bytes(skb, 0, &h, room, 0) < 0) {
		count(R_DROP_ERROR);
		return TC_ACT_SHOT;
	}
	// The TUN device has no link-layer header; bpf_redirect_neigh wants
	// one to replace (and the underlay's neighbour fills in the real one).
	if (bpf_skb_change_head(skb, ETH_HLEN, 0) < 0) {
		count(R_DROP_ERROR);
		return TC_ACT_SHOT;
	}
	struct ethhdr eth = { .h_proto = htons(ETH_P_IP) };
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0) {
		count(R_DROP_ERROR);
		return TC_ACT_SHOT;
	}
	__u64 packets = segments(skb);
	stats->packets_out += packets;
	stats->bytes_out += inner_len;
	struct stats *total = bpf_map_lookup_elem(&totals, &zero);
	if (total) {
		total->packets_out += packets;
		total->bytes_out += inner_len;
	}
	count(R_FAST_OUT);
	return bpf_redirect_neigh(cfg->underlay_ifindex, 0, 0, 0);
}

SEC("classifier/ingress")
int ingress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !(cfg->flags & CONFIG_ENABLED) || skb->protocol != htons(ETH_P_IP))
		return TC_ACT_OK;
	struct {
		struct iphdr ip;
		__u16 gre_flags;
		__u16 gre_proto;
		__u32 gre_key;
	} __attribute__((packed)) h;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &h, sizeof(h)) < 0)
		return TC_ACT_OK;
	if (h.ip.protocol != IPPROTO_GRE || h.ip.daddr != cfg->source)
		return TC_ACT_OK;
	// IP options, fragments, GRE checksums, sequence numbers or another
	// key: the userspace plane decides (and counts).
	if (h.ip.version != 4 || h.ip.ihl != 5 || h.ip.frag_off & htons(0x3fff))
		return slow(R_SLOW_OTHER);
	int keyed = cfg->flags & CONFIG_KEY;
	if (h.gre_flags != (keyed ? htons(GRE_KEY_PRESENT) : 0) || (keyed && h.gre_key != cfg->key))
		return TC_ACT_OK;
	__u16 proto = ntohs(h.gre_proto);
	if (proto != ETH_P_IP)
		return TC_ACT_OK; // NHRP, IPv6 and the rest: the raw socket's
	__u32 nbma = h.ip.saddr;
	if (!bpf_map_lookup_elem(&peers, &nbma))
		return TC_ACT_OK;
	struct stats *stats = bpf_map_lookup_elem(&peer_stats, &nbma);
	if (!stats)
		return TC_ACT_OK;
	__u32 gre = keyed ? 8 : 4;
	__u32 inner = ETH_HLEN + sizeof(struct iphdr) + gre;
	struct bpf_fib_lookup fib = {};
	struct iphdr ip;
	if (bpf_skb_load_bytes(skb, inner, &ip, sizeof(ip)) < 0 || ip.version != 4)
		return slow(R_SLOW_OTHER);
	if (cfg->tunnel4 && ip.saddr == cfg->tunnel4) {
		count(R_DROP_SPOOFED);
		return TC_ACT_SHOT;
	}
	fib.family = 2; // AF_INET
	fib.ipv4_src = ip.saddr;
	fib.ipv4_dst = ip.daddr;
	// A coalesced (GSO) packet keeps the kernel's GRE segmentation mark
	// after decapsulation (kernels before the DECAP_L4 flags): fine for a
	// local socket, not for a packet the kernel would forward and segment.
	// Those go to the userspace plane, which rebuilds them.
	if (skb->gso_segs > 1) {
		fib.ifindex = cfg->tun_ifindex;
		long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
		if (rc != BPF_FIB_LKUP_RET_NOT_FWDED && rc != BPF_FIB_LKUP_RET_FWD_DISABLED)
			return slow(R_SLOW_GSO_FORWARD);
	}
	__u32 len = skb->len - inner;
	__u64 packets = segments(skb);
	if (bpf_skb_adjust_room(skb, -(__s32)(sizeof(struct iphdr) + gre), BPF_ADJ_ROOM_MAC,
				ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO) < 0)
		return slow(R_SLOW_ENCAP);
	stats->packets_in += packets;
	stats->bytes_in += len;
	struct stats *total = bpf_map_lookup_elem(&totals, &zero);
	if (total) {
		total->packets_in += packets;
		total->bytes_in += len;
	}
	count(R_FAST_IN);
	if (packets > 1)
		count(R_FAST_IN_COALESCED);
	return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
