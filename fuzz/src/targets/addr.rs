//! IPv6 forms of IPv4 addresses (`sipguard_common::addr`, issue 13): [`ipv4_in_ipv6`] against
//! a reference on std's [`Ipv6Addr`], [`ipv4_net_in_ipv6`] against a reference on `u128`
//! ranges and by its members (every address of a folded prefix folds into the IPv4 prefix),
//! and user space's [`fold_addr`] and [`fold_net`] against both (a /128 folds as its address).
//!
//! Input: a form byte (1, 2, 3: the first 12 bytes of the address become those of the mapped,
//! compatible or NAT64 form, so the forms are reached at once; else the address is as given),
//! the 16 bytes of an IPv6 address, a prefix length, then 16 bytes whose host bits pick a
//! member of the prefix.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sipguard_common::addr::{ipv4_in_ipv6, ipv4_net_in_ipv6};

use crate::{
    parse::{fold_addr, fold_net},
    take,
};

/// `::ffff:0:0/96`, `::/96` and `64:ff9b::/96` as the first 12 bytes of an address.
const FORMS: [[u8; 12]; 3] = [
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
    [0; 12],
    [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0],
];

pub fn run(data: &[u8]) {
    let (fields, _) = take::<34>(data);
    let mut a = [0u8; 16];
    a.copy_from_slice(&fields[1..17]);
    if let Some(form) = usize::from(fields[0])
        .checked_sub(1)
        .and_then(|i| FORMS.get(i))
    {
        a[..12].copy_from_slice(form);
    }
    let len = fields[17];
    let mut host = [0u8; 16];
    host.copy_from_slice(&fields[18..34]);

    let v4 = ipv4_in_ipv6(&a);
    assert_eq!(v4, reference(&a), "{}", Ipv6Addr::from(a));
    let want = v4.map_or(IpAddr::V6(a.into()), |v4| IpAddr::V4(v4.into()));
    assert_eq!(
        fold_addr(IpAddr::V6(a.into())),
        want,
        "{}",
        Ipv6Addr::from(a)
    );
    let b = Ipv4Addr::new(a[12], a[13], a[14], a[15]);
    assert_eq!(fold_addr(IpAddr::V4(b)), IpAddr::V4(b));

    check_net(a, len, host);
    check_fold_net(a, len);
}

/// The forms as `ipv4_in_ipv6` documents them, through std: mapped (`to_ipv4_mapped`),
/// compatible (`to_ipv4`, which also takes the mapped form and `::/104`, left to the other
/// rules) when its first IPv4 byte is not 0, NAT64's well-known prefix by its segments.
fn reference(a: &[u8; 16]) -> Option<[u8; 4]> {
    let ip = Ipv6Addr::from(*a);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4.octets());
    }
    let s = ip.segments();
    if s[..6] == [0; 6] && a[12] != 0 {
        return ip.to_ipv4().map(|v4| v4.octets());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some([a[12], a[13], a[14], a[15]]);
    }
    None
}

/// The top `len` bits of a 128-bit value.
fn mask128(len: u32) -> u128 {
    u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0)
}

/// `ipv4_net_in_ipv6`'s rule as ranges: the prefix `a/len` lies wholly inside `::ffff:0:0/96`
/// or `64:ff9b::/96`, or inside `::/96` and apart from `::/104` (whose `0.0.0.0/8` stays IPv6).
fn net_reference(a: &[u8; 16], len: u8) -> Option<([u8; 4], u8)> {
    let p = u128::from_be_bytes(*a);
    let l = u32::from(len);
    if l > 128 {
        return None;
    }
    let inside = |r: u128, rl: u32| l >= rl && p & mask128(rl) == r;
    let meets = |r: u128, rl: u32| p & mask128(l.min(rl)) == r & mask128(l.min(rl));
    let mapped = 0xffff_u128 << 32;
    let nat64 = 0x0064_ff9b_u128 << 96;
    if inside(mapped, 96) || inside(nat64, 96) || (inside(0, 96) && !meets(0, 104)) {
        Some(([a[12], a[13], a[14], a[15]], len - 96))
    } else {
        None
    }
}

/// The IPv4 prefix `v4/len` with its host bits clear.
fn v4_net(v4: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net::new(v4.into(), len)
        .expect("an IPv4 prefix of at most 32")
        .trunc()
}

fn check_net(a: [u8; 16], len: u8, host: [u8; 16]) {
    let got = ipv4_net_in_ipv6(&a, len);
    let want = net_reference(&a, len);
    let show = format!("{}/{len}", Ipv6Addr::from(a));
    assert_eq!(
        got.map(|(v4, l)| v4_net(v4, l)),
        want.map(|(v4, l)| v4_net(v4, l)),
        "{show}"
    );
    // Host bits set or not, the same prefix.
    let mask = mask128(u32::from(len));
    let network = (u128::from_be_bytes(a) & mask).to_be_bytes();
    let of_network = ipv4_net_in_ipv6(&network, len);
    assert_eq!(
        got.map(|(v4, l)| v4_net(v4, l)),
        of_network.map(|(v4, l)| v4_net(v4, l)),
        "{show}"
    );
    // Every member of a folded prefix folds into the IPv4 prefix.
    let Some((v4, l4)) = got else {
        return;
    };
    let member = (u128::from_be_bytes(a) & mask | u128::from_be_bytes(host) & !mask).to_be_bytes();
    let folded = ipv4_in_ipv6(&member);
    assert!(
        folded.is_some_and(|m| v4_net(v4, l4).contains(&Ipv4Addr::from(m))),
        "{} of {show} folds to {folded:?}, not into {}",
        Ipv6Addr::from(member),
        v4_net(v4, l4)
    );
}

/// `fold_net` is `ipv4_net_in_ipv6` on the network, a /128 folds as its address, and a folded
/// prefix (or an IPv4 one) stays as it is.
fn check_fold_net(a: [u8; 16], len: u8) {
    let Ok(net) = Ipv6Net::new(a.into(), len) else {
        return;
    };
    let got = fold_net(IpNet::V6(net));
    let want = match ipv4_net_in_ipv6(&net.network().octets(), len) {
        Some((v4, l)) => IpNet::V4(v4_net(v4, l)),
        None => IpNet::V6(net),
    };
    assert_eq!(got, want, "{net}");
    assert_eq!(fold_net(got), got, "{net}");
    let addr = IpAddr::V6(a.into());
    assert_eq!(
        fold_net(IpNet::from(addr)),
        IpNet::from(fold_addr(addr)),
        "{addr}"
    );
}
