/**
 * Loaded before every test file (.mocharc.json): lets sharp render SVG in the test process. Test
 * helpers draw their fixtures from SVG (test/example/scene.ts…), and the decoder allow-list is the
 * process's (src/imaging/decoders.ts), so without this a helper would stop working as soon as the
 * library first loads sharp. The allow-list's own tests run in child processes, with the defaults.
 */
import { allowDecoders } from '../../src/imaging/decoders.js';

allowDecoders(['image/svg+xml']);
