//! Everything a walk over a file hands out, recorded: for the tests and the
//! fuzz target that hold the fast pcapng path to pcap-file's (see
//! [`super::CaptureReader::reference`]).

use super::{CaptureReader, Interface, Packet, ReadStats, Visitor};
use crate::error::FormatError;
use crate::meta::{CaptureMetadata, Direction};

/// One thing a walk handed out, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Interface(usize, Interface),
    Metadata(Box<CaptureMetadata>),
    Packet {
        timestamp_ns: i64,
        iface: usize,
        orig_len: u32,
        data: Vec<u8>,
        direction: Direction,
        ingress_ifindex: Option<u32>,
        routed_ifindex: Option<u32>,
    },
}

/// A walk's events and its end: the stats, or the error's text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    pub events: Vec<Event>,
    pub end: Option<Result<ReadStats, String>>,
}

impl Visitor for Transcript {
    type Error = FormatError;

    fn metadata(&mut self, meta: CaptureMetadata) -> Result<(), FormatError> {
        self.events.push(Event::Metadata(Box::new(meta)));
        Ok(())
    }

    fn interface(&mut self, index: usize, iface: &Interface) -> Result<(), FormatError> {
        self.events.push(Event::Interface(index, iface.clone()));
        Ok(())
    }

    fn packet(&mut self, p: &Packet<'_>) -> Result<(), FormatError> {
        self.events.push(Event::Packet {
            timestamp_ns: p.timestamp_ns,
            iface: p.iface,
            orig_len: p.orig_len,
            data: p.data.to_vec(),
            direction: p.direction,
            ingress_ifindex: p.ingress_ifindex,
            routed_ifindex: p.routed_ifindex,
        });
        Ok(())
    }
}

impl Transcript {
    /// Walk a reader to its end.
    pub fn of(reader: &CaptureReader) -> Transcript {
        let mut t = Transcript::default();
        let end = reader.read(&mut t).map_err(|e| crate::error::chain(&e));
        t.end = Some(end);
        t
    }
}
