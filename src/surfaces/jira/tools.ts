/**
 * Jira's command-line tools: forms sync, form render and values, webhook inspect. Only forms
 * sync talks to Jira and Redis: it loads the client (jira.js) and the stores when it runs, so the
 * offline tools (render, values, inspect) start without them.
 */
import { isAbsolute, join } from 'node:path';
import type { Config } from '../../config.ts';
import { REPO_ROOT } from '../../engine/config-file.ts';
import { ValidationError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Form } from '../../forms/index.ts';
import type { OpenedEngine } from '../../workflow/bootstrap.ts';
import type { SyncOutcome, TicketSurfaceTools } from '../shared/surface-tools.ts';
import { loadJiraConfig } from './config.ts';
import { renderJiraForm, renderJiraText } from './form-renderer.ts';
import { jiraValuesToParams } from './form-values.ts';
import { normalizeJiraDelivery, verifyJiraSignature } from './webhook.ts';

function jiraConfigFile(config: Config): string {
  return config.JIRA_CONFIG_FILE ?? 'examples/jira-config.yaml';
}

/** {@link TicketSurfaceTools} for Jira. */
export const jiraTools: TicketSurfaceTools = {
  title: 'Jira',

  missingConfig: (config) => (['JIRA_BASE_URL', 'JIRA_EMAIL', 'JIRA_API_TOKEN'] as const).filter((k) => !config[k]),

  async syncForms(opened: OpenedEngine, config: Config, logger: Logger): Promise<SyncOutcome> {
    const formsDir = isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : join(REPO_ROOT, config.FORMS_DIR);
    const [{ SurfaceIdStore }, { FormCatalog }, { EngineOptionSources }, { JiraClient }, { JiraFormsSync }] = await Promise.all([
      import('../../engine/surface-ids.ts'),
      import('../../forms/catalog.ts'),
      import('../../workflow/form-options.ts'),
      import('./client.ts'),
      import('./forms-sync.ts'),
    ]);
    return new JiraFormsSync({
      ids: new SurfaceIdStore(opened.redis.redis, config.REDIS_PREFIX),
      forms: new FormCatalog(opened.engine.registry, formsDir),
      options: new EngineOptionSources(opened.engine),
      logger,
      client: new JiraClient({ baseUrl: config.JIRA_BASE_URL!, email: config.JIRA_EMAIL!, apiToken: config.JIRA_API_TOKEN!, logger }),
      config: await loadJiraConfig(jiraConfigFile(config)),
    }).sync();
  },

  renderForm(form: Form, text: boolean): string {
    const spec = renderJiraForm(form);
    return text ? renderJiraText(spec) : JSON.stringify(spec, null, 2);
  },

  formValues: (form, submitted) => jiraValuesToParams(form, submitted),

  async inspectWebhook(raw: Buffer, headers: Record<string, string>, config: Config): Promise<unknown> {
    if (!headers['x-atlassian-webhook-identifier']) headers['x-atlassian-webhook-identifier'] = 'inspect-local';
    if (config.JIRA_WEBHOOK_SECRET) verifyJiraSignature(raw, headers['x-hub-signature'], config.JIRA_WEBHOOK_SECRET);
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ValidationError('the body is not JSON', [{ pointer: '', message: 'is not valid JSON' }]);
    }
    const jiraConfig = await loadJiraConfig(jiraConfigFile(config));
    const projects: Record<string, { issueTypes: string[] }> = {};
    for (const [key, p] of Object.entries(jiraConfig.projects)) projects[key] = { issueTypes: Object.keys(p.issueTypes) };
    return normalizeJiraDelivery(headers, payload, { projects, ...(config.JIRA_BASE_URL ? { baseUrl: config.JIRA_BASE_URL } : {}) });
  },

  async doctor(config, { logger, now }) {
    const [{ JiraClient }, { JiraDoctor }] = await Promise.all([import('./client.ts'), import('./doctor.ts')]);
    const client = new JiraClient({ baseUrl: config.JIRA_BASE_URL!, email: config.JIRA_EMAIL!, apiToken: config.JIRA_API_TOKEN!, logger, maxAttempts: 2 });
    return new JiraDoctor({ client, config: await loadJiraConfig(jiraConfigFile(config)), site: config.JIRA_BASE_URL!, now }).run();
  },
};
