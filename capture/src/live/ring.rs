//! Reading samples out of the kernel's ring buffer.
//!
//! Each record is one [`Event`]; the reader turns it into a [`SampleRow`]
//! for the interface its ifindex names. A record too short to be an event,
//! or of an ifindex no slot has, cannot become a row: it is counted in
//! [`RingReader::bad_records`] (and, as a selected sample that never reached
//! the file, among the drops), never skipped silently.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};

use aya::maps::{MapData, RingBuf};
use pktsample_schemas::{Direction, SampleRow};

use crate::error::CaptureError;

use super::abi::{self, Event};

struct Slot {
    name: String,
    link_type: u32,
}

/// The ring and what its records refer to.
pub struct RingReader {
    ring: RingBuf<MapData>,
    /// CLOCK_MONOTONIC to UTC.
    offset: i64,
    by_ifindex: HashMap<u32, usize>,
    slots: Vec<Slot>,
    /// Records that could not be read (short, or of an unknown interface).
    pub bad_records: u64,
}

impl RingReader {
    pub fn new(ring: RingBuf<MapData>, offset: i64) -> Self {
        RingReader {
            ring,
            offset,
            by_ifindex: HashMap::new(),
            slots: Vec::new(),
            bad_records: 0,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// Records of `ifindex` belong to the next slot (slots are numbered in
    /// the order they are added, as the kernel's counters are).
    pub fn add(&mut self, ifindex: u32, name: &str, link_type: u32) -> usize {
        let slot = self.slots.len();
        self.slots.push(Slot {
            name: name.to_string(),
            link_type,
        });
        self.by_ifindex.insert(ifindex, slot);
        slot
    }

    /// Hand every waiting record to `sink` with its slot and direction
    /// index (0 ingress, 1 egress), at most `limit` of them.
    pub fn drain(
        &mut self,
        mut limit: Option<u64>,
        sink: &mut dyn FnMut(&SampleRow<'_>, usize, usize) -> Result<(), CaptureError>,
    ) -> Result<(), CaptureError> {
        while limit != Some(0) {
            let Some(item) = self.ring.next() else {
                break;
            };
            let Some(e) = Event::from_bytes(&item) else {
                self.bad_records += 1;
                continue;
            };
            drop(item);
            let Some(&slot) = self.by_ifindex.get(&e.ifindex) else {
                self.bad_records += 1;
                continue;
            };
            let s = &self.slots[slot];
            let (direction, dir) = if e.direction == abi::DIR_INGRESS {
                (Direction::Ingress, 0)
            } else {
                (Direction::Egress, 1)
            };
            sink(
                &SampleRow {
                    timestamp_ns: e.timestamp_ns as i64 + self.offset,
                    ifindex: e.ifindex,
                    ifname: &s.name,
                    direction,
                    sampling_rate: e.sampling_rate,
                    pkt_len: e.pkt_len,
                    header: e.header(),
                    ingress_ifindex: (e.ingress_ifindex != 0).then_some(e.ingress_ifindex),
                    routed_ifindex: (e.flags & abi::F_ROUTED != 0).then_some(e.routed_ifindex),
                    link_type: s.link_type,
                },
                slot,
                dir,
            )?;
            limit = limit.map(|l| l - 1);
        }
        Ok(())
    }
}
