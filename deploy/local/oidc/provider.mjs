// A real OpenID Connect provider (npm `oidc-provider`) with test users, for the local stack
// and the tests only: `deploy/local/oidc.py` writes its configuration and starts it.
//
//   node provider.mjs <config.json>
//
// The configuration names the issuer, the port, the clients (the desk console: authorization
// code with PKCE; the pickup site: authorization code, confidential) and the test users, each
// with a password, its claims (roles for support staff; family name, given names and birth
// date for recipients) and the assurance level it signs in at (`acr`: eIDAS levels as
// FranceConnect+ names them, eidas1 low, eidas2 substantial, eidas3 high).
//
// Sign-in is a plain form (user name and password); consent is given at once: the clients are
// the platform's own. Sessions and codes live in memory: a restart signs everyone out.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const API_RESOURCE = `urn:lre:${config.api_audience}`;
const users = new Map(config.users.map((user) => [user.username, user]));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'family_name', 'given_name', 'birthdate', 'preferred_username'],
    email: ['email', 'email_verified'],
    roles: [config.roles_claim],
  },
  conformIdTokenClaims: false, // the claims asked by scope go in the ID token too
  scopes: ['openid', 'profile', 'email', 'roles'],
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    // Access tokens for the platform's APIs are JWTs the API checks against this provider's
    // keys (issuer, audience, roles), as with the operator's own provider.
    resourceIndicators: {
      enabled: true,
      // A resource indicator is an absolute URI; the token's audience is the API's name.
      defaultResource: () => API_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== API_RESOURCE) throw new errors.InvalidTarget(`unknown resource ${resource}`);
        return {
          scope: 'openid profile roles',
          audience: config.api_audience,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
        };
      },
    },
  },
  // The roles claim goes in the API's access tokens too: the API reads roles from them.
  async extraTokenClaims(_ctx, token) {
    const user = [...users.values()].find((candidate) => candidate.sub === token.accountId);
    return user?.claims?.[config.roles_claim] ? { [config.roles_claim]: user.claims[config.roles_claim] } : undefined;
  },
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 8 * 3600,
    Grant: 8 * 3600,
  },
  async findAccount(_ctx, sub) {
    const user = [...users.values()].find((candidate) => candidate.sub === sub);
    if (user === undefined) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...user.claims }) };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = true;

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid, message) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (test identity provider)</title></head>
<body>
<main>
<h1>Sign in</h1>
<p>Test identity provider of the local platform: test users only.</p>
${message ? `<p role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="username">User name</label> <input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>
</body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// The sign-in form's submission ends in a redirect to the client (the desk console, the pickup
// site, each on its own origin): browsers apply form-action to every redirect of a form's
// submission, so the clients' origins are named beside 'self'.
const formTargets = [
  ...new Set(config.clients.flatMap((client) => client.redirect_uris.map((uri) => new URL(uri).origin))),
].join(' ');

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; form-action 'self' ${formTargets}; frame-ancestors 'none'`,
  });
  res.end(html);
}

async function consent(req, res, details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res) {
  const [, , uid, action] = new URL(req.url, config.issuer).pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'unknown sign-in');
  if (req.method === 'GET' && details.prompt.name === 'login') return send(res, 200, page(uid));
  if (req.method === 'GET' && details.prompt.name === 'consent') return consent(req, res, details);
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const user = users.get(form.get('username') ?? '');
    if (user === undefined || user.password !== form.get('password')) {
      return send(res, 401, page(uid, 'Unknown user name or wrong password.'));
    }
    const login = { accountId: user.sub, acr: user.acr, amr: ['pwd'] };
    return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, 'not allowed');
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      console.error(error);
      if (!res.headersSent) send(res, 400, escape(error.message));
    });
  } else {
    callback(req, res);
  }
});
server.listen(config.port, config.host, () => console.log(`oidc provider on ${config.issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
