//! ICMP and ICMPv6 types as the filter sees them: echo requests are judged like a service,
//! echo replies answer the host's own pings, and the errors and neighbour discovery the
//! network needs are never dropped.

/// ICMP message classes as the filter sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpClass {
    /// Echo request: judged by the ICMP service's allow list.
    EchoRequest,
    /// Echo reply: answer to the host's own ping.
    EchoReply,
    /// Errors and neighbour discovery: the network needs them, never dropped.
    Control,
    /// Anything else (timestamp, redirect, information request...): default policy.
    Other,
}

/// Classifies an ICMPv4 type.
#[inline(always)]
pub const fn classify_icmp4(icmp_type: u8) -> IcmpClass {
    match icmp_type {
        8 => IcmpClass::EchoRequest,
        0 => IcmpClass::EchoReply,
        // destination unreachable (incl. fragmentation needed), time exceeded, parameter problem
        3 | 11 | 12 => IcmpClass::Control,
        _ => IcmpClass::Other,
    }
}

/// Classifies an ICMPv6 type.
#[inline(always)]
pub const fn classify_icmp6(icmp_type: u8) -> IcmpClass {
    match icmp_type {
        128 => IcmpClass::EchoRequest,
        129 => IcmpClass::EchoReply,
        // destination unreachable, packet too big, time exceeded, parameter problem
        1..=4 => IcmpClass::Control,
        // MLD query/report/done, router solicitation/advertisement, neighbour
        // solicitation/advertisement, redirect, MLDv2 report
        130..=137 | 143 => IcmpClass::Control,
        _ => IcmpClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_echo_and_errors_are_told_apart() {
        assert_eq!(classify_icmp4(8), IcmpClass::EchoRequest);
        assert_eq!(classify_icmp4(3), IcmpClass::Control);
        assert_eq!(classify_icmp4(13), IcmpClass::Other);
        assert_eq!(classify_icmp6(128), IcmpClass::EchoRequest);
        assert_eq!(classify_icmp6(2), IcmpClass::Control); // packet too big
        assert_eq!(classify_icmp6(135), IcmpClass::Control); // neighbour solicitation
        assert_eq!(classify_icmp6(139), IcmpClass::Other); // node information query
    }
}
