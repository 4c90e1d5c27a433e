/**
 * Stacks and their leases over HTTP (mounted under `/v1`, after authentication): `GET /stacks`
 * lists the stacks; `POST /stacks` requests a stack template as a preview environment
 * (`{ template, name, labels?, answers? }`); `POST /stacks/:id/extend` extends its lease
 * (`{ duration }`, within the policy's maximum); `POST /stacks/:id/resume` goes on after a
 * failure. The same desk as the ticket commands (src/workflow/stacks.ts), which decides who may
 * (the requester role to request; the stack's requester or an admin to extend or resume).
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import { ValidationError } from '../../engine/errors.ts';
import type { StackDesk } from '../../workflow/stacks.ts';
import type { StackStore } from '../../workflow/stack-store.ts';
import { principalOf } from './auth.ts';

const Scalar = z.union([z.string(), z.number(), z.boolean()]);
const StackBody = z.object({ template: z.string().min(1), name: z.string().min(1), labels: z.record(z.string(), Scalar).optional(), answers: z.record(z.string(), Scalar).optional() }).strict();
const ExtendBody = z.object({ duration: z.string().min(1) }).strict();

/** `body` parsed by `schema`, or a ValidationError saying `what` was not done. */
function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  throw new ValidationError(what, parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, field: String(i.path[0] ?? ''), message: i.message })));
}

/** The stack routes; see the module comment. */
export function stacksRouter(desk: StackDesk, store: StackStore): Router {
  const r = express.Router();
  r.get('/stacks', async (_req, res) => {
    res.json({ stacks: await store.list() });
  });
  // Who may request, extend and resume a stack is decided by the desk, the same for every surface.
  r.post('/stacks', async (req, res) => {
    const b = parse(StackBody, req.body, 'the stack was not requested');
    const stack = await desk.request({ ...b, origin: { surface: 'http', ref: `stack-${b.name}` }, by: principalOf(res) });
    res.status(202).location(`/v1/stacks/${stack.id}`).json(stack);
  });
  r.post('/stacks/:id/extend', async (req, res) => {
    const b = parse(ExtendBody, req.body, 'the lease was not extended');
    res.json(await desk.extend(req.params.id, b.duration, principalOf(res)));
  });
  r.post('/stacks/:id/resume', async (req, res) => {
    res.status(202).json(await desk.resume(req.params.id, principalOf(res)));
  });
  return r;
}
