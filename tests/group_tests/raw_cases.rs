//! Byte-level group protocol cases with the raw client.
