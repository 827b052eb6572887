// A dashboard in its own process (so a test can give it a small open-file limit with `ulimit -n`):
// prints {"port", "token"} on one line, serves until SIGTERM.
import { startDashboard } from '../../src/study/serve/index.js';

const d = await startDashboard({ dir: process.argv[2]!, host: process.argv[3] ?? '127.0.0.1' });
process.stdout.write(JSON.stringify({ port: d.port, token: d.token }) + '\n');
process.on('SIGTERM', () => void d.close().then(() => process.exit(0)));
