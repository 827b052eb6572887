import { readFileSync } from 'node:fs';
import { trainingSetup } from './lib/training-setup.js';
const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
const r0 = kb('VmRSS');
const s = trainingSetup('resnet50', { size: 224, batch: 16, bf16: true });
const m = process.memoryUsage();
console.log(JSON.stringify({ flags: process.execArgv.filter((a) => a.startsWith('--max') || a.startsWith('--single') || a.startsWith('--jitless') || a.startsWith('--lite')), rssBeforeModelMiB: (r0 / 1024).toFixed(0), rssMiB: (kb('VmRSS') / 1024).toFixed(0), heapTotalMiB: (m.heapTotal / 2 ** 20).toFixed(1), heapUsedMiB: (m.heapUsed / 2 ** 20).toFixed(1), externalMiB: (m.external / 2 ** 20).toFixed(1) }));
s.model.dispose();
