// Runs the security guide's own webhook check so the Go tests can prove that
// webhooksig.Sign produces what a merchant following the guide accepts.
//
// Input: one JSON object on stdin,
//   {"payload_base64": "...", "signature": "<hex>", "secret": "whsec_..."}
// (stdin rather than argv keeps the secret out of the process list).
// Output: "true" and exit 0 when accepted; "false" and exit 1 when rejected,
// including when the guide's function throws (crypto.timingSafeEqual throws
// if the two buffers differ in length); exit 2 when the input is unusable.

// The function below is copied verbatim from the security guide, section
// "HMAC Signature Verification". Do not edit its body: the point of the test
// is that the guide's code, unchanged, accepts the gateway's signatures.
const crypto = require('crypto');
function verifyWebhookSignature(payload, signature, secret) {
const expectedSignature = crypto
.createHmac('sha256', secret)
.update(payload, 'utf8')
.digest('hex');
// Use constant-time comparison to prevent timing attacks
return crypto.timingSafeEqual(
Buffer.from(signature, 'hex'),
Buffer.from(expectedSignature, 'hex')
);
}
// End of the copy from the security guide.

function main() {
  let input;
  try {
    input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  } catch (e) {
    process.stderr.write('bad input: ' + e.message + '\n');
    process.exit(2);
  }
  // The guide's .update(payload, 'utf8') implies the raw body as a string,
  // as a merchant's framework hands it over; decode the bytes as UTF-8.
  const payload = Buffer.from(input.payload_base64, 'base64').toString('utf8');
  let ok;
  try {
    ok = verifyWebhookSignature(payload, input.signature, input.secret);
  } catch (e) {
    process.stderr.write('threw (treated as rejection): ' + e.message + '\n');
    ok = false;
  }
  process.stdout.write(ok ? 'true\n' : 'false\n');
  process.exit(ok ? 0 : 1);
}

main();
