//! Interfaces that appear and disappear while capturing (a new pod's veth on
//! a Kubernetes node), from the kernel's link notifications (rtnetlink
//! group RTMGRP_LINK) rather than by polling.

use std::os::fd::{AsRawFd, RawFd};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::CaptureError;

/// RTMGRP_LINK: link (interface) notifications.
const RTMGRP_LINK: u32 = 1;

/// What happened to an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A new interface, or news of one (renamed, up or down).
    New { ifindex: u32, name: String },
    /// An interface was deleted.
    Gone { ifindex: u32 },
    /// Notifications were lost (the socket overran): rescan the devices.
    Rescan,
}

/// A subscription to link notifications.
pub struct Watch {
    sock: Socket,
    buf: Vec<u8>,
}

fn sock_err(what: &'static str, source: std::io::Error) -> CaptureError {
    CaptureError::Sys { what, source }
}

impl Watch {
    /// Subscribe. Do it before listing the devices, so that none appears
    /// unseen in between.
    pub fn open() -> Result<Self, CaptureError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| sock_err("netlink socket", e))?;
        sock.bind(&SocketAddr::new(0, RTMGRP_LINK))
            .map_err(|e| sock_err("netlink bind", e))?;
        sock.set_non_blocking(true)
            .map_err(|e| sock_err("netlink socket", e))?;
        Ok(Watch {
            sock,
            buf: vec![0; 1 << 16],
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The notifications waiting (none when there are none: never blocks).
    pub fn events(&mut self) -> Result<Vec<LinkEvent>, CaptureError> {
        let mut out = Vec::new();
        loop {
            let n = match self.sock.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    out.push(LinkEvent::Rescan);
                    continue;
                }
                Err(e) => return Err(sock_err("netlink receive", e)),
            };
            parse(&self.buf[..n], &mut out);
        }
        Ok(out)
    }
}

/// The link messages in one datagram; anything else (or malformed) is
/// passed over, with a rescan so that no change is missed.
fn parse(mut b: &[u8], out: &mut Vec<LinkEvent>) {
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < 16 || len > b.len() {
            out.push(LinkEvent::Rescan);
            return;
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&b[..len]) {
            Ok(m) => match m.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                    let name = l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    });
                    if let Some(name) = name {
                        out.push(LinkEvent::New {
                            ifindex: l.header.index,
                            name,
                        });
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                    out.push(LinkEvent::Gone {
                        ifindex: l.header.index,
                    });
                }
                _ => {}
            },
            Err(_) => out.push(LinkEvent::Rescan),
        }
        // Messages are 4-byte aligned.
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
}
