// Stripe's own verdict on each Stripe-Signature header of a corpus, for the
// differential test (tests/it/stripe_verdicts.rs). Reads JSON from stdin:
//   {"tolerance": 300, "cases": [{"header": "...", "body": "...", "secrets": ["whsec_..."], "now": 1700000000}]}
// and prints a JSON array of booleans: whether stripe.webhooks.signature.verifyHeader
// accepts the header with any of the case's secrets at `now` (Unix seconds).
'use strict';

const Stripe = require('stripe');

function accepts(c, tolerance) {
  const body = Buffer.from(c.body, 'utf8');
  return c.secrets.some((secret) => {
    try {
      return Stripe.webhooks.signature.verifyHeader(body, c.header, secret, tolerance, undefined, c.now * 1000) === true;
    } catch (_) {
      return false;
    }
  });
}

const chunks = [];
process.stdin.on('data', (d) => chunks.push(d));
process.stdin.on('end', () => {
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  process.stdout.write(JSON.stringify(input.cases.map((c) => accepts(c, input.tolerance))));
});
