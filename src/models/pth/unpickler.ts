import { CheckpointError } from './checkpoint-error.js';
import type { RawTensor } from './raw-tensor.js';

/**
 * A pickle reader that builds plain data and never runs code: every GLOBAL is looked up in a
 * fixed allowlist (given by the caller) and anything else is rejected by name. Protocols 0–5 as
 * Python's pickler emits them for dicts, lists, tuples, numbers, strings and torch tensors.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint beyond 2^53),
 * float → number, str → string, bytes → Uint8Array, list/tuple → array, dict/OrderedDict → Map,
 * set → Set, tensor → RawTensor.
 */
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array | RawTensor
  | PickleValue[] | Map<PickleValue, PickleValue> | Set<PickleValue> | PyGlobal | PickleOpaque;

/** A class or function named by the pickle; only allowlisted names are ever created. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualname(): string { return `${this.module}.${this.name}`; }
}

/** Something an allowlisted global produced that is not plain data (e.g. a storage). */
export abstract class PickleOpaque {}

export interface UnpickleHooks {
  /** Returns the global for `module.name`, or undefined to reject it. */
  resolveGlobal(module: string, name: string): PyGlobal | undefined;
  /** Calls an allowlisted global (REDUCE / NEWOBJ). */
  call(fn: PyGlobal, args: PickleValue[]): PickleValue;
  persistentLoad(pid: PickleValue): PickleValue;
  /** BUILD: sets state on an object; throws when the object may not receive state. */
  build(target: PickleValue, state: PickleValue): void;
}

export interface UnpickleResult {
  value: PickleValue;
  /** Offset just past the STOP opcode, where the next pickle (if any) starts. */
  end: number;
}

/**
 * Bounds on what one pickle may make the reader do, each far above what torch.save writes: a state dict
 * takes ~24 opcodes per tensor, and Python's pickler nests MARKs only as deep as the data, which its
 * recursion limit (1000) keeps shallow. Without them a small file can hold the process for minutes or
 * exhaust memory (a flood of MARKs, millions of nested tuples).
 */
export interface PickleLimits {
  /** Opcodes executed (default 1,000,000, about 40,000 tensors; ABLATE_PICKLE_MAX_OPS raises it). */
  maxOps: number;
  /** Objects remembered in the memo (default 1,000,000). */
  maxMemo: number;
  /** MARKs open at once (default 1000). */
  maxMarkDepth: number;
  /** Values on the stack, all MARK levels together (default 1,000,000). */
  maxStack: number;
  /** Digits of a text integer (default 620, about the 256 bytes allowed for a binary one). */
  maxIntDigits: number;
}

export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = { maxOps: 1_000_000, maxMemo: 1_000_000, maxMarkDepth: 1000, maxStack: 1_000_000, maxIntDigits: 620 };

/** DEFAULT_PICKLE_LIMITS with ABLATE_PICKLE_MAX_OPS applied (read on each call, so tests and users may set it late). */
export function pickleLimits(): PickleLimits {
  const raw = process.env.ABLATE_PICKLE_MAX_OPS;
  if (raw === undefined || raw.trim() === '') return { ...DEFAULT_PICKLE_LIMITS };
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`Expected a positive whole number in ABLATE_PICKLE_MAX_OPS but received ${JSON.stringify(raw)}`);
  return { ...DEFAULT_PICKLE_LIMITS, maxOps: v };
}

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/** Python 2 pickles name builtins differently; torch.load maps them the same way. */
const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, start = 0, limits: PickleLimits = pickleLimits()): UnpickleResult {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let stack: Slot[] = [];
  const metastack: Slot[][] = [];
  const memo = new Map<number, PickleValue>();
  let opStart = pos;
  let op = 0;
  let ops = 0;
  // Values below the current MARK level; with stack.length, what the stack holds in all.
  let below = 0;

  const fail = (msg: string): never => {
    throw new CheckpointError(`Corrupt pickle at offset ${opStart} (opcode 0x${op.toString(16).padStart(2, '0')}): ${msg}`);
  };
  const take = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) {
      throw new CheckpointError(
        `Truncated pickle: expected ${n} more bytes at offset ${pos} but only ${bytes.length - pos} remain`);
    }
    const at = pos;
    pos += n;
    return at;
  };
  const chunk = (n: number): Uint8Array => {
    const at = take(n);
    return bytes.subarray(at, at + n);
  };
  const readLine = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) throw new CheckpointError(`Truncated pickle: expected a newline-terminated argument at offset ${pos}`);
    const s = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (stack.length === 0 || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const items = stack;
    if (metastack.length === 0) fail('no MARK to pop to');
    stack = metastack.pop()!;
    below -= stack.length;
    if (items.includes(MARK)) fail('nested MARK');
    return items as PickleValue[];
  };
  const mark = (): void => {
    if (metastack.length >= limits.maxMarkDepth) {
      fail(`more than ${limits.maxMarkDepth} MARKs open at once (Python's pickler nests them only as deep as the data, which its recursion limit keeps below that)`);
    }
    below += stack.length;
    metastack.push(stack);
    stack = [];
  };
  const push = (v: PickleValue): void => {
    if (below + stack.length >= limits.maxStack) fail(`more than ${limits.maxStack.toLocaleString('en')} values on the pickle stack (torch.save batches containers in 1000s)`);
    stack.push(v);
  };
  const memoSet = (i: number, v: PickleValue): void => {
    if (memo.size >= limits.maxMemo && !memo.has(i)) fail(`more than ${limits.maxMemo.toLocaleString('en')} memo entries`);
    memo.set(i, v);
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    return memo.get(i)!;
  };
  const intText = (s: string): number | bigint => {
    // BigInt() of a long decimal string takes quadratic time, and the message must stay short.
    if (s.length > limits.maxIntDigits + 1) fail(`integer of ${s.length.toLocaleString('en')} digits is larger than any checkpoint uses (at most ${limits.maxIntDigits})`);
    return parseIntText(s, fail);
  };
  const decodeLong = (at: number, n: number): number | bigint => {
    if (n === 0) return 0;
    // Torch needs at most 10 bytes (the legacy magic number); huge ones would only cost quadratic time.
    if (n > 256) fail(`integer of ${n.toLocaleString('en')} bytes is larger than any checkpoint uses (at most 256)`);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
    if (bytes[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return toNumberIfSafe(v);
  };
  const resolve = (module: string, name: string): PyGlobal => {
    const m = MODULE_ALIASES[module] ?? module;
    const g = hooks.resolveGlobal(m, name);
    if (!g) {
      throw new CheckpointError(
        `Refusing to load global ${m}.${name}: a checkpoint may only reference tensor, storage, dtype and ` +
        'container globals (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.FloatStorage, …). ' +
        'The file may contain a whole pickled model or malicious code; save model.state_dict() instead');
    }
    return g;
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof Map)) fail(`SETITEMS expects a dict but the target is ${typeName(target)}`);
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    const map = target as Map<PickleValue, PickleValue>;
    for (let i = 0; i < items.length; i += 2) map.set(items[i]!, items[i + 1]!);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target)) fail(`APPENDS expects a list but the target is ${typeName(target)}`);
    // A loop, not push(...items): spreading a million items overflows the JS call stack.
    const list = target as PickleValue[];
    for (const it of items) list.push(it);
  };
  const addItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof Set)) fail(`ADDITEMS expects a set but the target is ${typeName(target)}`);
    for (const it of items) (target as Set<PickleValue>).add(it);
  };
  const callable = (v: PickleValue, what: string): PyGlobal => {
    if (!(v instanceof PyGlobal)) fail(`${what} expects a global to call but received ${typeName(v)}`);
    return v as PyGlobal;
  };
  const argList = (v: PickleValue, what: string): PickleValue[] => {
    if (!Array.isArray(v)) fail(`${what} expects an argument tuple but received ${typeName(v)}`);
    return v as PickleValue[];
  };

  for (;;) {
    opStart = pos;
    op = bytes[take(1)]!;
    if (++ops > limits.maxOps) {
      fail(`more than ${limits.maxOps.toLocaleString('en')} opcodes, far more than a checkpoint needs (about 24 per tensor); if this file is genuine, raise ABLATE_PICKLE_MAX_OPS`);
    }
    switch (op) {
      case 0x80: take(1); break; // PROTO
      case 0x95: take(8); break; // FRAME: framing is only a read-ahead hint
      case 0x2e: { // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28: mark(); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break;
      case 0x89: push(false); break;
      case 0x49: { // INT (text); protocol 0 spells booleans I00/I01
        const s = readLine();
        if (s === '00') push(false);
        else if (s === '01') push(true);
        else push(intText(s));
        break;
      }
      case 0x4a: push(dv.getInt32(take(4), true)); break; // BININT
      case 0x4b: push(bytes[take(1)]!); break; // BININT1
      case 0x4d: push(dv.getUint16(take(2), true)); break; // BININT2
      case 0x4c: push(intText(readLine().replace(/L$/, ''))); break; // LONG (text)
      case 0x8a: { const n = bytes[take(1)]!; push(decodeLong(take(n), n)); break; } // LONG1
      case 0x8b: { // LONG4
        const n = dv.getInt32(take(4), true);
        if (n < 0) fail(`negative LONG4 length ${n}`);
        push(decodeLong(take(n), n));
        break;
      }
      case 0x46: { // FLOAT (text)
        const s = readLine();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) fail(`bad float literal ${quoteShort(s)}`);
        push(v);
        break;
      }
      case 0x47: push(dv.getFloat64(take(8), false)); break; // BINFLOAT (big-endian)
      // Python 2 str: torch.load decodes these as UTF-8, so do we.
      case 0x53: push(utf8.decode(unquote(readLine(), fail))); break; // STRING
      case 0x54: { const n = dv.getInt32(take(4), true); push(utf8.decode(chunk(n))); break; } // BINSTRING
      case 0x55: { const n = bytes[take(1)]!; push(utf8.decode(chunk(n))); break; } // SHORT_BINSTRING
      case 0x56: push(unescapeRawUnicode(readLine(), fail)); break; // UNICODE (text)
      case 0x58: { const n = dv.getUint32(take(4), true); push(utf8.decode(chunk(n))); break; } // BINUNICODE
      case 0x8c: { const n = bytes[take(1)]!; push(utf8.decode(chunk(n))); break; } // SHORT_BINUNICODE
      case 0x8d: { const n = safeU64(dv, take(8), fail); push(utf8.decode(chunk(n))); break; } // BINUNICODE8
      case 0x43: { const n = bytes[take(1)]!; push(chunk(n).slice()); break; } // SHORT_BINBYTES
      case 0x42: { const n = dv.getUint32(take(4), true); push(chunk(n).slice()); break; } // BINBYTES
      case 0x8e: case 0x96: { const n = safeU64(dv, take(8), fail); push(chunk(n).slice()); break; } // BINBYTES8, BYTEARRAY8
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x6c: push(popMark()); break; // LIST
      case 0x29: push([]); break; // EMPTY_TUPLE
      case 0x74: push(popMark()); break; // TUPLE
      case 0x85: { const a = pop(); push([a]); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push([a, b, c]); break; } // TUPLE3
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x64: { const m = new Map<PickleValue, PickleValue>(); setItems(m, popMark()); push(m); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); addItems(top(), items); break; } // ADDITEMS
      case 0x91: push(new Set(popMark())); break; // FROZENSET
      case 0x63: { const module = readLine(); const name = readLine(); push(resolve(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL expects two strings');
        push(resolve(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = argList(pop(), 'REDUCE');
        const fn = callable(pop(), 'REDUCE');
        push(hooks.call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = argList(pop(), 'NEWOBJ');
        push(hooks.call(callable(pop(), 'NEWOBJ'), args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = argList(pop(), 'NEWOBJ_EX');
        const cls = callable(pop(), 'NEWOBJ_EX');
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail(`NEWOBJ_EX with keyword arguments for ${cls.qualname}`);
        push(hooks.call(cls, args));
        break;
      }
      case 0x69: { // INST (protocol 0 instance creation)
        const module = readLine();
        const name = readLine();
        const cls = resolve(module, name);
        push(hooks.call(cls, popMark()));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        push(hooks.call(callable(items[0]!, 'OBJ'), items.slice(1)));
        break;
      }
      case 0x62: { const state = pop(); hooks.build(top(), state); break; } // BUILD
      case 0x70: memoSet(intText(readLine()) as number, top()); break; // PUT
      case 0x71: memoSet(bytes[take(1)]!, top()); break; // BINPUT
      case 0x72: memoSet(dv.getUint32(take(4), true), top()); break; // LONG_BINPUT
      case 0x94: memoSet(memo.size, top()); break; // MEMOIZE
      case 0x67: push(memoGet(intText(readLine()) as number)); break; // GET
      case 0x68: push(memoGet(bytes[take(1)]!)); break; // BINGET
      case 0x6a: push(memoGet(dv.getUint32(take(4), true))); break; // LONG_BINGET
      case 0x50: push(hooks.persistentLoad(readLine())); break; // PERSID
      case 0x51: push(hooks.persistentLoad(pop())); break; // BINPERSID
      default:
        fail(`unsupported pickle opcode (extension registry, out-of-band buffers and unknown opcodes are not allowed)`);
    }
  }
}

export function toNumberIfSafe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function typeName(v: PickleValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (Array.isArray(v)) return `tuple/list of length ${v.length}`;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyGlobal) return `global ${v.qualname}`;
  if (v instanceof PickleOpaque) return v.constructor.name;
  if (typeof v === 'object') return 'tensor';
  if (typeof v === 'number') return Number.isInteger(v) ? `int ${v}` : `float ${v}`;
  if (typeof v === 'bigint') {
    const digits = v.toString();
    return digits.length > 40 ? `int of ${digits.length} digits` : `int ${digits}`;
  }
  if (typeof v === 'string') return `str ${quoteShort(v)}`;
  return typeof v;
}

/** A string from the file quoted for a message, cut to 40 characters: it may be megabytes long. */
export function quoteShort(s: string): string {
  return s.length > 40 ? `${JSON.stringify(s.slice(0, 37))}… (${s.length.toLocaleString('en')} characters)` : JSON.stringify(s);
}

function parseIntText(s: string, fail: (m: string) => never): number | bigint {
  if (!/^[-+]?\d+$/.test(s)) fail(`bad integer literal ${quoteShort(s)}`);
  return toNumberIfSafe(BigInt(s));
}

function safeU64(dv: DataView, at: number, fail: (m: string) => never): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
  return Number(v);
}

/** Protocol-0 STRING arguments are Python repr()s: quoted, with backslash escapes. */
function unquote(s: string, fail: (m: string) => never): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail(`bad STRING literal ${quoteShort(s)}`);
  const body = s.slice(1, -1);
  const out: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, '0': 0 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { out.push(body.charCodeAt(i) & 0xff); continue; }
    const n = body[++i];
    if (n === 'x') { out.push(parseInt(body.slice(i + 1, i + 3), 16)); i += 2; }
    else if (n !== undefined && n in simple) out.push(simple[n]!);
    else fail(`unsupported escape in STRING literal ${quoteShort(s)}`);
  }
  return Uint8Array.from(out);
}

/** Protocol-0 UNICODE arguments use raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes. */
function unescapeRawUnicode(s: string, fail: (m: string) => never): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) => {
    const code = parseInt((a ?? b)!, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : fail(`code point 0x${code.toString(16)} out of range`);
  });
}
