"""Wire formats both ends of an agency's protocol speak: BPJS VClaim's encrypted and
LZ-compressed answers, and the HMAC signature on webhooks and callbacks. Not domain
rules (they decide nothing about people), and pure, so that the agency simulators can
speak them too without reaching into the hub."""
