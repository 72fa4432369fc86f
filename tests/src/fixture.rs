//! The one way a privileged test starts: [`bpf_test!`](crate::bpf_test) for "the program
//! loaded with this policy" (BPF_PROG_TEST_RUN), [`privileged_test!`](crate::privileged_test)
//! for tests that need root for anything else (namespaces, the daemon, real tools). Both take
//! the test's name from the code, so the skip note can't name another test, and both apply
//! the one skip policy of [`privileged`]: without root a note and a pass, under CI a failure.
/// Whether privileged tests can run here. Root: yes. Not root: they are skipped with a note,
/// except under CI (`CI` set), where a privileged test that cannot run is a failure.
pub fn privileged(test: &str) -> bool {
    if sipguard::host::is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (BPF, XDP, network namespaces) and CI must run it");
    }
    eprintln!("skipping {test}: needs root (run `sudo -E cargo xtask test`)");
    false
}

/// A BPF_PROG_TEST_RUN test: `fn name(h = POLICY) { body }` is a `#[test]` that is skipped
/// (see [`privileged`]) without root, and otherwise runs `body` with `h`, a
/// [`Harness`](crate::harness::Harness) on the binary's shared programs with every map reset
/// and `POLICY` (TOML, any `&str` expression) applied.
///
/// ```ignore
/// bpf_test! {
///     /// Doc comments and attributes go inside.
///     fn allowed_source_passes(h = CRAFTED) {
///         assert_eq!(h.run(&udp("192.0.2.10", 5060)), XDP_PASS);
///     }
/// }
/// ```
#[macro_export]
macro_rules! bpf_test {
    ($(#[$meta:meta])* fn $name:ident($h:ident = $policy:expr) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            if !$crate::privileged(stringify!($name)) {
                return;
            }
            #[allow(unused_mut, reason = "most tests never change the harness's maps")]
            let mut $h = $crate::harness::Harness::with_config($policy);
            $body
        }
    };
}

/// A test that needs root but not the shared programs (network namespaces, the daemon, real
/// tools): `fn name() { body }` is a `#[test]` skipped like [`bpf_test!`](crate::bpf_test).
#[macro_export]
macro_rules! privileged_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            if !$crate::privileged(stringify!($name)) {
                return;
            }
            $body
        }
    };
}
