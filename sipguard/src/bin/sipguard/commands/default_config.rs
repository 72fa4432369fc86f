//! `sipguard default-config`: the built-in default policy, a starting point for a file.
use sipguard::config::DEFAULT_CONFIG;

pub fn run() -> anyhow::Result<()> {
    print!("{DEFAULT_CONFIG}");
    Ok(())
}
