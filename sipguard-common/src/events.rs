//! The records the programs send the daemon through the `EVENTS` ring buffer: bans the
//! programs made, and samples of dropped packets. The daemon turns each into a log line.

/// An event the programs send the daemon through the `EVENTS` ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `EVENT_*`.
    pub kind: u32,
    /// `BAN_REASON_*` for a ban, `reason::*` for a drop sample.
    pub reason: u32,
    /// 4 or 6 (0: a drop sample of a packet without an IP source, e.g. malformed).
    pub family: u8,
    /// The banned prefix; a drop sample's source is a whole address.
    pub prefix_len: u8,
    /// Drop sample: IPPROTO_* of the transport (0: none, a later fragment).
    pub protocol: u8,
    /// Drop sample: `verdict::DROP` or `verdict::WOULD_DROP`.
    pub verdict: u8,
    /// Ban: failures counted. Drop sample: drops not sampled on this CPU since its last one.
    pub count: u32,
    pub addr: [u8; 16],
    /// Ban: its length in seconds.
    pub ban_s: u32,
    /// Drop sample: the service slot and destination port.
    pub service: u16,
    pub dport: u16,
}

/// A program banned a source.
pub const EVENT_BAN: u32 = 1;
/// A sample of the dropped packets.
pub const EVENT_DROP: u32 = 2;
/// Bytes of the ring buffer.
pub const EVENTS_BYTES: u32 = 64 * 1024;
