"""The DCI (Digital Convergence Initiative) social-protection interoperability API,
mounted under /dci: so far the OAuth2 client-credentials token endpoint; the registry
search, subscription and IBR endpoints follow (#7)."""
