//! Frequency counters (HAProxy's `freq_ctr.c`).
