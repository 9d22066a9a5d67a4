//! Rust mirrors of the structs in `ebpf/pktsample.h`, the one definition of
//! the kernel ABI. `tests::layout_matches_object_btf` checks every field's
//! offset and every struct's size against the BTF of the committed object.

/// Largest snaplen the kernel program copies.
pub const MAX_SNAPLEN: usize = 256;
/// Interfaces one capture can watch (counter slots).
pub const MAX_IFACES: usize = 256;

pub const DIR_INGRESS: u8 = 0;
pub const DIR_EGRESS: u8 = 1;

pub const F_ROUTED: u8 = 1;
pub const F_VLAN: u8 = 2;

pub const CFG_FIB: u32 = 1;
pub const CFG_L3: u32 = 2;

/// `struct pktsample_event`: one sample in the ring buffer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event {
    pub timestamp_ns: u64,
    pub ifindex: u32,
    pub ingress_ifindex: u32,
    pub routed_ifindex: u32,
    pub sampling_rate: u32,
    pub pkt_len: u32,
    pub cap_len: u16,
    pub direction: u8,
    pub flags: u8,
    pub header: [u8; MAX_SNAPLEN],
}

/// `struct pktsample_config`: per-interface settings, keyed by ifindex.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    pub sampling_rate: u32,
    pub snaplen: u32,
    pub slot: u32,
    pub flags: u32,
}

/// `struct pktsample_counters`: per-CPU, at index slot * 2 + direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_seen: u64,
    pub samples: u64,
    pub drops: u64,
}

// SAFETY: plain old data, no padding (checked by the layout test), any bit
// pattern valid.
unsafe impl aya::Pod for Config {}
unsafe impl aya::Pod for Counters {}

impl Event {
    /// Read an event from ring buffer bytes (the ring gives no alignment
    /// guarantee beyond 8, and the length is checked).
    pub fn from_bytes(b: &[u8]) -> Option<Event> {
        (b.len() >= size_of::<Event>())
            // SAFETY: length checked; Event is plain old data.
            .then(|| unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<Event>()) })
    }

    pub fn header(&self) -> &[u8] {
        &self.header[..(self.cap_len as usize).min(MAX_SNAPLEN)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;
    use std::process::Command;

    /// (member name, bit offset) for `struct NAME` in bpftool's raw BTF dump,
    /// and the struct's size.
    fn btf_struct(dump: &str, name: &str) -> (usize, Vec<(String, usize)>) {
        let head = format!("STRUCT '{name}' size=");
        let mut lines = dump.lines().skip_while(|l| !l.contains(&head));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("{name} not in the object's BTF"));
        let size: usize = first
            .split("size=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let members = lines
            .take_while(|l| l.starts_with('\t'))
            .map(|l| {
                let name = l.trim().split('\'').nth(1).unwrap().to_string();
                let bits: usize = l
                    .split("bits_offset=")
                    .nth(1)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                (name, bits)
            })
            .collect();
        (size, members)
    }

    #[test]
    fn layout_matches_object_btf() {
        let obj = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/pktsample.bpf.o");
        let out = Command::new("bpftool")
            .args(["btf", "dump", "file", obj, "format", "raw"])
            .output();
        let Ok(out) = out.map(|o| String::from_utf8(o.stdout).unwrap()) else {
            let msg = "SKIPPED: bpftool is not installed (apt-get install bpftool); the BPF ABI layout was not checked";
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
            return;
        };
        macro_rules! check {
            ($cname:expr, $t:ty, [$($f:ident),*]) => {{
                let (size, members) = btf_struct(&out, $cname);
                assert_eq!(size, size_of::<$t>(), "size of {}", $cname);
                let want: Vec<(String, usize)> =
                    vec![$((stringify!($f).to_string(), offset_of!($t, $f) * 8)),*];
                assert_eq!(members, want, "members of {}", $cname);
            }};
        }
        check!(
            "pktsample_event",
            Event,
            [
                timestamp_ns,
                ifindex,
                ingress_ifindex,
                routed_ifindex,
                sampling_rate,
                pkt_len,
                cap_len,
                direction,
                flags,
                header
            ]
        );
        check!(
            "pktsample_config",
            Config,
            [sampling_rate, snaplen, slot, flags]
        );
        check!(
            "pktsample_counters",
            Counters,
            [packets_seen, samples, drops]
        );
    }
}

#[cfg(test)]
mod header_constants {
    use super::*;

    /// The `#define`s of the C header equal the Rust constants.
    #[test]
    fn defines_match() {
        let h = include_str!("../../../ebpf/pktsample.h");
        let define = |name: &str| -> u64 {
            h.lines()
                .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
                .unwrap_or_else(|| panic!("{name} not defined"))
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(define("PKTSAMPLE_MAX_SNAPLEN"), MAX_SNAPLEN as u64);
        assert_eq!(define("PKTSAMPLE_MAX_IFACES"), MAX_IFACES as u64);
        assert_eq!(define("PKTSAMPLE_DIR_INGRESS"), DIR_INGRESS as u64);
        assert_eq!(define("PKTSAMPLE_DIR_EGRESS"), DIR_EGRESS as u64);
        assert_eq!(define("PKTSAMPLE_F_ROUTED"), F_ROUTED as u64);
        assert_eq!(define("PKTSAMPLE_F_VLAN"), F_VLAN as u64);
        assert_eq!(define("PKTSAMPLE_CFG_FIB"), CFG_FIB as u64);
        assert_eq!(define("PKTSAMPLE_CFG_L3"), CFG_L3 as u64);
    }
}
