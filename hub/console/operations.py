"""The GraphQL documents the console's pages run. Each is an ordinary operation any
client with the same role could send: the console has no private door to the data."""

PERSON_FIELDS = """
fragment ConsolePerson on Person {
  id nik name sex birthDate birthPlace relation alive deathDate
  household { kk villageCode desil }
}
"""

FIND_BY_NIK = PERSON_FIELDS + """
query ConsoleFindByNik($nik: String!) { person(nik: $nik) { ...ConsolePerson } }
"""

FIND_BY_NAME = PERSON_FIELDS + """
query ConsoleFindByName($name: String!, $region: String!) {
  searchPersons(name: $name, region: $region, first: 25) { ...ConsolePerson }
}
"""

HOUSEHOLD = """
query ConsoleHousehold($kk: String!) {
  household(kk: $kk) {
    id kk villageCode address desil
    village { code name parent { name parent { name } } }
    members {
      id nik name sex birthDate relation alive deathDate
      enrollments { program status cardNumber periodEnd source }
    }
  }
}
"""

# A village's open findings (a village holds a few hundred households at most); the
# household card keeps its members'.
VILLAGE_FINDINGS = """
query ConsoleVillageFindings($region: String!) {
  findings(region: $region, status: OPEN, first: 500) {
    edges { node { id kind ownerAgency createdAt person { nik name } } }
  }
}
"""

CASE_FIELDS = """
fragment ConsoleCase on ServiceCase {
  id ticket kind category channel urgency description status nik name regionCode
  inDtks homeVisit registeredBy officer createdAt firstResponseDue firstResponseAt
  closedAt resolution overdue
}
"""

REFERRAL_FIELDS = """
fragment ConsoleReferral on Referral {
  id service agency status notes dueAt createdAt referredAt settledAt escalatedAt
  verificationCode regionCode overdue
}
"""

CASE = CASE_FIELDS + REFERRAL_FIELDS + """
query ConsoleCase($ticket: String!) {
  serviceCase(ticket: $ticket) {
    ...ConsoleCase
    person { nik name household { kk } }
    referrals { ...ConsoleReferral history { fromStatus toStatus actor officer reason at } }
  }
  deskServices { code name agency slaHours }
}
"""

REGISTER_CASE = CASE_FIELDS + """
mutation ConsoleRegisterCase($case: CaseInput!) { registerCase(case: $case) { ...ConsoleCase } }
"""

QUEUE = CASE_FIELDS + """
query ConsoleQueue($region: String) {
  open: serviceCases(status: "OPEN", region: $region, first: 200) {
    edges { node { ...ConsoleCase } }
  }
  inProgress: serviceCases(status: "IN_PROGRESS", region: $region, first: 200) {
    edges { node { ...ConsoleCase } }
  }
}
"""

RECOMMEND = """
mutation ConsoleRecommend($caseId: ID!, $service: String!, $notes: String) {
  recommendReferral(caseId: $caseId, service: $service, notes: $notes) { id }
}
"""

CLOSE_CASE = """
mutation ConsoleCloseCase($id: ID!, $resolution: String!) {
  closeCase(id: $id, resolution: $resolution) { id }
}
"""

REFERRALS = CASE_FIELDS + REFERRAL_FIELDS + """
query ConsoleReferrals($status: ReferralStatus, $agency: String) {
  referrals(status: $status, agency: $agency, first: 200) {
    edges { node { ...ConsoleReferral case { ...ConsoleCase } } }
  }
}
"""

AGENCY_REFERRALS = REFERRAL_FIELDS + """
query ConsoleAgencyReferrals($status: ReferralStatus) {
  referrals(status: $status, first: 200) {
    edges { node { ...ConsoleReferral case { ticket category urgency description } } }
  }
}
"""

# One mutation per workflow step; the step's reason or notes go in $text.
STEPS = {
    "approve": "mutation ConsoleApprove($id: ID!) { approveReferral(id: $id) { id status } }",
    "return": "mutation ConsoleReturn($id: ID!, $text: String!) "
              "{ returnReferral(id: $id, reason: $text) { id status } }",
    "resubmit": "mutation ConsoleResubmit($id: ID!, $text: String) "
                "{ resubmitReferral(id: $id, notes: $text) { id status } }",
    "accept": "mutation ConsoleAccept($id: ID!) { acceptReferral(id: $id) { id status } }",
    "reject": "mutation ConsoleReject($id: ID!, $text: String!) "
              "{ rejectReferral(id: $id, reason: $text) { id status } }",
    "fulfill": "mutation ConsoleFulfill($id: ID!, $text: String) "
               "{ fulfillReferral(id: $id, notes: $text) { id status } }",
}
