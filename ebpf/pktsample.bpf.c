// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * pktsample: 1-in-N packet sampling at the TCX ingress and egress hooks.
 *
 * For every packet on a configured interface: count it in the per-CPU pool of
 * its (interface, direction). Take it with probability 1/N using the same
 * predicate as offline replay, ((r * N) >> 32) == 0 for r = prandom. For a
 * sample: reserve a fixed-size record in the ring buffer (a failed reservation
 * is counted as a drop, never lost silently), copy up to snaplen bytes of the
 * frame (putting back a VLAN tag the driver moved to metadata; on devices
 * without a link-layer header the bytes start at the IP header), and submit.
 * Always returns TCX_NEXT: forwarding is never changed.
 *
 * Build: clang-19 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu
 *        -c pktsample.bpf.c -o pktsample.bpf.o   (just ebpf)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "pktsample.h"

/* Debian's kernel headers (6.1) predate TCX. */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#endif
#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PKTSAMPLE_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct pktsample_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PKTSAMPLE_MAX_IFACES * 2);
	__type(key, __u32);
	__type(value, struct pktsample_counters);
} counters SEC(".maps");

/* Size set by user space (--ring-size) before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/*
 * Wake the reader only once this much data is waiting (set by user space at
 * load time; 0 = wake on every sample). Waking a sleeping reader costs an
 * IPI per sample, which on a VM dominates the cost of sparse samples; the
 * reader also polls on a short timer, so nothing waits long.
 */
const volatile __u64 wakeup_bytes = 0;
/* A record in the ring: the event plus the ring's 8-byte header. */
#define RECORD_BYTES (((sizeof(struct pktsample_event) + 7) & ~7UL) + 8)

/* Referenced so that the record's layout is in the object's BTF. */
const struct pktsample_event *unused_event __attribute__((unused));

static __always_inline void fib(struct __sk_buff *skb, struct pktsample_event *e,
				const __u8 *l3, __u32 l3_off, __u16 proto)
{
	struct bpf_fib_lookup p = {};

	if (proto == bpf_htons(ETH_P_IP)) {
		const struct iphdr *ip = (const void *)l3;

		if (e->cap_len < l3_off + sizeof(*ip))
			return;
		p.family = AF_INET;
		p.tos = ip->tos;
		p.l4_protocol = ip->protocol;
		p.tot_len = bpf_ntohs(ip->tot_len);
		p.ipv4_src = ip->saddr;
		p.ipv4_dst = ip->daddr;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6 = (const void *)l3;

		if (e->cap_len < l3_off + sizeof(*ip6))
			return;
		p.family = AF_INET6;
		p.l4_protocol = ip6->nexthdr;
		p.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(p.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(p.ipv6_dst, &ip6->daddr, 16);
	} else {
		return;
	}
	p.ifindex = skb->ifindex;
	long r = bpf_fib_lookup(skb, &p, sizeof(p), 0);
	if (r == BPF_FIB_LKUP_RET_SUCCESS || r == BPF_FIB_LKUP_RET_NO_NEIGH) {
		e->routed_ifindex = p.ifindex;
		e->flags |= PKTSAMPLE_F_ROUTED;
	}
}

/* The egress interface the FIB picks for an ingress sample (IPv4/IPv6 only). */
static __always_inline void routed(struct __sk_buff *skb, struct pktsample_event *e, __u32 l3)
{
	if (l3) {
		/* No link-layer header: the version nibble gives the family. */
		__u8 v = e->header[0] >> 4;

		fib(skb, e, e->header, 0, v == 4 ? bpf_htons(ETH_P_IP) :
				       v == 6 ? bpf_htons(ETH_P_IPV6) : 0);
		return;
	}
	__u16 proto = *(__u16 *)&e->header[12];

	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		fib(skb, e, &e->header[ETH_HLEN + 4], ETH_HLEN + 4, *(__u16 *)&e->header[16]);
	else
		fib(skb, e, &e->header[ETH_HLEN], ETH_HLEN, proto);
}

/* Copy the first cap bytes of the frame; 0 on success. */
static __always_inline long copy_header(struct __sk_buff *skb, struct pktsample_event *e,
					__u64 cap, __u32 vlan)
{
	if (vlan) {
		/* The tag was moved to skb metadata: rebuild the frame as on the wire. */
		if (cap < 16)
			return -1;
		if (bpf_skb_load_bytes(skb, 0, e->header, 12) < 0)
			return -1;
		*(__u16 *)&e->header[12] = (__u16)skb->vlan_proto; /* network order */
		*(__u16 *)&e->header[14] = bpf_htons((__u16)skb->vlan_tci);
		__u64 rest = cap - 16;
		if (rest == 0)
			return 0;
		if (rest > PKTSAMPLE_MAX_SNAPLEN - 16)
			return -1;
		return bpf_skb_load_bytes(skb, 12, &e->header[16], rest);
	}
	if (cap == 0 || cap > PKTSAMPLE_MAX_SNAPLEN)
		return -1;
	return bpf_skb_load_bytes(skb, 0, e->header, cap);
}

static __always_inline void handle(struct __sk_buff *skb, __u8 dir)
{
	__u32 ifindex = skb->ifindex;
	struct pktsample_config *cfg = bpf_map_lookup_elem(&config, &ifindex);
	if (!cfg)
		return;
	__u32 rate = cfg->sampling_rate;
	__u32 slot = cfg->slot;
	if (rate == 0 || slot >= PKTSAMPLE_MAX_IFACES)
		return;
	__u32 idx = slot * 2 + dir;
	struct pktsample_counters *c = bpf_map_lookup_elem(&counters, &idx);
	if (!c)
		return;
	c->packets_seen++;
	if (rate > 1 && ((__u64)bpf_get_prandom_u32() * rate) >> 32 != 0)
		return;

	struct pktsample_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		c->drops++;
		return;
	}
	/* 64-bit lengths: the verifier tracks bounds through compares on the
	 * same register, which 32-bit zero-extension copies would break.
	 * Devices without a link-layer header (tun, WireGuard, ipip, sit)
	 * have no VLAN tag to put back: their data starts at the IP header. */
	__u32 l3 = cfg->flags & PKTSAMPLE_CFG_L3;
	__u32 vlan = l3 ? 0 : skb->vlan_present;
	__u64 wire = (__u64)skb->len + (vlan ? 4 : 0);
	__u64 snap = cfg->snaplen;
	__u64 cap = wire < snap ? wire : snap;
	if (cap > PKTSAMPLE_MAX_SNAPLEN)
		cap = PKTSAMPLE_MAX_SNAPLEN;

	e->timestamp_ns = bpf_ktime_get_ns();
	e->ifindex = ifindex;
	e->ingress_ifindex = skb->ingress_ifindex;
	e->routed_ifindex = 0;
	e->sampling_rate = rate;
	e->pkt_len = wire;
	e->cap_len = cap;
	e->direction = dir;
	e->flags = vlan ? PKTSAMPLE_F_VLAN : 0;
	if (copy_header(skb, e, cap, vlan) < 0) {
		/* The frame could not be read (e.g. shorter than its length says). */
		bpf_ringbuf_discard(e, 0);
		c->drops++;
		return;
	}
	if (dir == PKTSAMPLE_DIR_INGRESS && (cfg->flags & PKTSAMPLE_CFG_FIB))
		routed(skb, e, l3);
	__u64 wake = 0;
	if (wakeup_bytes) {
		/* Records are all one size, so exactly one of them lands in this
		 * window as the ring fills past the mark: it wakes the reader. */
		__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		wake = avail >= wakeup_bytes && avail < wakeup_bytes + RECORD_BYTES
			       ? BPF_RB_FORCE_WAKEUP
			       : BPF_RB_NO_WAKEUP;
	}
	bpf_ringbuf_submit(e, wake);
	c->samples++;
}

SEC("classifier/ingress")
int pktsample_ingress(struct __sk_buff *skb)
{
	handle(skb, PKTSAMPLE_DIR_INGRESS);
	return TCX_NEXT;
}

SEC("classifier/egress")
int pktsample_egress(struct __sk_buff *skb)
{
	handle(skb, PKTSAMPLE_DIR_EGRESS);
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
