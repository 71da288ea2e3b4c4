// Runs graphql-http's GraphQL-over-HTTP server audits against a live URL and prints
// one JSON line per audit: {id, name, status, reason}. The Python test asserts on it.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
// The hub answers only authenticated requests: every audit request carries the key.
const authorization = process.env.AUDIT_AUTHORIZATION;
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (authorization) headers.set('authorization', authorization);
  return fetch(input, { ...init, headers });
};
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
