//! GRE (RFC 2784, RFC 2890). Filled by the GRE codec change.
