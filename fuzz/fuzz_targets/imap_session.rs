#![no_main]
//! See `mailstack_fuzz::imap_session`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mailstack_fuzz::imap_session(data));
