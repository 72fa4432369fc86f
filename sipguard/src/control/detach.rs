//! `sipguard detach`: the filter off an interface, and when no other interface uses them,
//! its pinned maps (with their bans and counters) and the applied-policy record.
//!
//! Refused while a daemon holds the pin directory: the daemon would go on writing into maps
//! about to be removed, and its exit leaves the filter attached anyway.
use std::path::Path;

use super::{applied, ControlError, Refusal};
use crate::dataplane::{attach, pin_dir, DataplaneError};

/// Removes the links pinned for `iface` (the programs leave the interface) and, when no other
/// interface's link is left, the pinned maps and their directory. Returns what was removed.
pub fn detach(pin_dir: &Path, iface: &str) -> Result<Vec<String>, ControlError> {
    if !pin_dir.exists() {
        return Err(Refusal::NothingToDetach {
            dir: pin_dir.to_owned(),
        }
        .into());
    }
    let lock = pin_dir::lock(pin_dir).map_err(|e| match e {
        DataplaneError::AlreadyRunning { dir } => Refusal::DaemonRunning { dir }.into(),
        other => ControlError::from(other),
    })?;
    let mut removed = attach::detach(pin_dir, iface)?;
    if removed.is_empty() {
        return Err(Refusal::NotAttached {
            iface: iface.to_owned(),
            dir: pin_dir.to_owned(),
        }
        .into());
    }
    if !pin_dir::has_links(pin_dir)? {
        drop(lock);
        pin_dir::remove(pin_dir)?;
        applied::forget(pin_dir);
        removed.push(format!("{} (maps, bans, counters)", pin_dir.display()));
    }
    Ok(removed)
}
