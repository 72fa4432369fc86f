//! Header parsing in the style of xdp-tools' parsing helpers: a cursor that checks bounds
//! before every read and one function per header. Every function returns the reason code of
//! the malformation when a header is truncated or invalid.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use sipguard_common::{addr, classify_icmp4, classify_icmp6, lengths, reason, sip, IcmpClass};

use crate::{
    ingress::frag,
    maps::UA_SCRATCH,
    net::{
        ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6,
        IPPROTO_TCP, IPPROTO_UDP, IPV6_AH, IPV6_DSTOPTS, IPV6_FRAGMENT, IPV6_HOPOPTS, IPV6_ROUTING,
        MAX_VLAN_TAGS, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, VLAN_HLEN,
    },
    ua,
};

/// Extension headers skipped before giving up (a legitimate packet carries two or three).
const MAX_IPV6_EXT_HDRS: usize = 6;

/// Source address of a packet.
#[derive(Clone, Copy)]
pub enum Src {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// Which transport a packet carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
    Icmp,
    /// Non-first IP fragment: no transport header.
    Fragment,
    /// Any other IP protocol (GRE, ESP, SCTP, ...).
    Other,
}

/// Transport layer as far as the filter needs it.
///
/// A struct whose every field is set on every path, not an enum with fields: LLVM hoists
/// reads of one variant's fields above the match that picks the variant, and where another
/// variant was parsed, the stack slot read was never written. Kernels before 6.4 refuse any
/// read of uninitialised stack, even one whose value goes unused.
#[derive(Clone, Copy)]
pub struct L4 {
    pub proto: Proto,
    /// ICMP and ICMPv6 only; `Other` elsewhere.
    pub icmp: IcmpClass,
    /// UDP and TCP; 0 elsewhere.
    pub dport: u16,
    /// TCP flags; 0 elsewhere.
    pub flags: u8,
    /// UDP and TCP: offset of the payload (the segment's data) in the frame.
    pub payload: usize,
    /// UDP and TCP: the payload's length in this packet per the UDP and IP lengths
    /// ([`lengths::udp_payload_len`]; TCP: the IP payload after the TCP header), capped at
    /// the frame: Ethernet padding and trailers are never payload.
    pub payload_len: usize,
}

impl L4 {
    #[inline(always)]
    const fn bare(proto: Proto) -> Self {
        Self {
            proto,
            icmp: IcmpClass::Other,
            dport: 0,
            flags: 0,
            payload: 0,
            payload_len: 0,
        }
    }

    /// A TCP segment with SYN and without ACK: a new connection.
    #[inline(always)]
    pub fn is_syn(&self) -> bool {
        self.proto == Proto::Tcp && self.flags & TCP_SYN != 0 && self.flags & TCP_ACK == 0
    }

    /// ICMP (either family) of this class.
    #[inline(always)]
    pub fn is_icmp(&self, class: IcmpClass) -> bool {
        self.proto == Proto::Icmp && self.icmp == class
    }
}

/// An IP packet reduced to what the pipeline decides on.
#[derive(Clone, Copy)]
pub struct Packet {
    pub src: Src,
    pub l4: L4,
}

pub enum Parsed {
    NonIp,
    Ip(Packet),
}

/// A read position in the packet; every read checks `data_end` first.
pub struct Cursor<'a> {
    ctx: &'a XdpContext,
    pub off: usize,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext) -> Self {
        Self { ctx, off: 0 }
    }

    /// Copies a header `T` from the current position, or `None` if the packet is too short.
    ///
    /// Every header type here has 2-byte alignment, and every header offset is even
    /// (Ethernet 14, VLAN tags 4, IPv4 IHL*4, IPv6 40 and multiples of 4 or 8), while the
    /// kernel hands XDP a data pointer aligned to at least 2: the read is aligned, so LLVM
    /// emits single u8/u16 loads instead of byte-by-byte copies.
    #[inline(always)]
    fn read<T: Copy>(&self) -> Option<T> {
        let start = self.ctx.data();
        let end = self.ctx.data_end();
        if start + self.off + size_of::<T>() > end {
            return None;
        }
        // SAFETY: the bounds check above keeps the read inside the packet; see above for
        // alignment.
        Some(unsafe { core::ptr::read((start + self.off) as *const T) })
    }

    /// True when `len` bytes are present from the current position.
    #[inline(always)]
    fn has(&self, len: usize) -> bool {
        self.ctx.data() + self.off + len <= self.ctx.data_end()
    }
}

/// Header layouts (network byte order in the u16 fields, read with `u16::from_be`).
#[repr(C)]
#[derive(Clone, Copy)]
struct EthHdr {
    dst: [u16; 3],
    src: [u16; 3],
    ethertype: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VlanTag {
    tci: u16,
    ethertype: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv4Hdr {
    version_ihl: u8,
    tos: u8,
    total_len: u16,
    id: u16,
    frag_off: u16,
    ttl: u8,
    proto: u8,
    check: u16,
    saddr: [u16; 2],
    daddr: [u16; 2],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6Hdr {
    version_tc: u8,
    tc_flow: u8,
    flow: u16,
    payload_len: u16,
    next: u8,
    hop_limit: u8,
    saddr: [u16; 8],
    daddr: [u16; 8],
}

/// Hop-by-hop, routing, destination options and AH start with (next header, length).
#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6ExtHdr {
    next: u8,
    len: u8,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Ipv6FragHdr {
    next: u8,
    reserved: u8,
    offset_flags: u16,
    id: [u16; 2],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UdpHdr {
    sport: u16,
    dport: u16,
    len: u16,
    check: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct TcpHdr {
    sport: u16,
    dport: u16,
    seq: [u16; 2],
    ack: [u16; 2],
    doff: u8,
    flags: u8,
    window: u16,
    check: u16,
    urgent: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct IcmpHdr {
    icmp_type: u8,
    code: u8,
    check: u16,
    rest: [u16; 2],
}

/// What [`sip::classify`] needs of the payload at `off`: all 16 bytes when there are at
/// least 16 (eight u16 loads: payload offsets are even), the bytes of a payload of at most 4
/// (a keep-alive candidate), nothing otherwise.
#[inline(always)]
pub fn payload_head(ctx: &XdpContext, off: usize, len: usize) -> [u8; sip::HEAD_LEN] {
    let c = Cursor { ctx, off };
    let mut head = [0u8; sip::HEAD_LEN];
    if len >= sip::HEAD_LEN {
        if let Some(words) = c.read::<[u16; sip::HEAD_LEN / 2]>() {
            // SAFETY: same size; bytes stay in wire order.
            head = unsafe { core::mem::transmute::<[u16; 8], [u8; 16]>(words) };
        }
    } else if len <= 4 {
        // Each byte behind a check of its own end, `p + i + 1`, passed through the stack:
        // left to itself, LLVM folds `p + i + 1 <= end` into `p + i < end`, which proves
        // nothing to the verifier.
        let (p, end) = (ctx.data() + off, ctx.data_end());
        for (i, b) in head.iter_mut().take(4).enumerate() {
            if i >= len || opaque(p + i + 1) > end {
                break;
            }
            // SAFETY: bounds checked on the line above.
            *b = unsafe { *((p + i) as *const u8) };
        }
    }
    head
}

/// `x`, through a volatile stack slot: LLVM can no longer fold the arithmetic that made it
/// into a comparison (the verifier tracks the value exactly through the slot).
#[inline(always)]
fn opaque(x: usize) -> usize {
    let slot = x;
    // SAFETY: a read of a local.
    unsafe { core::ptr::read_volatile(&slot) }
}

/// What the IP layer tells the transport: the source, the upper-layer protocol, whether this
/// is the first (or only) fragment and whether more follow, and `left`, the bytes of IP
/// payload from the transport header on (the IP length's word, not the frame's).
struct Ip {
    src: Src,
    proto: u8,
    first: bool,
    more: bool,
    left: usize,
}

/// Parses the whole header stack. `Err` carries the malformation reason.
///
/// `JUDGE`: the pipeline's parse, which notes fragments for [`frag`] and keeps the UDP
/// payload's place; the drop sample's second parse (`false`) needs only the source, the
/// transport and the port, and must not note the packet as a fragment again.
#[inline(always)]
pub fn packet<const JUDGE: bool>(c: &mut Cursor) -> Result<Parsed, u32> {
    let ethertype = ethernet(c)?;
    let ip = match ethertype {
        ETH_P_IP => ipv4::<JUDGE>(c)?,
        ETH_P_IPV6 => ipv6::<JUDGE>(c)?,
        _ => return Ok(Parsed::NonIp),
    };
    let at = c.off;
    let l4 = if ip.first {
        transport::<JUDGE>(c, &ip)?
    } else {
        L4::bare(Proto::Fragment)
    };
    // An IP length beyond the frame: a truncated packet. Checked after every header read,
    // as plain arithmetic: a frame check placed before the reads would let LLVM prove their
    // own bounds checks redundant, which the verifier cannot follow.
    if at + ip.left > c.ctx.data_end() - c.ctx.data() {
        return Err(reason::MALFORMED_L3);
    }
    Ok(Parsed::Ip(Packet { src: ip.src, l4 }))
}

/// Ethernet with up to two VLAN tags (802.1Q, 802.1ad). Returns the inner EtherType.
#[inline(always)]
fn ethernet(c: &mut Cursor) -> Result<u16, u32> {
    let eth: EthHdr = c.read().ok_or(reason::MALFORMED_L2)?;
    let mut ethertype = u16::from_be(eth.ethertype);
    c.off = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        let tag: VlanTag = c.read().ok_or(reason::MALFORMED_L2)?;
        ethertype = u16::from_be(tag.ethertype);
        c.off += VLAN_HLEN;
    }
    // A third tag: refuse rather than pass the frame as non-IP.
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        return Err(reason::MALFORMED_L2);
    }
    Ok(ethertype)
}

/// IPv4 with any IHL.
#[inline(always)]
fn ipv4<const JUDGE: bool>(c: &mut Cursor) -> Result<Ip, u32> {
    let h: Ipv4Hdr = c.read().ok_or(reason::MALFORMED_L3)?;
    if h.version_ihl >> 4 != 4 {
        return Err(reason::MALFORMED_L3);
    }
    let ihl = ((h.version_ihl & 0x0f) as usize) * 4;
    let total = u16::from_be(h.total_len) as usize;
    if ihl < 20 || total < ihl || !c.has(ihl) {
        return Err(reason::MALFORMED_L3);
    }
    let frag_off = u16::from_be(h.frag_off);
    let fragment_offset = frag_off & 0x1fff;
    c.off += ihl;
    // SAFETY: [u16; 2] and [u8; 4] have the same size; bytes stay in network order.
    let src: [u8; 4] = unsafe { core::mem::transmute(h.saddr) };
    let mut word = 0;
    if frag_off & 0x3fff != 0 {
        word = frag::FRAGMENT | u16::from_be(h.id) as u64;
        if frag_off & 0x2000 != 0 {
            word |= frag::MORE;
        }
        if fragment_offset != 0 {
            word |= frag::LATER;
        }
    }
    if JUDGE && word != 0 {
        let mapped = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, src[0], src[1], src[2], src[3],
        ];
        frag::note(word, &mapped);
    }
    Ok(Ip {
        src: Src::V4(src),
        proto: h.proto,
        first: fragment_offset == 0,
        more: frag_off & 0x2000 != 0,
        left: total - ihl,
    })
}

/// IPv6, skipping hop-by-hop, routing, destination-options, fragment and AH headers.
#[inline(always)]
fn ipv6<const JUDGE: bool>(c: &mut Cursor) -> Result<Ip, u32> {
    let h: Ipv6Hdr = c.read().ok_or(reason::MALFORMED_L3)?;
    if h.version_tc >> 4 != 6 {
        return Err(reason::MALFORMED_L3);
    }
    // SAFETY: [u16; 8] and [u8; 16] have the same size; bytes stay in network order.
    let saddr = unsafe { core::mem::transmute::<[u16; 8], [u8; 16]>(h.saddr) };
    // An IPv6 form of an IPv4 address is judged as that address by every step.
    let src = match addr::ipv4_in_ipv6(&saddr) {
        Some(v4) => Src::V4(v4),
        None => Src::V6(saddr),
    };
    let mut next = h.next;
    // The IP payload left after each extension header.
    let mut left = u16::from_be(h.payload_len) as usize;
    let mut more = false;
    c.off += 40;
    for _ in 0..MAX_IPV6_EXT_HDRS {
        match next {
            IPV6_HOPOPTS | IPV6_ROUTING | IPV6_DSTOPTS => {
                let e: Ipv6ExtHdr = c.read().ok_or(reason::MALFORMED_L3)?;
                next = e.next;
                let len = (e.len as usize + 1) * 8;
                left = left.checked_sub(len).ok_or(reason::MALFORMED_L3)?;
                c.off += len;
            }
            IPV6_AH => {
                let e: Ipv6ExtHdr = c.read().ok_or(reason::MALFORMED_L3)?;
                next = e.next;
                let len = (e.len as usize + 2) * 4;
                left = left.checked_sub(len).ok_or(reason::MALFORMED_L3)?;
                c.off += len;
            }
            IPV6_FRAGMENT => {
                let e: Ipv6FragHdr = c.read().ok_or(reason::MALFORMED_L3)?;
                next = e.next;
                left = left.checked_sub(8).ok_or(reason::MALFORMED_L3)?;
                c.off += 8;
                let flags = u16::from_be(e.offset_flags);
                let id = (u16::from_be(e.id[0]) as u64) << 16 | u16::from_be(e.id[1]) as u64;
                let mut word = frag::FRAGMENT | id;
                more = flags & 1 != 0;
                if more {
                    word |= frag::MORE;
                }
                let first = flags & 0xfff8 == 0;
                if !first {
                    word |= frag::LATER;
                }
                if JUDGE {
                    frag::note(word, &saddr);
                }
                if !first {
                    return Ok(Ip {
                        src,
                        proto: next,
                        first,
                        more,
                        left,
                    });
                }
            }
            _ => {
                return Ok(Ip {
                    src,
                    proto: next,
                    first: true,
                    more,
                    left,
                })
            }
        }
    }
    // Still inside the extension header chain: refuse to guess.
    Err(reason::MALFORMED_L3)
}

/// `(payload, len)` through a volatile store and load in per-CPU map memory, so the verifier
/// knows nothing of either (the offset masked to 14 bits, the length to 16): each parse path
/// (VLAN tags, IPv4 options, IPv6 extension headers) and each branch of the length rules
/// gives them their own exact range, and the verifier would walk the whole pipeline once per
/// range, past 5.10's million instructions. Forgotten, one walk covers them all; every read
/// of the payload checks its bounds against the frame. `None` cannot happen (index 0 of a
/// one-entry array).
#[inline(always)]
fn forget_payload(payload: usize, len: usize) -> Option<(usize, usize)> {
    let words = UA_SCRATCH.get_ptr_mut(0)? as *mut u64;
    let packed = ua::forget(words, (payload as u64) << 16 | len as u64);
    Some((
        ((packed >> 16) & 0x3fff) as usize,
        (packed & 0xffff) as usize,
    ))
}

/// The transport payload at `payload`, `declared` bytes long per its headers, capped at the
/// frame (a truncated frame holds less), then forgotten ([`forget_payload`]).
#[inline(always)]
fn payload_in_frame(c: &Cursor, payload: usize, declared: usize) -> Result<(usize, usize), u32> {
    let in_frame = (c.ctx.data_end() - c.ctx.data()).saturating_sub(payload);
    let len = if declared < in_frame {
        declared
    } else {
        in_frame
    };
    forget_payload(payload, len).ok_or(reason::MALFORMED_L4)
}

/// UDP, TCP, ICMP (IPv4) and ICMPv6 (IPv6); any other protocol is `Proto::Other`.
#[inline(always)]
fn transport<const JUDGE: bool>(c: &mut Cursor, ip: &Ip) -> Result<L4, u32> {
    let v6 = matches!(ip.src, Src::V6(_));
    match ip.proto {
        IPPROTO_UDP => {
            let u: UdpHdr = c.read().ok_or(reason::MALFORMED_L4)?;
            if !JUDGE {
                return Ok(L4 {
                    dport: u16::from_be(u.dport),
                    ..L4::bare(Proto::Udp)
                });
            }
            let declared = lengths::udp_payload_len(u16::from_be(u.len), ip.left, v6, ip.more)
                .ok_or(reason::MALFORMED_L4)?;
            let (payload, payload_len) =
                payload_in_frame(c, c.off + size_of::<UdpHdr>(), declared)?;
            Ok(L4 {
                dport: u16::from_be(u.dport),
                payload,
                payload_len,
                ..L4::bare(Proto::Udp)
            })
        }
        IPPROTO_TCP => {
            let t: TcpHdr = c.read().ok_or(reason::MALFORMED_L4)?;
            let flags = t.flags;
            let invalid_flags = (flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN)
                || (flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST)
                || flags & 0x3f == 0;
            let hlen = (t.doff >> 4) as usize * 4;
            // A header longer than the IP payload: malformed, like a UDP length beyond it.
            if hlen < 20 || invalid_flags || (JUDGE && hlen > ip.left) {
                return Err(reason::MALFORMED_L4);
            }
            if !JUDGE {
                return Ok(L4 {
                    dport: u16::from_be(t.dport),
                    flags,
                    ..L4::bare(Proto::Tcp)
                });
            }
            // The segment's data: from the header's end to the IP payload's.
            let (payload, payload_len) = payload_in_frame(c, c.off + hlen, ip.left - hlen)?;
            Ok(L4 {
                dport: u16::from_be(t.dport),
                flags,
                payload,
                payload_len,
                ..L4::bare(Proto::Tcp)
            })
        }
        IPPROTO_ICMP if !v6 => {
            let i: IcmpHdr = c.read().ok_or(reason::MALFORMED_L4)?;
            Ok(L4 {
                icmp: classify_icmp4(i.icmp_type),
                ..L4::bare(Proto::Icmp)
            })
        }
        IPPROTO_ICMPV6 if v6 => {
            let i: IcmpHdr = c.read().ok_or(reason::MALFORMED_L4)?;
            Ok(L4 {
                icmp: classify_icmp6(i.icmp_type),
                ..L4::bare(Proto::Icmp)
            })
        }
        _ => Ok(L4::bare(Proto::Other)),
    }
}
