import { z } from 'zod';
import { ConfigError } from './engine/errors.ts';
import { parseKey } from './engine/secret-box.ts';

/** A base64 AES-256 key; the message never repeats the value. */
const secretsKey = z.string().refine((v) => parseKey(v) !== undefined, 'must be the base64 of 32 random bytes (openssl rand -base64 32)');
import type { StateBackend } from './provisioners/opentofu.ts';

const list = z
  .string()
  .optional()
  .transform((v) => (v ? v.split(':').filter(Boolean) : []));

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .optional()
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * Every setting the service reads from its environment. Parsed once at start-up; a missing or
 * invalid value stops the process with one line naming the variable.
 */
export const configSchema = z.object({
  /** Redis for the inventory and the queues. Unset: a private redis-server with AOF in DATA_DIR. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /**
   * Redis through Sentinel instead of REDIS_URL: comma-separated `host:port` of the sentinels,
   * with REDIS_SENTINEL_NAME (the master group). REDIS_PASSWORD is the servers' password,
   * REDIS_SENTINEL_PASSWORD the sentinels' own; REDIS_TLS turns TLS on for both.
   */
  REDIS_SENTINELS: z
    .string()
    .regex(/^\s*[^\s:,]+:\d{1,5}\s*(,\s*[^\s:,]+:\d{1,5}\s*)*$/, 'must be host:port[,host:port...]')
    .optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: bool,
  /** Where the private Redis, deployment work dirs and package state live. */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Extra bundle directories (colon-separated), besides examples/bundles. */
  BUNDLE_PATH: list,
  /** Extra artifact definition directories (colon-separated), besides contracts/artifact-definitions. */
  ARTIFACT_DEFINITIONS_PATH: list,
  /** Local mirror for http(s) `$ref`s: https://host/path is read from $SCHEMA_MIRROR/host/path. */
  SCHEMA_MIRROR: z.string().min(1).optional(),
  /** Allow fetching http(s) `$ref`s from the network when the mirror lacks them. */
  SCHEMA_ALLOW_NETWORK: bool,
  /** HTTP listen address. */
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Policy file (YAML). */
  POLICY_FILE: z.string().min(1).default('examples/policy.yaml'),
  /** The people (YAML): their ids on every surface, groups and roles. API tokens and OpenID Connect tokens name them. */
  DIRECTORY_FILE: z.string().min(1).default('examples/directory.yaml'),
  /** Run the queue workers inside the HTTP service process (the compose file runs them apart). */
  RUN_WORKERS: bool.default(true as never),
  /** Form overlays directory. */
  FORMS_DIR: z.string().min(1).default('forms'),
  /** Key prefix in Redis, so several deployments can share one server. */
  REDIS_PREFIX: z.string().min(1).default('ts:'),
  /** OpenTofu / Terraform binaries for the opentofu and terraform provisioners. */
  TOFU_BIN: z.string().min(1).default('tofu'),
  TERRAFORM_BIN: z.string().min(1).default('terraform'),
  /**
   * Where OpenTofu/Terraform state lives: `local` (files under DATA_DIR, one worker host), `pg`
   * (TOFU_STATE_PG_CONN_STR, for example the project's PostgreSQL) or `http` (TOFU_STATE_HTTP_ADDRESS,
   * with optional TOFU_STATE_HTTP_USERNAME / TOFU_STATE_HTTP_PASSWORD). Remote state lets any worker
   * host apply what another planned.
   */
  TOFU_STATE_BACKEND: z.enum(['local', 'pg', 'http']).default('local'),
  TOFU_STATE_PG_CONN_STR: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  /** Schema name prefix of the pg backend (default `ts_state`): one schema per package and step. */
  TOFU_STATE_PG_SCHEMA_PREFIX: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier').optional(),
  TOFU_STATE_HTTP_ADDRESS: z.url({ protocol: /^https?$/ }).optional(),
  TOFU_STATE_HTTP_USERNAME: z.string().min(1).optional(),
  TOFU_STATE_HTTP_PASSWORD: z.string().min(1).optional(),
  /** Jira surface: enabled when JIRA_BASE_URL is set. */
  JIRA_BASE_URL: z.url().optional(),
  JIRA_EMAIL: z.string().min(1).optional(),
  JIRA_API_TOKEN: z.string().min(1).optional(),
  /** Shared secret of the Jira admin webhook (X-Hub-Signature). Required when Jira is enabled. */
  JIRA_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Jira project/status mapping file (YAML). */
  JIRA_CONFIG_FILE: z.string().min(1).optional(),
  /** ServiceNow surface: enabled when SERVICENOW_INSTANCE_URL is set. */
  SERVICENOW_INSTANCE_URL: z.url().optional(),
  SERVICENOW_USER: z.string().min(1).optional(),
  SERVICENOW_PASSWORD: z.string().min(1).optional(),
  SERVICENOW_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  /** ServiceNow surface mapping file (YAML): project, catalog placement, changes, blackouts. */
  SERVICENOW_CONFIG_FILE: z.string().min(1).optional(),
  /** Basic-auth fallback the Business Rule may send instead of a signature (both or neither). */
  SERVICENOW_WEBHOOK_USER: z.string().min(1).optional(),
  SERVICENOW_WEBHOOK_PASSWORD: z.string().min(16, 'must be at least 16 characters').optional(),
  /** OpenID Connect bearer tokens are accepted when set: the `iss` they must carry. */
  OIDC_ISSUER: z.url().optional(),
  /** The `aud` an OpenID Connect token must carry (this service's client id). Required with OIDC_ISSUER. */
  OIDC_AUDIENCE: z.string().min(1).optional(),
  /** Where the issuer's signing keys are: an http(s) JWKS URL, or a `file:` URL of a JWKS document. Required with OIDC_ISSUER. */
  OIDC_JWKS_URL: z.url({ protocol: /^(https?|file)$/ }).optional(),
  /** When set, `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * OAuth 2.0 instead of Basic (both or neither): the instance's OAuth application registry
   * entry. With SERVICENOW_PASSWORD the password grant (refresh tokens), else client credentials.
   */
  SERVICENOW_OAUTH_CLIENT_ID: z.string().min(1).optional(),
  SERVICENOW_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
  /** Key that encrypts sensitive values in Redis (base64, 32 bytes); required when NODE_ENV=production. */
  SECRETS_KEY: secretsKey.optional(),
  /** Earlier keys (comma-separated), still used to decrypt after a rotation. */
  SECRETS_KEYS_OLD: z.string().optional().transform((v) => (v ? v.split(/[\s,]+/).filter(Boolean) : [])).pipe(z.array(secretsKey)),
  NODE_ENV: z.string().optional(),
});

/** Validated configuration. */
export type Config = z.infer<typeof configSchema>;

/**
 * Parses `env` into a {@link Config}. Throws {@link ConfigError} naming the first bad variable
 * (the message never repeats the value, which may be a secret).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key];
    picked[key] = v === '' ? undefined : v;
  }
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(variable, issue.message);
  }
  const cfg = parsed.data;
  if (cfg.JIRA_BASE_URL) {
    for (const k of ['JIRA_EMAIL', 'JIRA_API_TOKEN', 'JIRA_WEBHOOK_SECRET'] as const) {
      if (!cfg[k]) throw new ConfigError(k, 'required when JIRA_BASE_URL is set');
    }
  }
  if (cfg.SERVICENOW_INSTANCE_URL) {
    for (const k of ['SERVICENOW_USER', 'SERVICENOW_WEBHOOK_SECRET'] as const) {
      if (!cfg[k]) throw new ConfigError(k, 'required when SERVICENOW_INSTANCE_URL is set');
    }
    // OAuth's client credentials grant needs no password; Basic and the password grant do.
    if (!cfg.SERVICENOW_OAUTH_CLIENT_ID && !cfg.SERVICENOW_PASSWORD) throw new ConfigError('SERVICENOW_PASSWORD', 'required when SERVICENOW_INSTANCE_URL is set without SERVICENOW_OAUTH_CLIENT_ID');
  }
  if (Boolean(cfg.SERVICENOW_OAUTH_CLIENT_ID) !== Boolean(cfg.SERVICENOW_OAUTH_CLIENT_SECRET)) {
    throw new ConfigError(cfg.SERVICENOW_OAUTH_CLIENT_ID ? 'SERVICENOW_OAUTH_CLIENT_SECRET' : 'SERVICENOW_OAUTH_CLIENT_ID', 'SERVICENOW_OAUTH_CLIENT_ID and SERVICENOW_OAUTH_CLIENT_SECRET go together');
  }
  if (cfg.TOFU_STATE_BACKEND === 'pg' && !cfg.TOFU_STATE_PG_CONN_STR) throw new ConfigError('TOFU_STATE_PG_CONN_STR', 'required when TOFU_STATE_BACKEND is pg');
  if (cfg.TOFU_STATE_BACKEND === 'http' && !cfg.TOFU_STATE_HTTP_ADDRESS) throw new ConfigError('TOFU_STATE_HTTP_ADDRESS', 'required when TOFU_STATE_BACKEND is http');
  if (cfg.REDIS_SENTINELS && !cfg.REDIS_SENTINEL_NAME) throw new ConfigError('REDIS_SENTINEL_NAME', 'required when REDIS_SENTINELS is set');
  if (cfg.REDIS_SENTINEL_NAME && !cfg.REDIS_SENTINELS) throw new ConfigError('REDIS_SENTINELS', 'required when REDIS_SENTINEL_NAME is set');
  if (cfg.OIDC_ISSUER || cfg.OIDC_AUDIENCE || cfg.OIDC_JWKS_URL) {
    for (const k of ['OIDC_ISSUER', 'OIDC_AUDIENCE', 'OIDC_JWKS_URL'] as const) {
      if (!cfg[k]) throw new ConfigError(k, 'required when any OIDC_ setting is set');
    }
  }
  if (cfg.NODE_ENV === 'production' && !cfg.SECRETS_KEY) throw new ConfigError('SECRETS_KEY', 'required when NODE_ENV=production (openssl rand -base64 32)');
  return cfg;
}

/** The secret values in a configuration (tokens, passwords, keys), for redaction wherever text is shown. */
export function configSecrets(cfg: Config): string[] {
  const redisPassword = cfg.REDIS_URL ? decodeURIComponent(new URL(cfg.REDIS_URL).password) : '';
  const values = [
    cfg.JIRA_API_TOKEN,
    cfg.JIRA_WEBHOOK_SECRET,
    cfg.SERVICENOW_PASSWORD,
    cfg.SERVICENOW_OAUTH_CLIENT_SECRET,
    cfg.SERVICENOW_WEBHOOK_SECRET,
    cfg.SERVICENOW_WEBHOOK_PASSWORD,
    cfg.METRICS_TOKEN,
    cfg.SECRETS_KEY,
    ...cfg.SECRETS_KEYS_OLD,
    redisPassword,
    cfg.REDIS_PASSWORD,
    cfg.REDIS_SENTINEL_PASSWORD,
    cfg.TOFU_STATE_PG_CONN_STR,
    cfg.TOFU_STATE_HTTP_PASSWORD,
  ];
  return values.filter((v): v is string => typeof v === 'string' && v !== '');
}

/** The OpenTofu/Terraform state backend the configuration names (see TOFU_STATE_BACKEND). */
export function stateBackendOf(cfg: Config): StateBackend {
  if (cfg.TOFU_STATE_BACKEND === 'pg') {
    return { type: 'pg', connStr: cfg.TOFU_STATE_PG_CONN_STR!, ...(cfg.TOFU_STATE_PG_SCHEMA_PREFIX ? { schemaPrefix: cfg.TOFU_STATE_PG_SCHEMA_PREFIX } : {}) };
  }
  if (cfg.TOFU_STATE_BACKEND === 'http') {
    return {
      type: 'http',
      address: cfg.TOFU_STATE_HTTP_ADDRESS!,
      ...(cfg.TOFU_STATE_HTTP_USERNAME ? { username: cfg.TOFU_STATE_HTTP_USERNAME } : {}),
      ...(cfg.TOFU_STATE_HTTP_PASSWORD ? { password: cfg.TOFU_STATE_HTTP_PASSWORD } : {}),
    };
  }
  return { type: 'local' };
}
