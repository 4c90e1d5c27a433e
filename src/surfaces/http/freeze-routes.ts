/**
 * The freeze switch over HTTP (mounted under `/v1`, after authentication): `GET /freezes` lists
 * the freezes holding now; `PUT /environments/:id/freeze` freezes an environment (admins) with
 * `{ reason, until? }`; `DELETE /environments/:id/freeze` lifts it and names the requests that
 * go ahead again. Audited by the workflow (freeze.ts).
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import { ValidationError } from '../../engine/errors.ts';
import type { Authorizer } from '../../workflow/authorize.ts';
import type { FreezeDesk } from '../../workflow/freeze.ts';
import { allow, principalOf } from './auth.ts';

/** The body of a freeze: a reason people read in their tickets, and an optional end. */
const FreezeBody = z.object({ reason: z.string().trim().min(1, 'is required (people read it in their tickets)'), until: z.iso.datetime({ offset: true }).optional() }).strict();

/** The freeze routes; see the module comment. */
export function freezesRouter(freezes: FreezeDesk, authz: Authorizer): Router {
  const r = express.Router();
  r.get('/freezes', async (_req, res) => {
    res.json({ freezes: await freezes.frozen() });
  });
  r.put('/environments/:id/freeze', allow(authz, 'environment.freeze'), async (req, res) => {
    const parsed = FreezeBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, field: String(i.path[0] ?? ''), message: i.message }));
      throw new ValidationError('the freeze was not set', issues);
    }
    const { reason, until } = parsed.data;
    const freeze = await freezes.freeze(req.params.id, { reason, ...(until ? { until: new Date(until) } : {}) }, principalOf(res));
    res.status(200).json(freeze);
  });
  r.delete('/environments/:id/freeze', allow(authz, 'environment.freeze'), async (req, res) => {
    const out = await freezes.unfreeze(req.params.id, principalOf(res));
    res.json({ lifted: out.lifted ?? null, released: out.released.map((x) => x.id) });
  });
  return r;
}
