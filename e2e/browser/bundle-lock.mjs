// Bundles Auth0's Lock (auth0-lock, which npm ships as CommonJS sources needing core-js) into
// one browser script defining window.Auth0Lock and window.Auth0LockPasswordless, for the
// browser tests to serve. Usage: node bundle-lock.mjs OUT.js
import { build } from 'esbuild';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node bundle-lock.mjs OUT.js');
  process.exit(2);
}
const shim = join(mkdtempSync(join(tmpdir(), 'lock-')), 'auth0-js-shim.cjs');
writeFileSync(shim, 'module.exports = window.auth0; module.exports.default = window.auth0;\n');
await build({
  entryPoints: [new URL('./node_modules/auth0-lock/lib/browser.js', import.meta.url).pathname],
  bundle: true,
  format: 'iife',
  minify: true,
  outfile: out,
  // Lock's own auth0-js is replaced by the page's (auth0.min.js loaded before lock.js, the
  // global auth0): its builds do not bundle into a CommonJS require.
  plugins: [{
    name: 'page-auth0-js',
    setup(b) { b.onResolve({ filter: /^auth0-js$/ }, () => ({ path: shim })); },
  }],
  define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
  logLevel: 'error',
});
