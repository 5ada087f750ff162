// A real OAuth 2.0 / OIDC authorization server for regauth's OIDC tests (oidc-provider).
//
//   node server.mjs PORT        (or IDP_PORT=PORT node server.mjs)
//
// Issuer http://127.0.0.1:PORT. Clients (grant: client_credentials, auth: client_secret_basic):
//   ci-runner   / ci-runner-secret     plain or DPoP-bound tokens (send a DPoP header)
//   mtls-runner / mtls-runner-secret   certificate-bound tokens (cnf.x5t#S256); the "client
//                                      certificate" is taken from the x-test-client-cert header
//                                      (base64 DER), since this test server speaks plain HTTP.
//   regauth-ui  / regauth-ui-secret    authorization code flow with PKCE for the web UI's
//                                      "Sign in with …": a native client, so any port of the
//                                      loopback redirect http://127.0.0.1/ui/oidc/callback works
//                                      (RFC 8252 §7.3). The login page (devInteractions) takes any
//                                      name and password; the ID token carries
//                                      preferred_username = that name and groups (["idp-admins"]
//                                      for names starting with "admin", else ["ci"]). Consent is
//                                      granted without asking.
// Resource indicators (RFC 8707) → JWT access tokens signed ES256:
//   urn:regauth:registry → aud "regauth"        (the default resource)
//   urn:other            → aud "other-service"
// Scopes: registry.token.issue pull push. Every token also carries groups (array),
// roles (array) and a Zitadel-style role object, for the scope_claim tests.
//
// Key rotation: POST /admin/rotate with "authorization: Bearer $IDP_ADMIN_TOKEN" generates a
// new signing key; the JWKS then publishes [new, previous] and new tokens carry the new kid.
// The answer is {"kid": "<new kid>"}. Without IDP_ADMIN_TOKEN the endpoint is disabled.
import { generateKeyPairSync, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.IDP_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const adminToken = process.env.IDP_ADMIN_TOKEN ?? '';

const SCOPES = 'registry.token.issue pull push';
const resources = {
  'urn:regauth:registry': { audience: 'regauth' },
  'urn:other': { audience: 'other-service' },
};

function newKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: `idp-${randomUUID()}`, alg: 'ES256', use: 'sig' };
}

function makeProvider(keys) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'ci-runner',
        client_secret: 'ci-runner-secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
      {
        client_id: 'regauth-ui',
        client_secret: 'regauth-ui-secret',
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/ui/oidc/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'mtls-runner',
        client_secret: 'mtls-runner-secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        tls_client_certificate_bound_access_tokens: true,
      },
    ],
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
    conformIdTokenClaims: false,
    findAccount: (ctx, sub) => ({
      accountId: sub,
      claims: () => ({
        sub,
        preferred_username: sub,
        groups: sub.startsWith('admin') ? ['idp-admins'] : ['ci'],
      }),
    }),
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      const existing = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      if (client.clientId !== 'regauth-ui') return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
    jwks: { keys },
    scopes: SCOPES.split(' '),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx) => ctx.get('x-test-client-cert') || undefined,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:regauth:registry',
        getResourceServerInfo: (ctx, indicator) => {
          const resource = resources[indicator];
          if (!resource) throw new errors.InvalidTarget();
          return {
            ...resource,
            scope: SCOPES,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    extraTokenClaims: () => ({
      groups: ['ci', 'team-a'],
      roles: ['registry.token.issue', 'pull'],
      'urn:zitadel:iam:org:project:roles': { 'registry.token.issue': {}, push: {} },
    }),
  });
  return provider;
}

let keys = [newKey()];
let handler = makeProvider(keys).callback();

function authorized(req) {
  const given = Buffer.from(req.headers.authorization ?? '');
  const wanted = Buffer.from(`Bearer ${adminToken}`);
  return adminToken !== '' && given.length === wanted.length && timingSafeEqual(given, wanted);
}

const server = createServer((req, res) => {
  if (req.url === '/admin/rotate' && req.method === 'POST') {
    if (!authorized(req)) {
      res.writeHead(403).end();
      return;
    }
    keys = [newKey(), keys[0]];
    handler = makeProvider(keys).callback();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  handler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ issuer, kid: keys[0].kid }));
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
