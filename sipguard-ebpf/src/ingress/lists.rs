//! The source lists: bans, the global deny list and the service's allow list. Trie lookups
//! only, each skipped when the list is known to be empty.

use aya_ebpf::maps::lpm_trie::Key;
use sipguard_common::{
    allow_scope, epoch_scope, reason, Ban, Policy, ScopedV4, ScopedV6, ServicePolicy,
    BAN_SCOPE_SIP, POLICY_HAS_DENY_V4, POLICY_HAS_DENY_V6, POLICY_HAS_TRUSTED, SCOPE_BITS,
    SERVICE_ALLOW_ANY_V4, SERVICE_ALLOW_ANY_V6,
};

use super::{decision::Decision, target::Target};
use crate::{
    clock,
    maps::{
        self, ALLOW_V4, ALLOW_V6, AUTO_BANS_V4, AUTO_BANS_V6, BANS_V4, BANS_V6, DENY_V4, DENY_V6,
    },
    parse::Src,
    source,
};

/// Step: a banned source -> drop `banned`, under the global mode only. A trusted source is
/// never locked out, even by a ban made before it was trusted.
#[inline(always)]
pub(crate) fn banned(
    epoch: u32,
    policy: &Policy,
    global_monitor: bool,
    src: &Src,
    t: &Target,
) -> Option<Decision> {
    if !maps::bans_present() {
        return None;
    }
    if is_banned(src, t.is_sip())
        && !(policy.flags & POLICY_HAS_TRUSTED != 0 && source::is_trusted(epoch, src))
    {
        return Some(
            Decision::drop(t.service, reason::BANNED, global_monitor).with_sip_class(t.sip_class),
        );
    }
    None
}

/// Step: a source in the global deny list -> drop `denied`, under the global mode only.
#[inline(always)]
pub(crate) fn denied(
    epoch: u32,
    policy: &Policy,
    global_monitor: bool,
    src: &Src,
    t: &Target,
) -> Option<Decision> {
    if !is_denied(epoch, policy, src) {
        return None;
    }
    Some(Decision::drop(t.service, reason::DENIED, global_monitor).with_sip_class(t.sip_class))
}

/// Step: a source not in the service's allow list -> drop `not_allowed`.
#[inline(always)]
pub(crate) fn not_allowed(
    epoch: u32,
    s: &ServicePolicy,
    src: &Src,
    t: &Target,
) -> Option<Decision> {
    if is_allowed(epoch, t.service, s, src) {
        return None;
    }
    Some(Decision::drop(t.service, reason::NOT_ALLOWED, t.monitor).with_sip_class(t.sip_class))
}

/// A ban matches when its prefix covers the source, it has not expired, and its scope covers
/// the packet (all traffic, or SIP services only). Expired bans are ignored here and removed by
/// the daemon; expiry needs no daemon.
#[inline(always)]
fn is_banned(src: &Src, sip_service: bool) -> bool {
    // The admin's room, then the programs' (`ban`): either ban in force drops. Raw pointers
    // from here on: the hit count writes to the value, and a `&Ban` argument would tell LLVM
    // that it can't change (it dropped the write).
    let (admin, auto) = match src {
        Src::V4(a) => (
            BANS_V4.get(Key::new(32, *a)).map(writable),
            AUTO_BANS_V4.get(Key::new(32, *a)).map(writable),
        ),
        Src::V6(a) => (
            BANS_V6.get(Key::new(128, *a)).map(writable),
            AUTO_BANS_V6.get(Key::new(128, *a)).map(writable),
        ),
    };
    in_force(admin, sip_service) || in_force(auto, sip_service)
}

/// aya-ebpf 0.2's LpmTrie only hands out `&V`; the value is kernel map memory, writable by
/// the program.
#[inline(always)]
fn writable(ban: &Ban) -> *mut Ban {
    core::ptr::from_ref(ban).cast_mut()
}

/// `ban` covers the packet (its scope) and has not expired; counts the hit.
#[inline(always)]
fn in_force(ban: Option<*mut Ban>, sip_service: bool) -> bool {
    let Some(ban) = ban else {
        return false;
    };
    // SAFETY: the value lives in the map while the program runs.
    let (scope, expires_ns) = unsafe { ((*ban).scope, (*ban).expires_ns) };
    if scope == BAN_SCOPE_SIP && !sip_service {
        return false;
    }
    if expires_ns != 0 {
        let now = clock::now();
        if now >= expires_ns {
            return false;
        }
    }
    // The bpfel target has no atomic read-modify-write in core, so this is a plain add: two
    // CPUs hitting the same ban at once may lose one count of this display-only counter.
    // SAFETY: as above.
    unsafe { (*ban).hits += 1 };
    true
}

#[inline(always)]
fn is_denied(epoch: u32, policy: &Policy, src: &Src) -> bool {
    let scope = epoch_scope(epoch);
    match src {
        Src::V4(addr) => {
            policy.flags & POLICY_HAS_DENY_V4 != 0
                && DENY_V4
                    .get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: *addr }))
                    .is_some()
        }
        Src::V6(addr) => {
            policy.flags & POLICY_HAS_DENY_V6 != 0
                && DENY_V6
                    .get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *addr }))
                    .is_some()
        }
    }
}

#[inline(always)]
fn is_allowed(epoch: u32, service: u32, s: &ServicePolicy, src: &Src) -> bool {
    let scope = allow_scope(epoch, service);
    match src {
        Src::V4(addr) => {
            s.flags & SERVICE_ALLOW_ANY_V4 != 0
                || ALLOW_V4
                    .get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: *addr }))
                    .is_some()
        }
        Src::V6(addr) => {
            s.flags & SERVICE_ALLOW_ANY_V6 != 0
                || ALLOW_V6
                    .get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *addr }))
                    .is_some()
        }
    }
}
