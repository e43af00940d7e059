// Experiment, not product code (see README.md): GRE with key 42 added at tc
// egress and removed at tc ingress of an underlay interface. bpf_skb_adjust_room
// with the GRE encapsulation flags marks a TCP GSO packet as GRE GSO, so the
// kernel (or the NIC) segments the GRE packets itself: what no userspace
// socket can ask for. LOCAL, REMOTE (outer) and INNER_REMOTE come from -D.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>

#define SEC(n) __attribute__((section(n), used))
#define htons(x) __builtin_bswap16(x)
#define htonl(x) __builtin_bswap32(x)

static long (*bpf_skb_load_bytes)(const void *, __u32, void *, __u32) = (void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_skb_store_bytes)(void *, __u32, const void *, __u32, __u64) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_skb_adjust_room)(void *, __s32, __u32, __u64) = (void *)BPF_FUNC_skb_adjust_room;

#ifndef LOCAL
#define LOCAL 0
#endif
#ifndef REMOTE
#define REMOTE 0
#endif
#ifndef INNER_REMOTE
#define INNER_REMOTE 0
#endif
#define KEY 42

struct gre_key_hdr { __u16 flags; __u16 proto; __u32 key; };

SEC("egress")
int encap(struct __sk_buff *skb)
{
	struct iphdr inner;
	if (skb->protocol != htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &inner, sizeof(inner)) < 0)
		return TC_ACT_OK;
	if (inner.daddr != htonl(INNER_REMOTE))
		return TC_ACT_OK;
	__u32 inner_len = skb->len - ETH_HLEN;
	if (bpf_skb_adjust_room(skb, sizeof(struct iphdr) + sizeof(struct gre_key_hdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_GRE |
				BPF_F_ADJ_ROOM_FIXED_GSO))
		return TC_ACT_SHOT;
	struct {
		struct iphdr ip;
		struct gre_key_hdr gre;
	} __attribute__((packed)) h = {};
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.ttl = 255;
	h.ip.protocol = 47;
	h.ip.frag_off = htons(0x4000);
	h.ip.tot_len = htons(inner_len + sizeof(h));
	h.ip.saddr = htonl(LOCAL);
	h.ip.daddr = htonl(REMOTE);
	__u32 sum = 0;
	__u16 w[10]; __builtin_memcpy(w, &h.ip, 20);
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	h.ip.check = ~sum;
	h.gre.flags = htons(0x2000);
	h.gre.proto = htons(ETH_P_IP);
	h.gre.key = htonl(KEY);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("ingress")
int decap(struct __sk_buff *skb)
{
	struct {
		struct iphdr ip;
		struct gre_key_hdr gre;
	} __attribute__((packed)) h;
	if (skb->protocol != htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &h, sizeof(h)) < 0)
		return TC_ACT_OK;
	if (h.ip.protocol != 47 || h.ip.ihl != 5 || h.ip.daddr != htonl(LOCAL))
		return TC_ACT_OK;
	if (h.gre.flags != htons(0x2000) || h.gre.key != htonl(KEY) || h.gre.proto != htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_adjust_room(skb, -(int)sizeof(h), BPF_ADJ_ROOM_MAC,
				(1ULL << 7) /* BPF_F_ADJ_ROOM_DECAP_L3_IPV4, 6.3+ */ |
				BPF_F_ADJ_ROOM_FIXED_GSO))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual MIT/GPL";
