#![no_main]
//! See `mailstack_fuzz::mime`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::mime(data));
