//! Will embed the project's YANG modules (NHRP, DMVPN tunnel) and the IETF
//! modules they import, so nothing is searched on the file system at run time.
#![forbid(unsafe_code)]
