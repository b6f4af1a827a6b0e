#![no_main]
//! Arbitrary bytes as TLS records into the engine's TLS listeners (and its
//! TLS client), with ring's provider as `proxy-mio` hands it in.
use std::sync::{Arc, OnceLock};

static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    #[allow(deprecated)] // ring lacks post-quantum kx only
    let p = PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()));
    sluice_core::fuzzing::engine_tls(data, p.clone())
});
