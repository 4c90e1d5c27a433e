/**
 * Renders stored records as the Table API returns them: every value a string; references as
 * `{ link, value }` (or display values with `sysparm_display_value=true|all`, links dropped with
 * `sysparm_exclude_reference_link=true`); journal columns empty as values and rendered as
 * entries as display values; passwords never.
 */
import type { Row, ServiceNowSandboxState } from './state.ts';

/** Rendering options from the request's sysparm_* parameters. */
export interface RenderOptions {
  displayValue: 'false' | 'true' | 'all';
  excludeReferenceLink: boolean;
  /** `sysparm_fields` (dot-walked names allowed; unknown names are ignored, as on the platform). */
  fields?: string[];
}

/** Reads the rendering options of a request. */
export function renderOptions(q: URLSearchParams): RenderOptions {
  const dv = (q.get('sysparm_display_value') ?? 'false').toLowerCase();
  const fields = q.get('sysparm_fields');
  return {
    displayValue: dv === 'true' || dv === 'all' ? dv : 'false',
    excludeReferenceLink: (q.get('sysparm_exclude_reference_link') ?? '').toLowerCase() === 'true',
    fields: fields
      ? fields
          .split(',')
          .map((f) => f.trim())
          .filter(Boolean)
      : undefined,
  };
}

/** Table API rendering bound to a state and the instance URL used in links. */
export class ServiceNowViews {
  private readonly state: ServiceNowSandboxState;
  private readonly baseUrl: () => string;

  /** `baseUrl` is read lazily: the port is known only once the server listens. */
  constructor(state: ServiceNowSandboxState, baseUrl: () => string) {
    this.state = state;
    this.baseUrl = baseUrl;
  }

  /** The Table API URL of a record. */
  recordUrl(table: string, sysId: string): string {
    return `${this.baseUrl()}/api/now/table/${table}/${sysId}`;
  }

  /** One record as the Table API shows it when read through `table`. */
  record(table: string, row: Row, o: RenderOptions): Record<string, unknown> {
    const st = this.state;
    const columns = st.catalog.fields(table);
    const names = o.fields ? o.fields.filter((f) => st.knownField(table, f)) : Object.keys(columns);
    const out: Record<string, unknown> = {};
    for (const name of names) {
      // A dot-walked column renders as the last hop's column of the referenced record.
      const hops = name.split('.');
      let holder: Row | undefined = row;
      let holderTable = table;
      for (const h of hops.slice(0, -1)) {
        const ref = st.catalog.field(holderTable, h);
        const next: Row | undefined = holder?.[h] ? st.records.get(holder[h] as string) : undefined;
        holder = next;
        holderTable = next ? (next.sys_class_name as string) : (ref?.reference ?? holderTable);
      }
      const col = hops[hops.length - 1] as string;
      const f = st.catalog.field(holder ? (holder.sys_class_name as string) : holderTable, col);
      if (!f || f.type === 'password') continue;
      const value = holder ? (holder[col] ?? '') : '';
      const journalValue = f.type === 'journal' ? '' : value;
      const display = holder ? st.displayValue(holder, col, f) : '';
      if ((f.type === 'reference' || f.type === 'document_id') && value !== '') {
        const target = f.type === 'reference' ? (st.records.get(value)?.sys_class_name ?? f.reference) : (holder?.source_table || st.records.get(value)?.sys_class_name);
        const link = this.recordUrl(target ?? 'sys_metadata', value);
        if (o.displayValue === 'false') out[name] = o.excludeReferenceLink ? value : { link, value };
        else if (o.displayValue === 'true') out[name] = o.excludeReferenceLink ? display : { display_value: display, link };
        else out[name] = o.excludeReferenceLink ? { display_value: display, value } : { display_value: display, link, value };
        continue;
      }
      if (o.displayValue === 'false') out[name] = journalValue;
      else if (o.displayValue === 'true') out[name] = display;
      else out[name] = { display_value: display, value: journalValue };
    }
    return out;
  }
}
