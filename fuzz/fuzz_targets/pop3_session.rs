#![no_main]
//! See `mailstack_fuzz::pop3_session`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::pop3_session(data));
