#![no_main]
//! See `mailstack_fuzz::sieve_parse`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::sieve_parse(data));
