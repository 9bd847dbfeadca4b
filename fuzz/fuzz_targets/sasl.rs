#![no_main]
//! See `mailstack_fuzz::sasl`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::sasl(data));
