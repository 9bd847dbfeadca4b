#![no_main]
//! See `mailstack_fuzz::pop3_command`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::pop3_command(data));
