#![no_main]
//! See `mailstack_fuzz::imap_command`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::imap_command(data));
