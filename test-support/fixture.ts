// Where the python tufup fixture is for every package's tests: TUFUP_FIXTURE, else shared/ beside the repository.
import { fileURLToPath } from 'node:url';

/** The read-only repository, keystore and bundles made by the real python tufup 0.10 (no trailing slash). */
export const PYTHON_TUFUP_FIXTURE: string = process.env.TUFUP_FIXTURE
  ? process.env.TUFUP_FIXTURE.replace(/\/+$/, '')
  : fileURLToPath(new URL('../../shared/fixtures/python-tufup', import.meta.url));

/** One path of a bundle as the fixture's manifest.json lists it. */
export interface FixtureManifestFile {
  type: 'file' | 'symlink';
  size?: number;
  sha256?: string;
  mode?: string;
  target?: string;
}
