#![no_main]
//! See `mailstack_fuzz::smtp_session`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::smtp_session(data));
