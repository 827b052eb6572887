// Must NOT compile: misspelt config fields are caught by the compiler, not at run time.
import { runTraining } from 'ablate';

await runTraining({ model: 'plain34', data: { source: 'generated' }, epoch: 3 }, { runDir: 'runs/x' });
await runTraining({ model: 'plain34', data: { source: 'generated', imagesize: 32 } }, { runDir: 'runs/x' });
await runTraining({ model: 'plain34', data: { source: 'generated' }, optimizer: { learningRate: 0.1 } }, { runDir: 'runs/x' });
