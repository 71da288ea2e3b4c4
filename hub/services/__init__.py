"""The SLRT service desk: eligibility checks now; complaints and referrals next."""
