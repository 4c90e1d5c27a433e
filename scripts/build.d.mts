/**
 * Makes `root`'s dist/ match its src/ (compiling when dist/ is missing or older than src/, or
 * always with `force`); resolves to whether it compiled. `root` defaults to this repository.
 */
export function ensureBuilt(options?: { root?: string; force?: boolean }): Promise<boolean>;
