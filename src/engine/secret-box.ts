/**
 * Encryption at rest of sensitive values (AES-256-GCM, node:crypto): `$md.sensitive` params and
 * artifact fields are sealed before a record is written to Redis and opened when it is read.
 *
 * A sealed value is one string, `enc:v1:<key id>:<iv>:<tag>:<ciphertext>`: the key id is the
 * first 8 bytes of the key's SHA-256 in hex (it names a key without revealing it), the 12-byte
 * IV is random per value, and iv, tag and ciphertext are base64. The plaintext is the value's
 * JSON, so numbers, objects and strings come back as they went in.
 *
 * Keys: one current key seals; it and any older keys open (rotation: the new key becomes
 * current, the old one is kept for reading until every record has been written again).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemError } from './errors.ts';
import { Redactor, pointerMatcher, valuesAtPointer } from './redact.ts';

/** How every sealed value starts. */
export const SEALED_PREFIX = 'enc:v1:';

/** Length of a key in bytes (AES-256). */
export const KEY_BYTES = 32;

/** The development key's file name inside DATA_DIR. */
export const KEY_FILE = 'secrets.key';

const ALGORITHM = 'aes-256-gcm';

/** A sealed value could not be opened: unknown key, damaged or tampered with. Never carries the value. */
export class SealedValueError extends SystemError {}

/** The 32 bytes of a base64 key, or undefined when `text` is not one. */
export function parseKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const key = Buffer.from(trimmed, 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** The id a key is known by in sealed values. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** True for a string in the sealed form. */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_PREFIX);
}

/** Seals and opens values with a current key and any number of older ones. */
export class SecretBox {
  private readonly current: { id: string; key: Buffer };
  private readonly keys = new Map<string, Buffer>();

  /** @param current the key that seals; @param old keys that still open what they sealed. */
  constructor(current: Buffer, old: readonly Buffer[] = []) {
    if (current.length !== KEY_BYTES) throw new SystemError(`a secrets key must be ${KEY_BYTES} bytes`);
    this.current = { id: keyIdOf(current), key: current };
    for (const k of [current, ...old]) if (k.length === KEY_BYTES) this.keys.set(keyIdOf(k), k);
  }

  /** Id of the key that seals. */
  get keyId(): string {
    return this.current.id;
  }

  /** The sealed form of `value` (its JSON, encrypted with the current key). */
  seal(value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
    const ct = Buffer.concat([cipher.update(JSON.stringify(value) ?? 'null', 'utf8'), cipher.final()]);
    return `${SEALED_PREFIX}${this.current.id}:${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
  }

  /** The value `sealed` holds; {@link SealedValueError} for an unknown key or a damaged value. */
  open(sealed: string): unknown {
    const parts = sealed.slice(SEALED_PREFIX.length).split(':');
    const [id, iv, tag, ct] = parts;
    const key = id ? this.keys.get(id) : undefined;
    if (parts.length !== 4 || !key) throw new SealedValueError(`a sealed value names key ${String(id).slice(0, 16)}, which is not configured (SECRETS_KEY, SECRETS_KEYS_OLD)`);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(iv!, 'base64'));
      decipher.setAuthTag(Buffer.from(tag!, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(ct!, 'base64')), decipher.final()]).toString('utf8');
      return JSON.parse(plain);
    } catch (err) {
      throw new SealedValueError('a sealed value is damaged or was tampered with', { cause: err });
    }
  }

  /**
   * A copy of `record` with every value at `pointers` sealed whole, and every other string that
   * contains one of those values (an answer echoed elsewhere, a message) or already looks sealed
   * sealed too: Redis then holds no sensitive value in clear, and reading never mistakes a
   * person's text for a sealed value.
   */
  sealRecord<T>(record: T, pointers: readonly string[]): T {
    const secrets = new Redactor();
    for (const p of pointers) for (const v of valuesAtPointer(record, p)) if (v !== undefined && v !== null) secrets.addSensitiveFields(v, ['']);
    const marked = pointerMatcher(pointers);
    const walk = (node: unknown, at: string): unknown => {
      if (at !== '' && marked(at) && node !== undefined && node !== null) return this.seal(node);
      if (typeof node === 'string') return node.startsWith('enc:') || secrets.finds(node) ? this.seal(node) : node;
      if (Array.isArray(node)) return node.map((v, i) => walk(v, `${at}/${i}`));
      if (!node || typeof node !== 'object') return node;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, `${at}/${escapeToken(k)}`);
      return out;
    };
    return walk(record, '') as T;
  }

  /** `value` with every sealed string replaced by what it holds (in place for objects; returns the result). */
  openRecord<T>(value: T): T {
    const walk = (node: unknown): unknown => {
      if (isSealed(node)) return this.open(node);
      if (node && typeof node === 'object') {
        const obj = node as Record<string, unknown>;
        for (const k of Object.keys(obj)) obj[k] = walk(obj[k]);
      }
      return node;
    };
    return walk(value) as T;
  }
}

function escapeToken(token: string): string {
  return token.includes('~') || token.includes('/') ? token.replace(/~/g, '~0').replace(/\//g, '~1') : token;
}

/** Options of {@link loadSecretBox}. */
export interface SecretKeySource {
  /** Base64 of the current key (SECRETS_KEY); when absent a development key is used. */
  key?: string;
  /** Base64 of earlier keys (SECRETS_KEYS_OLD), for opening what they sealed. */
  oldKeys?: readonly string[];
  /** Where the development key lives (DATA_DIR). */
  dataDir: string;
  /** Told once when a development key is created (the path, never the key). */
  onGenerated?: (path: string) => void;
}

/**
 * The secret box of this process: the configured key, or else the development key in
 * `<dataDir>/secrets.key` (created with mode 0600 on first use, shared by the service and the
 * CLI). Configuration checks the keys' shape; a bad one here is a system error.
 */
export async function loadSecretBox(source: SecretKeySource): Promise<SecretBox> {
  const old = (source.oldKeys ?? []).map((k) => parseKey(k)).filter((k): k is Buffer => k !== undefined);
  if (source.key !== undefined) {
    const key = parseKey(source.key);
    if (!key) throw new SystemError(`SECRETS_KEY must be the base64 of ${KEY_BYTES} bytes`);
    return new SecretBox(key, old);
  }
  return new SecretBox(await developmentKey(source), old);
}

/**
 * Reads the development key, creating it when it does not exist yet: written 0600 to a private
 * temporary file, then hard-linked into place, so two processes starting together agree on one
 * key and neither ever reads a half-written file.
 */
async function developmentKey(source: SecretKeySource): Promise<Buffer> {
  const path = join(source.dataDir, KEY_FILE);
  await mkdir(source.dataDir, { recursive: true });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, randomBytes(KEY_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, path);
    source.onGenerated?.(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(temp);
  }
  const key = parseKey(await readFile(path, 'utf8'));
  if (!key) throw new SystemError(`${path} does not hold a ${KEY_BYTES}-byte base64 key`);
  return key;
}
