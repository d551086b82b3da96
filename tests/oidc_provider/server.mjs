// A real OpenID provider (panva/oidc-provider, OpenID Certified) for Shipyard's
// tests and for local development. Everything it knows comes from the JSON file
// named on the command line, written by tests/fixtures/oidc.py:
//
//   node server.mjs /path/to/config.json
//
// {
//   "issuer": "http://127.0.0.1:9400",   // what discovery and tokens say
//   "host": "127.0.0.1", "port": 9400,     // where this process listens
//   "clients": [ { client_id, client_secret, redirect_uris, ... } ],
//   "jwks": { "keys": [ <private RS256 JWK with kid> ] },
//   "cookie_keys": [ "<random>" ],
//   "behind_proxy": false,                 // trust X-Forwarded-Proto/-Host (a reverse proxy in front)
//   "accounts": [ { sub, email, email_verified, name, given_name, family_name,
//                   provider, name_only_on_first_login?, password? } ]
// }
//
// The interaction pages (login, consent, cancel) are our own, minimal and
// stable, so an HTTP client or a browser can drive them: see README.md.
//
// An issuer with a path (https://example.com/auth) serves every route under
// that path, as behind a proxy that routes /auth/* here. Without "jwks" or
// "cookie_keys" the provider makes its own at start, kept in memory only.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write('usage: node server.mjs CONFIG.json\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const mountPath = new URL(config.issuer).pathname.replace(/\/$/, '');
const jwks = config.jwks ?? {
  keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' }],
};
const cookieKeys = config.cookie_keys ?? [randomBytes(32).toString('base64url')];

const accounts = new Map(config.accounts.map((account) => [account.sub, account]));
// Logins through the form, per account: Apple sends the name only on the first.
const loginCounts = new Map();
const NAME_CLAIMS = ['name', 'given_name', 'family_name'];

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 2rem auto">
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

async function findAccount(ctx, sub) {
  const account = accounts.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    async claims() {
      const claims = {
        sub,
        email: account.email,
        email_verified: account.email_verified,
        shipyard_source: account.provider,
      };
      const firstLogin = (loginCounts.get(sub) ?? 0) <= 1;
      if (!account.name_only_on_first_login || firstLogin) {
        for (const key of NAME_CLAIMS) claims[key] = account[key];
      }
      // Absent, not null: Apple simply leaves the claims out on later logins.
      return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined && value !== null));
    },
  };
}

// Consent is implied for the requested OpenID scopes and claims (first-party
// client), except when the client asks for it with prompt=consent: that shows a
// one-button consent page.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== oidc.session.accountId) {
    grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
  }
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  const claims = [...(oidc.requestParamClaims ?? [])];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks,
  cookies: {
    keys: cookieKeys,
    // Cookies ignore ports: on 127.0.0.1 the app's cookies and ours share a jar,
    // so ours carry a prefix no app would pick.
    names: { session: '_idp_session', interaction: '_idp_interaction', resume: '_idp_interaction_resume' },
  },
  findAccount,
  loadExistingGrant,
  interactions: { url: (ctx, interaction) => `${mountPath}/interaction/${interaction.uid}` },
  // Scope-granted claims go into the ID token too, as Authentik does.
  conformIdTokenClaims: false,
  claims: {
    // shipyard_source names the upstream social provider; in production an
    // Authentik scope mapping adds it (see deploy/authentik/).
    openid: ['sub', 'shipyard_source'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  pkce: { required: () => true }, // oidc-provider 9 supports S256 only
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page(
          'Sign out',
          `${form}<p>Sign out of the test identity provider?</p>
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`,
        );
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You are signed out of the test identity provider.</p>');
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page(
      'Error',
      Object.entries(out).map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: <code>${escapeHtml(value)}</code></p>`).join('\n'),
    );
  },
});

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginPage(uid, client, error) {
  const known = [...accounts.values()]
    .map((a) => `<li><code>${escapeHtml(a.sub)}</code> ${escapeHtml(a.email)}${a.email_verified ? '' : ' (unverified)'} via ${escapeHtml(a.provider ?? 'idp')}</li>`)
    .join('\n');
  return page(
    'Sign in',
    `<p>to <strong>${escapeHtml(client?.clientName ?? client?.clientId)}</strong> (Shipyard test identity provider)</p>
${error ? `<p role="alert" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${mountPath}/interaction/${escapeHtml(uid)}/login" data-prompt="login" autocomplete="off">
<p><label>Account <input id="login" name="login" required autofocus></label></p>
<p><label>Password <input id="password" name="password" type="password" placeholder="any"></label></p>
<p><button type="submit">Sign in</button></p>
</form>
<form method="post" action="${mountPath}/interaction/${escapeHtml(uid)}/abort" data-prompt="abort">
<button type="submit">Cancel</button>
</form>
<p>Accounts:</p><ul>${known}</ul>`,
  );
}

function consentPage(uid, client, details) {
  const scopes = (details.missingOIDCScope ?? []).map(escapeHtml).join(', ');
  return page(
    'Authorize',
    `<p><strong>${escapeHtml(client?.clientName ?? client?.clientId)}</strong> asks for: ${scopes || 'access'}</p>
<form method="post" action="${mountPath}/interaction/${escapeHtml(uid)}/confirm" data-prompt="consent">
<button type="submit">Continue</button>
</form>
<form method="post" action="${mountPath}/interaction/${escapeHtml(uid)}/abort" data-prompt="abort">
<button type="submit">Cancel</button>
</form>`,
  );
}

provider.proxy = Boolean(config.behind_proxy);

const INTERACTION = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/;

provider.use(async (ctx, next) => {
  const match = INTERACTION.exec(ctx.path);
  if (!match) return next();
  const [, , action] = match;
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const client = await provider.Client.find(details.params.client_id);
  const finish = async (result, merge) => {
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge }));
  };

  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    ctx.body = details.prompt.name === 'login'
      ? loginPage(details.uid, client)
      : consentPage(details.uid, client, details.prompt.details);
    return undefined;
  }
  if (ctx.method !== 'POST' || !action) ctx.throw(405);

  if (action === 'abort') {
    return finish({ error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  }
  if (action === 'login') {
    const form = await readForm(ctx.req);
    const account = accounts.get(form.get('login') ?? '');
    if (details.prompt.name !== 'login' || !account || (account.password && account.password !== form.get('password'))) {
      ctx.status = 200;
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, client, 'Unknown account or wrong password.');
      return undefined;
    }
    loginCounts.set(account.sub, (loginCounts.get(account.sub) ?? 0) + 1);
    return finish({ login: { accountId: account.sub } }, false);
  }
  // confirm
  const { prompt, grantId, session, params } = details;
  if (prompt.name !== 'consent') ctx.throw(400, 'no consent pending');
  const grant = (grantId && await provider.Grant.find(grantId))
    || new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  return finish({ consent: { grantId: await grant.save() } }, true);
});

// One line per failure in the log, which the Python fixture quotes on errors.
for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'end_session.error']) {
  provider.on(event, (ctx, err) => {
    process.stdout.write(`${event}: ${err?.name} ${err?.message} ${err?.error_description ?? ''}\n`);
  });
}

// Mounted at the issuer's path: oidc-provider builds its URLs from originalUrl (its documented way).
const handle = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url !== mountPath && !req.url.startsWith(`${mountPath}/`) && !req.url.startsWith(`${mountPath}?`)) {
    res.statusCode = 404;
    res.end();
    return;
  }
  req.originalUrl = req.url;
  req.url = req.url.slice(mountPath.length) || '/';
  handle(req, res);
});
server.listen(config.port, config.host ?? '127.0.0.1', () => {
  process.stdout.write(`oidc-provider ${config.issuer} listening on ${config.host ?? '127.0.0.1'}:${config.port}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`listen failed: ${err.message}\n`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
