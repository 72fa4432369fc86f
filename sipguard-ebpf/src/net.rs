//! Protocol numbers and header constants, declared once for the parser, the egress program
//! and the drop samples.

/// Bytes of an Ethernet header without VLAN tags.
pub(crate) const ETH_HLEN: usize = 14;
/// Offset of the EtherType in an Ethernet header.
pub(crate) const ETH_TYPE_OFFSET: usize = 12;
/// Bytes of one VLAN tag (TCI and the inner EtherType).
pub(crate) const VLAN_HLEN: usize = 4;
/// VLAN tags the programs look through (802.1Q and 802.1ad, stacked): a third is refused.
pub(crate) const MAX_VLAN_TAGS: usize = 2;

pub(crate) const ETH_P_IP: u16 = 0x0800;
pub(crate) const ETH_P_IPV6: u16 = 0x86DD;
pub(crate) const ETH_P_8021Q: u16 = 0x8100;
pub(crate) const ETH_P_8021AD: u16 = 0x88A8;

pub(crate) const IPPROTO_ICMP: u8 = 1;
pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;
pub(crate) const IPPROTO_ICMPV6: u8 = 58;

/// IPv6 extension headers (next-header values) the parser skips.
pub(crate) const IPV6_HOPOPTS: u8 = 0;
pub(crate) const IPV6_ROUTING: u8 = 43;
pub(crate) const IPV6_FRAGMENT: u8 = 44;
pub(crate) const IPV6_AH: u8 = 51;
pub(crate) const IPV6_DSTOPTS: u8 = 60;

pub(crate) const TCP_FIN: u8 = 0x01;
pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_ACK: u8 = 0x10;
