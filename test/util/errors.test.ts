import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, invalidArg } from '../../src/util/errors.js';
import { inspectRunConfig, RunPlanError } from '../../src/run/plan.js';
import { RunFolderFormatError } from '../../src/run/run-folder.js';

test('invalidArg is a ConfigError whose issue carries path, expectation and value; its message is unchanged', () => {
  const e = invalidArg('split', 'a split string', 42);
  assert.ok(e instanceof ConfigError);
  assert.ok(e instanceof TypeError, 'callers that caught the TypeError still do');
  assert.equal(e.name, 'TypeError');
  assert.equal(e.message, 'Expected a split string for split but received number 42');
  assert.deepEqual(e.issues, [{ path: 'split', expected: 'a split string', received: 'number 42' }]);
});

test('a bad split is reported under the config path from the data layer\'s issue, not its message', () => {
  const { problems } = inspectRunConfig({ model: 'resnet20-cifar', data: { source: 'generated', split: 'train[:x]' } });
  const split = problems.find((p) => p.path === 'data.split');
  assert.ok(split, JSON.stringify(problems));
  assert.equal(split.message, `expected 'name', 'name[a:b]' with integer or percent bounds (e.g. 'train[:80%]'), received "train[:x]"`);
});

test('config problems share one class: plans, run folders of another format', () => {
  assert.ok(new RunPlanError([{ path: 'epochs', message: 'expected number >= 1, received number 0' }]) instanceof ConfigError);
  const format = new RunFolderFormatError('/runs/a', 3);
  assert.ok(format instanceof ConfigError);
  assert.equal(format.issues[0]?.received, 'format 3');
  assert.match(format.issues[0]!.expected, /^run folder format 1 to \d+$/);
});
