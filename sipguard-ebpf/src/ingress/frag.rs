//! IP fragments: a datagram's first fragment carries its ports and is judged like any packet;
//! its later fragments (no transport header) get the same verdict, remembered per (source,
//! IP identification) in a bounded LRU map. A later fragment whose first was never seen (lost,
//! reordered, or sent on its own) follows the default policy.
//!
//! What parsing learns of a fragment goes through a per-CPU scratch, not through the packet
//! struct: a value that stays live across the whole pipeline would have the verifier walk the
//! pipeline once per parse path, past its million instructions.
use sipguard_common::{
    lengths, reason, FragKey, FragVerdict, Policy, POLICY_DEFAULT_DROP, POLICY_MONITOR,
    SERVICE_NONE,
};

use super::{
    decision::{Decision, NO_SIP_CLASS},
    target::Target,
};
use crate::{
    maps::{FRAGS, FRAG_SCRATCH},
    parse::Packet,
};

/// `FragNote::word`: the packet is a fragment (the low 32 bits are its identification).
pub const FRAGMENT: u64 = 1 << 32;
/// More fragments follow this one.
pub const MORE: u64 = 1 << 33;
/// Not the first fragment.
pub const LATER: u64 = 1 << 34;

/// Called by the parser for a fragment only; [`remember`] clears the word after the verdict,
/// so a packet that is no fragment finds 0 and costs no write here.
#[inline(always)]
pub fn note(word: u64, addr: &[u8; 16]) {
    if let Some(s) = FRAG_SCRATCH.get_ptr_mut(0) {
        // SAFETY: per-CPU map memory, this program run only.
        unsafe {
            core::ptr::write_volatile(&mut (*s).word, word);
            (*s).addr = *addr;
        }
    }
}

#[inline(always)]
fn current() -> Option<(u64, FragKey)> {
    let s = FRAG_SCRATCH.get_ptr(0)?;
    // SAFETY: per-CPU map memory, written by `note` in this program run.
    let (word, addr) = unsafe { (core::ptr::read_volatile(&(*s).word), (*s).addr) };
    Some((
        word,
        FragKey {
            addr,
            id: word as u32,
        },
    ))
}

/// After the verdict on every packet: a first fragment with more to come leaves its verdict
/// for the rest; the word is cleared for the next packet.
#[inline(always)]
pub fn remember(d: &Decision) {
    let Some((word, key)) = current() else {
        return;
    };
    if word == 0 {
        return;
    }
    if let Some(s) = FRAG_SCRATCH.get_ptr_mut(0) {
        // SAFETY: per-CPU map memory, this program run only.
        unsafe { core::ptr::write_volatile(&mut (*s).word, 0) };
    }
    if word & (FRAGMENT | MORE | LATER) != FRAGMENT | MORE {
        return;
    }
    let verdict = FragVerdict {
        service: d.service,
        dropped: (d.drop && !d.monitor) as u32,
    };
    let _ = FRAGS.insert(&key, &verdict, 0);
}

/// Step: a later fragment gets its first fragment's verdict, counted as `fragment` under
/// that service; one whose first was never seen follows the default policy.
#[inline(always)]
pub fn later(policy: &Policy) -> Decision {
    let monitor = policy.flags & POLICY_MONITOR != 0;
    let remembered = current().and_then(|(_, key)| {
        // SAFETY: the value is copied out at once.
        unsafe { FRAGS.get(&key) }.copied()
    });
    match remembered {
        Some(v) if v.dropped != 0 => Decision::drop(v.service, reason::FRAGMENT, monitor),
        Some(v) => Decision::pass(v.service, reason::FRAGMENT),
        None if policy.flags & POLICY_DEFAULT_DROP != 0 => {
            Decision::drop(SERVICE_NONE, reason::FRAGMENT, monitor)
        }
        None => Decision::pass(SERVICE_NONE, reason::FRAGMENT),
    }
}

/// Step: a first fragment (more follow) to a SIP service whose UDP data is too small for an
/// honest stack ([`lengths::tiny_first_fragment`]) drops as `tiny_fragment`, so its request
/// line cannot reach the PBX in a later fragment that no check reads; [`remember`] then drops
/// the rest of its datagram. Follows the global mode only, like the other malformations.
#[inline(always)]
pub fn tiny_first(policy: &Policy, pkt: &Packet, t: &Target) -> Option<Decision> {
    if t.sip_class == NO_SIP_CLASS || sipguard_tiny_first_fragment(pkt.l4.payload_len as u64) == 0 {
        return None;
    }
    let monitor = policy.flags & POLICY_MONITOR != 0;
    Some(Decision::drop(t.service, reason::TINY_FRAGMENT, monitor).with_sip_class(t.sip_class))
}

/// 1 when this packet is a first fragment with more to come and `udp_data` bytes of UDP
/// data is tiny ([`lengths::tiny_first_fragment`]), else 0. A global function, so that the
/// comparison does not split the payload length's range for the rest of the pipeline.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_tiny_first_fragment(udp_data: u64) -> u64 {
    if !lengths::tiny_first_fragment(udp_data as usize) {
        return 0;
    }
    match current() {
        Some((word, _)) if word & (FRAGMENT | MORE | LATER) == FRAGMENT | MORE => 1,
        _ => 0,
    }
}
