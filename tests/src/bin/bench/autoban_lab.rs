//! Auto-ban's reaction, measured in the lab (`sipguard_tests::voip`): Kamailio with digest
//! auth, the real `sipguard` daemon with its built-in default on the PBX's interface, and a
//! guesser in the attacker's namespace.
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use sipguard_tests::{
    daemon::Daemon,
    guesser::{Exchange, Guesser},
    voip::{VoipLab, ATTACKER, PBX, PBX_IF},
};

/// `autoban_lab.json`.
#[derive(Serialize)]
pub struct AutobanLab {
    benchmark: &'static str,
    policy: &'static str,
    trials: Vec<Trial>,
    median_last_answer_to_first_drop_us: f64,
    burst: Burst,
}

/// One lock-step trial.
#[derive(Serialize)]
struct Trial {
    trial: usize,
    answered: usize,
    wrong_passwords_answered: usize,
    last_answer_to_first_drop_us: f64,
    attack_ms: f64,
}

/// The pipelined burst.
#[derive(Serialize)]
struct Burst {
    sent: usize,
    reached_kamailio: usize,
    answered: usize,
    ban_reason: String,
}

pub fn run(trials: usize) -> anyhow::Result<AutobanLab> {
    let mut lab = VoipLab::new().context("building the lab")?;
    lab.start_kamailio()?;
    let daemon = Daemon::start(&lab.pbx, PBX_IF, 9690, &[])?;
    let guesser = Guesser {
        ns: lab.attacker.clone(),
        src: ATTACKER.parse()?,
        pbx: format!("{PBX}:5060").parse()?,
        user: "1001".into(),
        password: "wrong".into(),
        silence: Duration::from_millis(300),
    };
    println!(
        "\nauto-ban in the lab: Kamailio with digest auth, sipguard's built-in default \
         (failures = 5, attempts = 10), a guesser sending each wrong password the moment \
         the previous answer arrives"
    );
    println!(
        "{:<6} {:>10} {:>16} {:>22} {:>16}",
        "trial", "answered", "wrong_passwords", "last_answer_to_drop_us", "attack_ms"
    );
    let mut rows = Vec::new();
    let mut gaps = Vec::new();
    for trial in 1..=trials {
        let run = guesser.lock_step(50)?;
        let answered: Vec<&Exchange> = run.iter().filter(|e| e.answer.is_some()).collect();
        let (Some(last_answer), Some(first_drop)) = (
            answered.last().and_then(|e| e.answer),
            run.last().filter(|e| e.answer.is_none()),
        ) else {
            anyhow::bail!("trial {trial}: the guesser was never cut off: {run:?}");
        };
        let gap = first_drop.sent - last_answer.1;
        let attack = first_drop.sent - run[0].sent;
        let wrong = answered.iter().filter(|e| e.with_credentials).count();
        println!(
            "{:<6} {:>10} {:>16} {:>22.1} {:>16.2}",
            trial,
            answered.len(),
            wrong,
            gap.as_secs_f64() * 1e6,
            attack.as_secs_f64() * 1e3
        );
        gaps.push(gap.as_secs_f64() * 1e6);
        rows.push(Trial {
            trial,
            answered: answered.len(),
            wrong_passwords_answered: wrong,
            last_answer_to_first_drop_us: gap.as_secs_f64() * 1e6,
            attack_ms: attack.as_secs_f64() * 1e3,
        });
        unban(&daemon)?;
    }
    gaps.sort_by(f64::total_cmp);
    // Pipelined: 50 wrong passwords back to back, without waiting for answers.
    let before = lab.kamailio_count("AUTHFAIL", ATTACKER);
    let burst = guesser.burst(50)?;
    std::thread::sleep(Duration::from_millis(300));
    let reached = lab.kamailio_count("AUTHFAIL", ATTACKER) - before;
    let answered = burst.iter().filter(|e| e.answer.is_some()).count();
    let bans = daemon.cli(&["bans", "--json"])?;
    let bans: serde_json::Value = serde_json::from_slice(&bans.stdout)?;
    let reason = bans[0]["reason"].as_str().unwrap_or("none").to_owned();
    println!(
        "median last answer -> first dropped request: {:.1} us (min {:.1}, max {:.1})",
        gaps[gaps.len() / 2],
        gaps[0],
        gaps[gaps.len() - 1]
    );
    println!(
        "burst of 50 wrong passwords back to back: {reached} reached Kamailio, \
         {answered} answered, banned for {reason}"
    );
    unban(&daemon)?;
    Ok(AutobanLab {
        benchmark: "autoban_lab",
        policy: "built-in default (failures = 5, attempts = 10, window 60s)",
        trials: rows,
        median_last_answer_to_first_drop_us: gaps[gaps.len() / 2],
        burst: Burst {
            sent: 50,
            reached_kamailio: reached,
            answered,
            ban_reason: reason,
        },
    })
}

fn unban(daemon: &Daemon) -> anyhow::Result<()> {
    let out = daemon.cli(&["unban", ATTACKER])?;
    anyhow::ensure!(
        out.status.success(),
        "unban: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
