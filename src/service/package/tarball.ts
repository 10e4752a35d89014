export interface TarballOptions {
  version?: string;
  outDir?: string;
  keepStaging?: boolean;
}
export function buildTarball(_options: TarballOptions = {}): { path: string } {
  throw new Error('not yet');
}
