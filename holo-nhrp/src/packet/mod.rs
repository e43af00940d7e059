//! NHRP wire codec (RFC 2332, 5).
