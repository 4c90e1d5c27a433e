/** ServiceNow's command-line tools: forms sync (catalog items), form render and values. */
import { isAbsolute, join } from 'node:path';
import type { Config } from '../../config.ts';
import type { Logger } from '../../engine/logger.ts';
import { SurfaceIdStore } from '../../engine/surface-ids.ts';
import { FormCatalog } from '../../forms/catalog.ts';
import type { Form } from '../../forms/index.ts';
import { REPO_ROOT, type OpenedEngine } from '../../workflow/bootstrap.ts';
import { EngineOptionSources } from '../../workflow/form-options.ts';
import { QueryCatalog } from '../../workflow/queries.ts';
import type { SyncOutcome, TicketSurfaceTools } from '../shared/surface-tools.ts';
import { serviceNowCredentials } from './auth.ts';
import { ServiceNowClient } from './client.ts';
import { loadServiceNowConfig } from './config.ts';
import { ServiceNowDoctor } from './doctor.ts';
import { renderServiceNowForm, renderServiceNowText } from './form-renderer.ts';
import { serviceNowValuesToParams } from './form-values.ts';
import { ServiceNowFormsSync, questionItem, type ServiceNowItemDefinition } from './forms-sync.ts';

function serviceNowConfigFile(config: Config): string {
  return config.SERVICENOW_CONFIG_FILE ?? join(REPO_ROOT, 'examples', 'servicenow-config.yaml');
}

function formsDir(config: Config): string {
  return isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : join(REPO_ROOT, config.FORMS_DIR);
}

/** The catalog items the forms sync publishes (names and questions; dynamic choices left unresolved). */
async function publishedItems(engine: OpenedEngine['engine'], config: Config): Promise<ServiceNowItemDefinition[]> {
  const forms = await new FormCatalog(engine.registry, formsDir(config)).all();
  return [...forms.map((form) => ({ key: form.bundle, spec: renderServiceNowForm(form) })), questionItem(new QueryCatalog(engine).list())];
}

/** {@link TicketSurfaceTools} for ServiceNow. */
export const serviceNowTools: TicketSurfaceTools = {
  title: 'ServiceNow',

  missingConfig: (config) => {
    // OAuth's client credentials grant logs in without a password.
    const login = config.SERVICENOW_OAUTH_CLIENT_ID ? (['SERVICENOW_OAUTH_CLIENT_SECRET'] as const) : (['SERVICENOW_USER', 'SERVICENOW_PASSWORD'] as const);
    return (['SERVICENOW_INSTANCE_URL', ...login] as const).filter((k) => !config[k]);
  },

  async syncForms(opened: OpenedEngine, config: Config, logger: Logger): Promise<SyncOutcome> {
    const snConfig = await loadServiceNowConfig(serviceNowConfigFile(config));
    return new ServiceNowFormsSync({
      ids: new SurfaceIdStore(opened.redis.redis, config.REDIS_PREFIX),
      forms: new FormCatalog(opened.engine.registry, formsDir(config)),
      options: new EngineOptionSources(opened.engine),
      logger,
      client: new ServiceNowClient({ instanceUrl: config.SERVICENOW_INSTANCE_URL!, credentials: serviceNowCredentials(config), logger }),
      publish: snConfig.catalog,
      extraItems: () => [questionItem(new QueryCatalog(opened.engine).list())],
    }).sync();
  },

  renderForm(form: Form, text: boolean): string {
    const spec = renderServiceNowForm(form);
    return text ? renderServiceNowText(spec) : JSON.stringify(spec, null, 2);
  },

  formValues: (form, submitted) => serviceNowValuesToParams(form, submitted as Record<string, string>),

  async doctor(config, { logger, now, engine }) {
    const credentials = serviceNowCredentials(config);
    const client = new ServiceNowClient({ instanceUrl: config.SERVICENOW_INSTANCE_URL!, credentials, logger, maxAttempts: 2 });
    return new ServiceNowDoctor({
      client,
      config: await loadServiceNowConfig(serviceNowConfigFile(config)),
      credentials,
      ...(config.SERVICENOW_USER ? { user: config.SERVICENOW_USER } : {}),
      site: config.SERVICENOW_INSTANCE_URL!,
      ...(engine ? { items: await publishedItems(await engine(), config) } : {}),
      webhookBasic: Boolean(config.SERVICENOW_WEBHOOK_USER),
      now,
    }).run();
  },
};
