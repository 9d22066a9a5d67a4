/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The one definition of what the kernel program and user space share: the
 * sample record in the ring buffer, the per-interface configuration and the
 * counters. The Rust side (capture/src/live/abi.rs) mirrors these structs and
 * a test checks it against the BTF of the compiled object.
 */
#ifndef PKTSAMPLE_H
#define PKTSAMPLE_H

#define PKTSAMPLE_MAX_SNAPLEN 256
/* Interfaces one capture can watch (counter slots). */
#define PKTSAMPLE_MAX_IFACES 256

#define PKTSAMPLE_DIR_INGRESS 0
#define PKTSAMPLE_DIR_EGRESS 1

/* pktsample_event.flags */
#define PKTSAMPLE_F_ROUTED 1   /* routed_ifindex is valid */
#define PKTSAMPLE_F_VLAN 2     /* an offloaded VLAN tag was put back in header */

/* pktsample_config.flags */
#define PKTSAMPLE_CFG_FIB 1    /* look up the routed egress ifindex of ingress samples */
#define PKTSAMPLE_CFG_L3 2     /* no link-layer header: data starts at the IP header */

/* One sample, as reserved in the ring buffer. */
struct pktsample_event {
	__u64 timestamp_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 ingress_ifindex; /* skb->ingress_ifindex (0 when not received) */
	__u32 routed_ifindex;  /* FIB egress ifindex, if PKTSAMPLE_F_ROUTED */
	__u32 sampling_rate;
	__u32 pkt_len;         /* length from the link-layer header on (and a put-back
	                          VLAN tag); from the IP header on for L3 devices */
	__u16 cap_len;         /* valid bytes in header[] */
	__u8 direction;        /* PKTSAMPLE_DIR_* */
	__u8 flags;            /* PKTSAMPLE_F_* */
	__u8 header[PKTSAMPLE_MAX_SNAPLEN];
};

/* Per-interface settings, keyed by ifindex. */
struct pktsample_config {
	__u32 sampling_rate;   /* 1-in-N; 0 = off */
	__u32 snaplen;         /* bytes to copy, 1..PKTSAMPLE_MAX_SNAPLEN */
	__u32 slot;            /* index into the counters, < PKTSAMPLE_MAX_IFACES */
	__u32 flags;           /* PKTSAMPLE_CFG_* */
};

/* Per-CPU counters at index slot * 2 + direction. */
struct pktsample_counters {
	__u64 packets_seen;    /* every packet: the sample pool */
	__u64 samples;         /* selected and submitted to the ring */
	__u64 drops;           /* selected, but the ring was full */
};

#endif
