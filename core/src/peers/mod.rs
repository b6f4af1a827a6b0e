//! The peers protocol (HAProxy's `peers.c`).
