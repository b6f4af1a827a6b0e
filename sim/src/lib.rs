//! `sluice-sim`: a deterministic discrete-event world that runs many Sluice
//! engines over a simulated network, driven by one seeded PRNG.
