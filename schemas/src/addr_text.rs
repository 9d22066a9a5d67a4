//! IP addresses as text, exactly as the standard library's `Display` writes
//! them, without `core::fmt`: at rate 1 every sample's two addresses are
//! formatted, and `core::fmt` was a tenth of the sampler's time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Room for the longest address text (an IPv4-mapped IPv6 address with
/// every segment in full is 45 bytes).
pub const MAX_LEN: usize = 45;

/// A small text buffer.
pub struct AddrText {
    buf: [u8; MAX_LEN],
    len: usize,
}

impl Default for AddrText {
    fn default() -> Self {
        AddrText {
            buf: [0; MAX_LEN],
            len: 0,
        }
    }
}

impl AddrText {
    #[inline]
    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[inline]
    fn push_str(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    #[inline]
    fn decimal(&mut self, n: u8) {
        if n >= 100 {
            self.push(b'0' + n / 100);
        }
        if n >= 10 {
            self.push(b'0' + n / 10 % 10);
        }
        self.push(b'0' + n % 10);
    }

    #[inline]
    fn hex(&mut self, n: u16) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let d = (n >> shift) & 0xf;
            if d != 0 || started || shift == 0 {
                self.push(DIGITS[d as usize]);
                started = true;
            }
        }
    }

    fn v4(&mut self, a: Ipv4Addr) {
        let [a, b, c, d] = a.octets();
        self.decimal(a);
        self.push(b'.');
        self.decimal(b);
        self.push(b'.');
        self.decimal(c);
        self.push(b'.');
        self.decimal(d);
    }

    fn segments(&mut self, s: &[u16]) {
        for (i, &x) in s.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.hex(x);
        }
    }

    /// RFC 5952 as std does it: an IPv4-mapped address as `::ffff:a.b.c.d`,
    /// else the first longest run of two or more zero segments as `::`.
    fn v6(&mut self, a: Ipv6Addr) {
        if let Some(v4) = a.to_ipv4_mapped() {
            self.push_str(b"::ffff:");
            return self.v4(v4);
        }
        let s = a.segments();
        let (mut best, mut cur) = ((0, 0), (0, 0));
        for (i, &x) in s.iter().enumerate() {
            if x == 0 {
                if cur.1 == 0 {
                    cur.0 = i;
                }
                cur.1 += 1;
                if cur.1 > best.1 {
                    best = cur;
                }
            } else {
                cur = (0, 0);
            }
        }
        if best.1 > 1 {
            self.segments(&s[..best.0]);
            self.push_str(b"::");
            self.segments(&s[best.0 + best.1..]);
        } else {
            self.segments(&s);
        }
    }

    /// The text of `a`.
    pub fn format(&mut self, a: IpAddr) -> &str {
        self.len = 0;
        match a {
            IpAddr::V4(a) => self.v4(a),
            IpAddr::V6(a) => self.v6(a),
        }
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_std() {
        let mut t = AddrText::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut check = |a: IpAddr| assert_eq!(t.format(a), a.to_string(), "{a:?}");
        for s in [
            "::",
            "::1",
            "1::",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "1:0:0:1:0:0:0:1",
            "1:0:0:0:1:0:0:1",
            "0:0:1:0:0:1:0:0",
            "1:0:1:0:1:0:1:0",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "2001:db8::ff00:42:8329",
            "::ffff:0:0",
            "64:ff9b::192.0.2.33",
            "fe80::1:0:0:0",
        ] {
            check(s.parse().unwrap());
        }
        for _ in 0..200_000 {
            let r = next();
            check(IpAddr::V4(Ipv4Addr::from(r as u32)));
            // Segments zero half the time, to make runs of every length.
            let mut seg = [0u16; 8];
            for (i, s) in seg.iter_mut().enumerate() {
                let v = next();
                *s = if v & 1 == 0 {
                    0
                } else {
                    (v >> (8 + i)) as u16 >> (v % 13)
                };
            }
            if r % 17 == 0 {
                seg[..5].fill(0);
                seg[5] = 0xffff;
            }
            check(IpAddr::V6(Ipv6Addr::from(seg)));
        }
    }
}
