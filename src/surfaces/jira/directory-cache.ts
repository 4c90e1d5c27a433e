/** The directory cache both surfaces use, where the Jira surface has always imported it from. */
export { CachedDirectory, type CachedDirectoryOptions } from '../shared/directory-cache.ts';
