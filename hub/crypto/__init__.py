"""Keys, JOSE and message signatures: neutral ground that the access layer (tokens),
the DCI interface (signed messages) and the DCI client connector all use, so that none
of them has to import another."""
