//! The library's error type at the crate boundary: one variant per layer, each that layer's
//! own error (see the crate doc), the way aya's `EbpfError` wraps its `MapError` and
//! `ProgramError`. Displays are the layer errors' own.
use crate::{
    config::ConfigError, control::ControlError, dataplane::DataplaneError, host::HostError,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error(transparent)]
    Host(#[from] HostError),

    #[error(transparent)]
    Dataplane(#[from] DataplaneError),

    #[error(transparent)]
    Control(#[from] ControlError),
}
