/**
 * ServiceNow's command-line tools: forms sync (catalog items), form render and values, doctor.
 * Only forms sync and the doctor talk to ServiceNow and Redis: they load the client and the
 * stores when they run, so the offline tools (render, values) start without them.
 */
import { isAbsolute, join } from 'node:path';
import type { Config } from '../../config.ts';
import { REPO_ROOT } from '../../engine/config-file.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Form } from '../../forms/index.ts';
import type { OpenedEngine } from '../../workflow/bootstrap.ts';
import type { SyncOutcome, TicketSurfaceTools } from '../shared/surface-tools.ts';
import { loadServiceNowConfig } from './config.ts';
import { renderServiceNowForm, renderServiceNowText } from './form-renderer.ts';
import { serviceNowValuesToParams } from './form-values.ts';
import type { ServiceNowItemDefinition } from './forms-sync.ts';

function serviceNowConfigFile(config: Config): string {
  return config.SERVICENOW_CONFIG_FILE ?? join(REPO_ROOT, 'examples', 'servicenow-config.yaml');
}

function formsDir(config: Config): string {
  return isAbsolute(config.FORMS_DIR) ? config.FORMS_DIR : join(REPO_ROOT, config.FORMS_DIR);
}

/** The catalog items the forms sync publishes (names and questions; dynamic choices left unresolved). */
async function publishedItems(engine: OpenedEngine['engine'], config: Config): Promise<ServiceNowItemDefinition[]> {
  const [{ FormCatalog }, { QueryCatalog }, { questionItem }] = await Promise.all([import('../../forms/catalog.ts'), import('../../workflow/queries.ts'), import('./forms-sync.ts')]);
  const forms = await new FormCatalog(engine.registry, formsDir(config)).all();
  const { repositoryStackItems } = await import('./stack-item.ts');
  return [...forms.map((form) => ({ key: form.bundle, spec: renderServiceNowForm(form) })), ...(await repositoryStackItems(engine.registry)), questionItem(new QueryCatalog(engine).list())];
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
    const [{ SurfaceIdStore }, { FormCatalog }, { EngineOptionSources }, { QueryCatalog }, { ServiceNowClient }, { ServiceNowFormsSync, questionItem }, { serviceNowCredentials }] = await Promise.all([
      import('../../engine/surface-ids.ts'),
      import('../../forms/catalog.ts'),
      import('../../workflow/form-options.ts'),
      import('../../workflow/queries.ts'),
      import('./client.ts'),
      import('./forms-sync.ts'),
      import('./auth.ts'),
    ]);
    const [{ decommissionItem, livePackages }, { repositoryStackItems }] = await Promise.all([import('./decommission-item.ts'), import('./stack-item.ts')]);
    return new ServiceNowFormsSync({
      ids: new SurfaceIdStore(opened.redis.redis, config.REDIS_PREFIX),
      forms: new FormCatalog(opened.engine.registry, formsDir(config)),
      options: new EngineOptionSources(opened.engine),
      logger,
      client: new ServiceNowClient({ instanceUrl: config.SERVICENOW_INSTANCE_URL!, credentials: serviceNowCredentials(config), logger }),
      publish: snConfig.catalog,
      extraItems: async () => [decommissionItem(await livePackages(opened.engine, snConfig.project)), ...(await repositoryStackItems(opened.engine.registry)), questionItem(new QueryCatalog(opened.engine).list())],
    }).sync();
  },

  renderForm(form: Form, text: boolean): string {
    const spec = renderServiceNowForm(form);
    return text ? renderServiceNowText(spec) : JSON.stringify(spec, null, 2);
  },

  formValues: (form, submitted) => serviceNowValuesToParams(form, submitted as Record<string, string>),

  async doctor(config, { logger, now, engine }) {
    const [{ ServiceNowClient }, { ServiceNowDoctor }, { serviceNowCredentials }] = await Promise.all([import('./client.ts'), import('./doctor.ts'), import('./auth.ts')]);
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
