//! Library target so the user-space crate can declare a build-dependency on this crate
//! (aya-template's pattern); the program itself is the `sipguard` binary target.
#![no_std]
