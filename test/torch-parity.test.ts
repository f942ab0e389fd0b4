// Parity with PyTorch: a pre-norm transformer block (timm layout) built by
// tools/fixtures/transformer_block.py. Weights are loaded by their torch names; the forward output and the
// VJP for a fixed cotangent (input gradient and EVERY parameter gradient) must match torch to 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tensor, TransformerBlock, grad } from '../src/index.js';
import { assertClose } from './helpers/gradcheck.js';

interface Case { output: number[]; grad_input: number[]; grad_params: Record<string, number[]>; key_padding_mask?: number[] }
interface Fixture {
  config: { dim: number; num_heads: number; mlp_hidden: number; batch: number; tokens: number; eps: number };
  state_dict: Record<string, { shape: number[]; data: number[] }>;
  input: { shape: number[]; data: number[] };
  cotangent: number[];
  plain: Case;
  masked: Case;
}

const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/transformer_block.json', import.meta.url), 'utf8')) as Fixture;
const TOL = 1e-4;

function buildBlock(): TransformerBlock {
  const c = fx.config;
  const block = new TransformerBlock(c.dim, c.num_heads, { mlpRatio: c.mlp_hidden / c.dim, eps: c.eps, act: 'gelu' });
  const sd = block.stateDict();
  // The names must agree exactly: every torch tensor has a home and nothing of ours is left unloaded.
  assert.deepEqual([...sd.keys()], Object.keys(fx.state_dict), "parameter names and order as torch's state_dict");
  for (const [name, { shape, data }] of Object.entries(fx.state_dict)) {
    const v = sd.get(name)!;
    assert.deepEqual([...v.shape], shape, `shape of ${name}`);
    v.assignSync(Float32Array.from(data));
  }
  return block.eval();
}

async function check(which: 'plain' | 'masked'): Promise<void> {
  const block = buildBlock();
  const c = fx.config;
  const expected = fx[which];
  const x = new Tensor(fx.input.shape, 'float32', Float32Array.from(fx.input.data));
  const mask = expected.key_padding_mask ? new Tensor([c.batch, c.tokens], 'bool', Uint8Array.from(expected.key_padding_mask)) : undefined;
  const y = block.forward(x, { keyPaddingMask: mask });
  const names = Object.keys(expected.grad_params);
  const sd = block.stateDict();
  const cot = new Tensor(y.shape, 'float32', Float32Array.from(fx.cotangent));
  const grads = grad(y, [x, ...names.map((n) => sd.get(n)!)], cot);
  assertClose(await y.float32(), expected.output, TOL, TOL, `${which} output`);
  assertClose(await grads[0]!.float32(), expected.grad_input, TOL, TOL, `${which} grad of the input`);
  for (let i = 0; i < names.length; i++) assertClose(await grads[i + 1]!.float32(), expected.grad_params[names[i]!]!, TOL, TOL, `${which} grad of ${names[i]}`);
}

test('transformer block matches torch: output, input gradient and every parameter gradient', async () => {
  assert.equal(Object.keys(fx.plain.grad_params).length, Object.keys(fx.state_dict).length);
  await check('plain');
});

test('transformer block with a key-padding mask matches torch (masked_fill(-inf) reference)', async () => {
  await check('masked');
});
