// Loaded with `node --import` ahead of the entry module. It copies ABLATE_BENCH_SET_ENV ("NAME=value")
// into process.env, proving that a variable set from JavaScript before the native addon loads (what
// bin/ablate.js could do) reaches libgomp, which reads its settings once, when it is loaded.
const spec = process.env.ABLATE_BENCH_SET_ENV ?? 'OMP_WAIT_POLICY=PASSIVE';
const eq = spec.indexOf('=');
if (eq > 0) process.env[spec.slice(0, eq)] ??= spec.slice(eq + 1);
