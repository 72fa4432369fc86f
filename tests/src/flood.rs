//! A flood generator that outruns every filter it is compared against: BPF_PROG_TEST_RUN in
//! live-frames mode (`BPF_F_TEST_XDP_LIVE_FRAMES`) on a tiny XDP program that returns XDP_TX,
//! run in a generator namespace on one pinned CPU. The kernel sends the test frame out of the
//! generator's veth as an xdp_frame, batch after batch, without an skb or a socket: the peer
//! veth (in the PBX namespace) receives it at many Mpps, so the receiving side's cost (XDP,
//! netfilter) is what limits the rate. An AF_PACKET/sendmmsg sender tops out near 1.1 Mpps
//! here whatever the receiver does (see `/work/shared/TOOLCHAIN.md`).
//!
//! The program is built from raw instructions and loaded with bpf(2): no object file, no
//! loader. Two variants: one fixed source, or "spread" sources (the last byte of the IPv4
//! source set at random per frame, the IPv4 ID's low byte moved the other way so that the
//! header checksum stays valid).
//!
//! [`FloodLink`] is the generator's namespace, joined to the PBX namespace by its own veth pair
//! (`gen0` <-> `flood0`); deleted on drop.
use std::{
    net::Ipv4Addr,
    os::fd::{FromRawFd as _, OwnedFd, RawFd},
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

use crate::netns::{ip, run_in};

/// The generator's end of the flood link (in the generator namespace).
pub const GEN_IF: &str = "gen0";
/// The PBX's end of the flood link (in the PBX namespace): the filter under test sits here.
pub const FLOOD_IF: &str = "flood0";
pub const GEN_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
pub const FLOOD_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
pub const FLOOD_V4: &str = "198.51.100.1";
pub const GEN_V4: &str = "198.51.100.2";

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
const XDP_TX: i32 = 3;

/// One eBPF instruction, encoded (code, dst | src << 4, off, imm; little endian).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (dst & 0xf) | (src << 4);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const AND64_IMM: u8 = 0x57;
const ADD64_IMM: u8 = 0x07;
const SUB64_REG: u8 = 0x1f;
const LDX_W: u8 = 0x61;
const STX_B: u8 = 0x73;
const JGT_REG: u8 = 0x2d;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;

/// Frame offsets the spread variant writes (Ethernet 14 + IPv4).
const SRC_LAST_BYTE: i16 = 14 + 15;
const ID_LOW_BYTE: i16 = 14 + 5;

/// The generator's XDP program: `spread` false returns XDP_TX untouched; true gives each
/// frame the source `a.b.c.k` with k random in 0..=255 and the IPv4 ID's low byte 255 - k
/// (the header's byte sum, hence its checksum, unchanged). The frame must be built with the
/// source's last byte 0 and the ID's low byte 255 (k = 0 is the frame as built).
pub fn program(spread: bool) -> Vec<[u8; 8]> {
    if !spread {
        return vec![insn(MOV64_IMM, 0, 0, 0, XDP_TX), insn(EXIT, 0, 0, 0, 0)];
    }
    vec![
        insn(MOV64_REG, 6, 1, 0, 0),                   // r6 = ctx
        insn(CALL, 0, 0, 0, BPF_FUNC_GET_PRANDOM_U32), // r0 = random
        insn(MOV64_REG, 7, 0, 0, 0),                   // r7 = r0
        insn(AND64_IMM, 7, 0, 0, 0xff),                // r7 &= 0xff
        insn(LDX_W, 2, 6, 0, 0),                       // r2 = ctx->data
        insn(LDX_W, 3, 6, 4, 0),                       // r3 = ctx->data_end
        insn(MOV64_REG, 4, 2, 0, 0),                   // r4 = r2
        insn(ADD64_IMM, 4, 0, 0, 42),                  // r4 += 42 (eth + ip + udp)
        insn(JGT_REG, 4, 3, 4, 0),                     // if r4 > r3 goto tx
        insn(STX_B, 2, 7, SRC_LAST_BYTE, 0),           // src[3] = k
        insn(MOV64_IMM, 8, 0, 0, 255),                 // r8 = 255
        insn(SUB64_REG, 8, 7, 0, 0),                   // r8 -= k
        insn(STX_B, 2, 8, ID_LOW_BYTE, 0),             // id low byte = 255 - k
        insn(MOV64_IMM, 0, 0, 0, XDP_TX),              // tx: r0 = XDP_TX
        insn(EXIT, 0, 0, 0, 0),                        // exit
    ]
}

fn sys_bpf(cmd: libc::c_long, attr: &mut [u8]) -> std::io::Result<i64> {
    // SAFETY: `attr` is a zeroed buffer laid out as the kernel's union bpf_attr for `cmd`;
    // every pointer in it points to memory that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Loads [`program`] with BPF_PROG_LOAD; on failure the error carries the verifier's log.
pub fn load(spread: bool) -> anyhow::Result<OwnedFd> {
    let name = if spread {
        &b"sg_flood_spread"[..]
    } else {
        &b"sg_flood_tx"[..]
    };
    load_insns(&program(spread), name)
}

/// Loads an XDP program from raw instructions (`name`: at most 15 bytes).
fn load_insns(program: &[[u8; 8]], name: &[u8]) -> anyhow::Result<OwnedFd> {
    let insns: Vec<u8> = program.concat();
    let license = c"GPL";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_XDP);
    put_u32(&mut attr, 4, (insns.len() / 8) as u32);
    put_u64(&mut attr, 8, insns.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    put_u32(&mut attr, 24, 1); // log_level
    put_u32(&mut attr, 28, log.len() as u32);
    put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    attr[48..48 + name.len().min(15)].copy_from_slice(&name[..name.len().min(15)]); // prog_name
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: a new file descriptor the kernel just returned, owned by nobody else.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) => {
            let name = String::from_utf8_lossy(name);
            let end = log.iter().position(|&c| c == 0).unwrap_or(log.len());
            bail!(
                "BPF_PROG_LOAD of {name}: {e}\nverifier log:\n{}",
                String::from_utf8_lossy(&log[..end])
            )
        }
    }
}

/// The smallest XDP filter there is, `return XDP_DROP`, attached with a BPF link to `iface`
/// in namespace `ns`: the receiving side's floor, and the generator's ceiling. Detached when
/// the returned link is closed. veth counts what it drops (`ethtool -S`: `xdp_drops`).
pub fn attach_xdp_drop(ns: &str, iface: &str) -> anyhow::Result<OwnedFd> {
    use std::os::fd::AsRawFd as _;
    const BPF_LINK_CREATE: libc::c_long = 28;
    const BPF_XDP: u32 = 37;
    const XDP_DROP: i32 = 1;
    crate::netns::in_ns(ns, || -> anyhow::Result<OwnedFd> {
        let prog = load_insns(
            &[insn(MOV64_IMM, 0, 0, 0, XDP_DROP), insn(EXIT, 0, 0, 0, 0)],
            b"sg_xdp_drop",
        )?;
        let ifindex = ifindex(iface)?;
        let mut attr = [0u8; 64];
        put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
        put_u32(&mut attr, 4, ifindex);
        put_u32(&mut attr, 8, BPF_XDP);
        let fd = sys_bpf(BPF_LINK_CREATE, &mut attr)
            .with_context(|| format!("attaching XDP_DROP to {iface} (BPF_LINK_CREATE)"))?;
        // SAFETY: a new file descriptor the kernel just returned, owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    })?
}

/// The index of `iface` in the calling thread's namespace.
pub fn ifindex(iface: &str) -> anyhow::Result<u32> {
    let name = std::ffi::CString::new(iface)?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no interface {iface} here");
    }
    Ok(index)
}

/// One BPF_PROG_TEST_RUN in live-frames mode: `repeat` copies of `frame` sent out of the
/// interface `ifindex` (batches of 64).
fn test_run_live(prog: &OwnedFd, frame: &[u8], ifindex: u32, repeat: u32) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    let ctx: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
    let mut attr = [0u8; 80];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, frame.len() as u32);
    put_u64(&mut attr, 16, frame.as_ptr() as u64);
    put_u32(&mut attr, 32, repeat);
    put_u32(&mut attr, 40, size_of_val(&ctx) as u32);
    put_u64(&mut attr, 48, ctx.as_ptr() as u64);
    put_u32(&mut attr, 64, BPF_F_TEST_XDP_LIVE_FRAMES);
    put_u32(&mut attr, 72, 64); // batch_size
                                // Live frames report no return value (retval stays 0): the program's XDP_TX is what
                                // sends, and the receiver's counters are what count.
    sys_bpf(BPF_PROG_TEST_RUN, &mut attr).context("BPF_PROG_TEST_RUN (live frames)")?;
    Ok(())
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t filled with CPU_SET, passed by pointer with its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error()).context("sched_setaffinity");
        }
    }
    Ok(())
}

/// How the frames are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// BPF_PROG_TEST_RUN live frames on an XDP_TX program: no skb on the sending side.
    LiveFrames,
    /// An AF_PACKET socket (`PACKET_QDISC_BYPASS`) and `sendmmsg` batches of 64: an skb per
    /// frame on the sending side, as a user-space flood tool makes.
    AfPacket,
}

impl Generator {
    pub fn name(self) -> &'static str {
        match self {
            Generator::LiveFrames => "xdp_live_frames",
            Generator::AfPacket => "af_packet_sendmmsg",
        }
    }
}

/// What to send and for how long.
#[derive(Clone, Debug)]
pub struct Flood {
    pub generator: Generator,
    /// The Ethernet frame (dst MAC: the receiving veth's, else the stack drops it as
    /// PACKET_OTHERHOST).
    pub frame: Vec<u8>,
    /// Random last byte of the IPv4 source (see [`program`]).
    pub spread: bool,
    /// Stop after this many frames...
    pub max_frames: u64,
    /// ...or after this long, whichever comes first...
    pub max_time: Duration,
    /// ...and not before this long, unless `stop` is set (then at the first chunk after it
    /// that is past `min_time`).
    pub min_time: Duration,
    /// Frames per BPF_PROG_TEST_RUN call.
    pub chunk: u32,
}

/// What a flood sent.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub frames: u64,
    pub wall: Duration,
}

impl Flood {
    /// Sends from namespace `ns` out of `iface`, on a thread pinned to `cpu`. Sends at least
    /// `min_time`, then stops once `keep_going` is false; never more than `max_frames` or
    /// `max_time`.
    pub fn run(
        &self,
        ns: &str,
        iface: &str,
        cpu: usize,
        keep_going: &AtomicBool,
    ) -> anyhow::Result<Sent> {
        crate::netns::in_ns(ns, || -> anyhow::Result<Sent> {
            pin_to_cpu(cpu)?;
            let ifindex = ifindex(iface).with_context(|| format!("in {ns}"))?;
            if self.generator == Generator::AfPacket {
                return self.run_af_packet(ifindex, keep_going);
            }
            let prog = load(self.spread)?;
            let start = Instant::now();
            let mut frames = 0u64;
            while frames < self.max_frames {
                let elapsed = start.elapsed();
                if elapsed >= self.max_time
                    || (elapsed >= self.min_time && !keep_going.load(Ordering::Relaxed))
                {
                    break;
                }
                let n = (self.max_frames - frames).min(u64::from(self.chunk)) as u32;
                test_run_live(&prog, &self.frame, ifindex, n)?;
                frames += u64::from(n);
            }
            Ok(Sent {
                frames,
                wall: start.elapsed(),
            })
        })?
    }
}

impl Flood {
    /// The frames an AF_PACKET flood cycles through: the frame as built, or with `spread`
    /// the 256 variants the XDP program would make (source `a.b.c.k`, ID low byte `255 - k`).
    fn variants(&self) -> Vec<Vec<u8>> {
        if !self.spread {
            return vec![self.frame.clone()];
        }
        (0..=255u8)
            .map(|k| {
                let mut f = self.frame.clone();
                f[SRC_LAST_BYTE as usize] = k;
                f[ID_LOW_BYTE as usize] = 255 - k;
                f
            })
            .collect()
    }

    fn run_af_packet(&self, ifindex: u32, keep_going: &AtomicBool) -> anyhow::Result<Sent> {
        use std::os::fd::AsRawFd as _;
        const BATCH: usize = 64;
        let sock = af_packet_socket(ifindex)?;
        let frames = self.variants();
        let mut iovs: Vec<libc::iovec> = (0..BATCH)
            .map(|i| {
                let f = &frames[i % frames.len()];
                libc::iovec {
                    iov_base: f.as_ptr() as *mut libc::c_void,
                    iov_len: f.len(),
                }
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
            // SAFETY: mmsghdr is plain data (all-zero is a valid value); each one gets its one
            // iovec below.
            .map(|_| unsafe { std::mem::zeroed::<libc::mmsghdr>() })
            .collect();
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let start = Instant::now();
        let mut sent = 0u64;
        let mut batches = 0u64;
        while sent < self.max_frames {
            // The clock every 256 batches (16k frames).
            if batches.is_multiple_of(256) {
                let elapsed = start.elapsed();
                if elapsed >= self.max_time
                    || (elapsed >= self.min_time && !keep_going.load(Ordering::Relaxed))
                {
                    break;
                }
            }
            batches += 1;
            // SAFETY: `msgs` points into `iovs` and `frames`, all alive for the call.
            let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                // A full device queue: try again.
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    continue;
                }
                return Err(e).context("sendmmsg(AF_PACKET)");
            }
            sent += n as u64;
        }
        Ok(Sent {
            frames: sent,
            wall: start.elapsed(),
        })
    }
}

/// A raw AF_PACKET socket bound to interface `ifindex` of the calling thread's namespace,
/// with `PACKET_QDISC_BYPASS`: what it sends leaves as written, Ethernet header included.
pub fn af_packet_socket(ifindex: u32) -> anyhow::Result<OwnedFd> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket(AF_PACKET)");
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: an int option by pointer with its size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("PACKET_QDISC_BYPASS");
    }
    // SAFETY: a zeroed sockaddr_ll with family and interface set, by pointer and size.
    let r = unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = ifindex as i32;
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("bind(AF_PACKET)");
    }
    Ok(sock)
}

/// An Ethernet + IPv4 + UDP frame with a valid IPv4 header checksum and UDP checksum 0. The
/// IPv4 ID is `ip_id` (for a [`program`] `spread` flood: low byte 255 and a source ending in
/// .0).
pub fn udp_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ip_id: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42 + payload.len());
    f.extend_from_slice(&FLOOD_MAC);
    f.extend_from_slice(&GEN_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + payload.len()) as u16;
    let mut iph = [0u8; 20];
    iph[0] = 0x45;
    iph[2..4].copy_from_slice(&total.to_be_bytes());
    iph[4..6].copy_from_slice(&ip_id.to_be_bytes());
    iph[8] = 64;
    iph[9] = 17;
    iph[12..16].copy_from_slice(&src.octets());
    iph[16..20].copy_from_slice(&dst.octets());
    let sum = crate::wire::inet_checksum(&[&iph]);
    iph[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&iph);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A realistic REGISTER without credentials from `src` (about 450 bytes).
pub fn register_payload(src: Ipv4Addr, pbx: Ipv4Addr) -> Vec<u8> {
    format!(
        "REGISTER sip:{pbx} SIP/2.0\r\n\
Via: SIP/2.0/UDP {src}:5060;branch=z9hG4bK-524287-1---9d0c3e6f;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@{src}:5060;rinstance=5b2c9e7a>\r\n\
To: <sip:1001@{pbx}>\r\n\
From: <sip:1001@{pbx}>;tag=4c8e1f0a\r\n\
Call-ID: ZjE3YjY4OTQ1ZDI4YzE0MmE5NmQ0ZWYx\r\n\
CSeq: 1 REGISTER\r\n\
Expires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A generator namespace joined to `pbx_ns` by veth `gen0` <-> `flood0` (198.51.100.2 and
/// .1, fixed MACs), with reverse-path filtering off in the PBX namespace (the floods' sources
/// are not routed via flood0) and GRO on `flood0` (veth delivers XDP_TX frames to a peer
/// only when it runs NAPI: GRO on or an XDP program attached). Deleted on drop.
pub struct FloodLink {
    pub gen: String,
    pub pbx: String,
}

impl FloodLink {
    pub fn new(pbx_ns: &str) -> anyhow::Result<Self> {
        let link = Self {
            gen: format!("{}-gen", crate::unique("sgt-")),
            pbx: pbx_ns.to_owned(),
        };
        ip(&["netns", "add", &link.gen])?;
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        ip(&[
            "-n",
            &link.gen,
            "link",
            "add",
            GEN_IF,
            "address",
            &mac(GEN_MAC),
            "type",
            "veth",
            "peer",
            "name",
            FLOOD_IF,
            "address",
            &mac(FLOOD_MAC),
            "netns",
            &link.pbx,
        ])?;
        ip(&[
            "-n",
            &link.gen,
            "addr",
            "add",
            &format!("{GEN_V4}/24"),
            "dev",
            GEN_IF,
        ])?;
        ip(&[
            "-n",
            &link.pbx,
            "addr",
            "add",
            &format!("{FLOOD_V4}/24"),
            "dev",
            FLOOD_IF,
        ])?;
        for key in ["all", "default", FLOOD_IF] {
            link.sysctl(&format!("net.ipv4.conf.{key}.rp_filter=0"))?;
        }
        ip(&["-n", &link.gen, "link", "set", "lo", "up"])?;
        ip(&["-n", &link.gen, "link", "set", GEN_IF, "up"])?;
        ip(&["-n", &link.pbx, "link", "set", FLOOD_IF, "up"])?;
        link.pbx_tool("ethtool", &["-K", FLOOD_IF, "gro", "on"])?;
        Ok(link)
    }

    fn sysctl(&self, setting: &str) -> anyhow::Result<()> {
        self.pbx_tool("sysctl", &["-q", "-w", setting]).map(drop)
    }

    /// Runs `program args` in the PBX namespace, failing with its stderr.
    pub fn pbx_tool(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        run_in(&self.pbx, program, args, None)
    }
}

impl Drop for FloodLink {
    fn drop(&mut self) {
        // Deleting the namespace deletes gen0 and with it its peer flood0.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.gen])
            .output();
    }
}

/// One CPU's times from /proc/stat, in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
    pub softirq: f64,
    pub irq: f64,
}

impl CpuTimes {
    /// The `cpuN` line of /proc/stat.
    pub fn read(cpu: usize) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string("/proc/stat")?;
        let tag = format!("cpu{cpu}");
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(tag.as_str()))
            .with_context(|| format!("no {tag} in /proc/stat"))?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse::<f64>().unwrap_or(0.0) / hz)
            .collect();
        anyhow::ensure!(v.len() >= 7, "short {tag} line: {line}");
        Ok(Self {
            user: v[0] + v[1],
            system: v[2],
            irq: v[5],
            softirq: v[6],
        })
    }

    pub fn since(&self, before: &Self) -> Self {
        Self {
            user: self.user - before.user,
            system: self.system - before.system,
            irq: self.irq - before.irq,
            softirq: self.softirq - before.softirq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_checksum_survives_the_spread() {
        let mut f = udp_frame(
            "203.0.113.0".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            40000,
            5060,
            0x12ff,
            &[0x41; 100],
        );
        let check = |f: &[u8]| {
            let mut sum: u32 = f[14..34]
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                .sum();
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            sum == 0xffff
        };
        assert!(check(&f));
        for k in [1u8, 77, 254, 255] {
            f[SRC_LAST_BYTE as usize] = k;
            f[ID_LOW_BYTE as usize] = 255 - k;
            assert!(check(&f), "k = {k}");
        }
        assert_eq!(program(true).len(), 15);
    }
}
