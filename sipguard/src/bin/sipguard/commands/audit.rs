//! `sipguard audit`: the PBX configuration checker, with its own report and exit code.
use std::process::ExitCode;

use crate::args::AuditArgs;

pub fn run(args: AuditArgs) -> ExitCode {
    let opts = sipguard::audit::Options {
        root: args.root,
        config: args.config,
        pin_path: args.pin_path,
        sockets: !args.no_sockets,
    };
    ExitCode::from(sipguard::audit::run(&opts, args.json))
}
