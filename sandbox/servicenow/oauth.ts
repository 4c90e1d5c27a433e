/**
 * The ServiceNow sandbox's OAuth 2.0 provider: the instance's token endpoint
 * (`POST /oauth_token.do`, form-encoded) with the password grant (access and refresh token), the
 * refresh token grant and the client credentials grant (access token only, acting as the
 * client's OAuth application user), and the Bearer tokens it issued checked on every /api call.
 * Tokens expire on the sandbox's clock, or at once through {@link SandboxOAuth.expireAccessTokens}
 * (what an instance does when a token is revoked), so tests can watch a client renew them.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../src/engine/model.ts';
import type { Row, ServiceNowSandboxState } from './state.ts';

/** An OAuth application registry entry. */
export interface SandboxOAuthClient {
  clientId: string;
  clientSecret: string;
  /** user_name the client credentials grant acts as (the entry's OAuth application user). */
  user: string;
}

/** Settings of {@link SandboxOAuth}. */
export interface SandboxOAuthOptions {
  /** Access token lifetime in seconds (the platform's default is 1,799). */
  accessTokenLifetimeS?: number;
  /** Refresh token lifetime in seconds (the platform's default is 100 days). */
  refreshTokenLifetimeS?: number;
}

/** One answer of the token endpoint. */
export interface TokenReply {
  status: number;
  body: Record<string, unknown>;
}

/** One token request the endpoint answered (secrets left out). */
export interface TokenGrant {
  grant: string;
  clientId: string;
  status: number;
}

interface Issued {
  user: string;
  clientId: string;
  expiresAt: number;
}

/** The sandbox instance's OAuth provider. */
export class SandboxOAuth {
  /** Every token request, in order. */
  readonly grants: TokenGrant[] = [];
  private readonly clients = new Map<string, SandboxOAuthClient>();
  private readonly accessTokens = new Map<string, Issued>();
  private readonly refreshTokens = new Map<string, Issued>();
  private readonly accessLifeS: number;
  private readonly refreshLifeS: number;

  constructor(
    private readonly state: ServiceNowSandboxState,
    private readonly clock: Clock,
    options: SandboxOAuthOptions = {},
  ) {
    this.accessLifeS = options.accessTokenLifetimeS ?? 1799;
    this.refreshLifeS = options.refreshTokenLifetimeS ?? 8_640_000;
  }

  /** Registers an application registry entry. */
  register(client: SandboxOAuthClient): void {
    this.clients.set(client.clientId, client);
  }

  /** `POST /oauth_token.do` with its form fields. */
  token(form: URLSearchParams): TokenReply {
    const grant = form.get('grant_type') ?? '';
    const clientId = form.get('client_id') ?? '';
    const reply = this.answer(grant, form);
    this.grants.push({ grant, clientId, status: reply.status });
    return reply;
  }

  private answer(grant: string, form: URLSearchParams): TokenReply {
    const client = this.clients.get(form.get('client_id') ?? '');
    if (!client || client.clientSecret !== form.get('client_secret')) return denied();
    if (grant === 'password') {
      const user = this.state.authenticate(form.get('username') ?? '', form.get('password') ?? '');
      return user ? this.issue(client, user, true) : denied();
    }
    if (grant === 'refresh_token') {
      const held = this.refreshTokens.get(form.get('refresh_token') ?? '');
      if (!held || held.clientId !== client.clientId || held.expiresAt <= this.now()) return denied();
      const user = this.state.user(held.user);
      return user && user.active === 'true' ? this.issue(client, user, false) : denied();
    }
    if (grant === 'client_credentials') {
      const user = this.state.user(client.user);
      return user && user.active === 'true' ? this.issue(client, user, false) : denied();
    }
    return { status: 400, body: { error: 'unsupported_grant_type', error_description: `grant_type ${grant.slice(0, 40)} is not supported` } };
  }

  private issue(client: SandboxOAuthClient, user: Row, refreshable: boolean): TokenReply {
    const access = token();
    this.accessTokens.set(access, { user: user.user_name as string, clientId: client.clientId, expiresAt: this.now() + this.accessLifeS * 1000 });
    const body: Record<string, unknown> = { scope: 'useraccount', token_type: 'Bearer', expires_in: this.accessLifeS, access_token: access };
    if (refreshable) {
      const refresh = token();
      this.refreshTokens.set(refresh, { user: user.user_name as string, clientId: client.clientId, expiresAt: this.now() + this.refreshLifeS * 1000 });
      body.refresh_token = refresh;
    }
    return { status: 200, body };
  }

  /** The active user a Bearer token stands for, or undefined (unknown or expired). */
  authenticate(accessToken: string): Row | undefined {
    const held = this.accessTokens.get(accessToken);
    if (!held || held.expiresAt <= this.now()) return undefined;
    const user = this.state.user(held.user);
    return user && user.active === 'true' && user.locked_out !== 'true' ? user : undefined;
  }

  /** Expires every access token issued so far (refresh tokens keep working). Returns how many. */
  expireAccessTokens(): number {
    for (const t of this.accessTokens.values()) t.expiresAt = 0;
    return this.accessTokens.size;
  }

  /** Expires every refresh token issued so far. */
  expireRefreshTokens(): number {
    for (const t of this.refreshTokens.values()) t.expiresAt = 0;
    return this.refreshTokens.size;
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

/** The platform's answer to a refused token request. */
function denied(): TokenReply {
  return { status: 401, body: { error_description: 'access_denied', error: 'server_error' } };
}

function token(): string {
  return randomBytes(48).toString('base64url');
}
