import axios, { type AxiosInstance } from 'axios';
import type { Runtime } from '../../src/runtime.ts';
import type { Role } from '../../src/policy/index.ts';

/** The platform admin of examples/directory.yaml, as the CLI knows them: who makes the tests' tokens. */
export const ADMIN_CLI_USER = 'quinn';

/** Makes an API token for `person` with `role` through the runtime's TokenStore, as the directory's admin. */
export async function tokenFor(runtime: Runtime, person: string, role: Role): Promise<string> {
  const issued = await runtime.tokens.create({ person, role, label: 'test' }, runtime.authorizer.cliPrincipal(ADMIN_CLI_USER));
  return issued.token;
}

/** An API client of `url` that never throws on a status, sending `token` as the bearer when given. */
export function apiClient(url: string, token?: string): AxiosInstance {
  return axios.create({ baseURL: url, validateStatus: () => true, headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** An API client acting as `person` with `role` (a fresh token). */
export async function apiAs(runtime: Runtime, url: string, person: string, role: Role): Promise<AxiosInstance> {
  return apiClient(url, await tokenFor(runtime, person, role));
}
